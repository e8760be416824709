package lambdasize

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/infra/gobuild"
)

// build compiles pkg as shipped into a fresh directory and returns its size in bytes.
func build(t testing.TB, pkg string) int64 {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := gobuild.FindModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gobuild.Build(context.Background(), gobuild.Options{ModuleRoot: root, Package: pkg, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return res.Size
}

func name(pkg string) string { return path.Base(path.Dir(pkg)) }

// TestShippedBinariesWithinLimit builds all nine Lambdas as shipped and fails for each one
// over Limit; the sizes are logged (go test -v) for the report.
func TestShippedBinariesWithinLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nine linux/arm64 binaries; skipped with -short")
	}
	var report strings.Builder
	for _, pkg := range Lambdas {
		t.Run(name(pkg), func(t *testing.T) {
			got := build(t, pkg)
			fmt.Fprintf(&report, "  %-9s %10d bytes  %5.2f MB\n", name(pkg), got, float64(got)/1e6)
			if got > Limit {
				t.Errorf("%s: %d bytes (%.2f MB), want at most %d (%.0f MB): %d over", pkg, got, float64(got)/1e6, Limit, float64(Limit)/1e6, got-Limit)
			}
		})
	}
	t.Logf("shipped sizes (linux/arm64, lambda.norpc, -s -w, -trimpath):\n%s", report.String())
}

// BenchmarkShippedSize reports each Lambda's shipped size as a metric (MB and bytes) so
// `go test -bench` prints the figures next to the other performance targets.
func BenchmarkShippedSize(b *testing.B) {
	if testing.Short() {
		b.Skip("builds linux/arm64 binaries; skipped with -short")
	}
	for _, pkg := range Lambdas {
		b.Run(name(pkg), func(b *testing.B) {
			size := build(b, pkg)
			for b.Loop() {
			}
			b.ReportMetric(float64(size)/1e6, "MB")
			b.ReportMetric(float64(size), "bytes")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func TestLambdasListsEveryLambda(t *testing.T) {
	wd, _ := os.Getwd()
	root, err := gobuild.FindModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	mains, err := filepath.Glob(filepath.Join(root, "lambdas", "*", "cmd", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, p := range Lambdas {
		listed[name(p)] = true
	}
	for _, m := range mains {
		if n := filepath.Base(filepath.Dir(filepath.Dir(m))); !listed[n] {
			t.Errorf("lambdas/%s/cmd is not in Lambdas, so its size goes unchecked", n)
		}
	}
	if len(mains) != len(Lambdas) {
		t.Errorf("got %d Lambda mains under lambdas/*/cmd, Lambdas lists %d", len(mains), len(Lambdas))
	}
}
