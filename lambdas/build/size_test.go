package build_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkLambdaBinarySize builds the stage Lambdas as shipped (linux/arm64,
// lambda.norpc, stripped) and reports each binary's size. It measures a build, not a
// loop: run with -benchtime 1x.
func BenchmarkLambdaBinarySize(b *testing.B) {
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	for _, fn := range []string{"build", "test", "stage", "deploy", "notify"} {
		b.Run(fn, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "bootstrap")
			var size int64
			for b.Loop() {
				cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", out, "./lambdas/"+fn+"/cmd")
				cmd.Dir = root
				cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("build %s: %v\n%s", fn, err, msg)
				}
				st, err := os.Stat(out)
				if err != nil {
					b.Fatal(err)
				}
				size = st.Size()
			}
			b.ReportMetric(float64(size)/1e6, "MB")
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}
