package stage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/lambdas/test"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/ddblocal"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
	"github.com/shipgate/shipgate/shared/s3local"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(stageChild())
	}
	if os.Getenv(s3ChildEnv) != "" {
		os.Exit(s3Child())
	}
	os.Exit(m.Run())
}

const s3ChildEnv = "SHIPGATE_STAGE_BENCH_S3_CHILD"

// s3Child serves the S3 stand-in from this process until stdin closes, so that a
// benchmark's CPU figures are the handlers' own, not the stand-in's.
func s3Child() int {
	srv, err := s3local.Start(s3local.Options{Buckets: []string{kittest.Bucket, kittest.Target}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(srv.URL)
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	return 0
}

// outOfProcessS3 starts the S3 stand-in in a child process and returns a stack whose
// S3 client points at it.
func outOfProcessS3(b *testing.B) *kittest.Stack {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), s3ChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("S3 child: %v", err)
	}
	ep := awsclient.Endpoints{S3: strings.TrimSpace(line)}
	cfg, err := awsclient.Load(context.Background(), ep)
	if err != nil {
		b.Fatal(err)
	}
	return &kittest.Stack{Endpoints: ep, S3: awsclient.S3(cfg, ep)}
}

// BenchmarkStageOverhead measures what each stage adds beyond the user's commands: the
// build, test and stage handlers on a small repository whose commands are `true`, against
// the local S3 stand-in, with the audit trail faked (S3 then runs in a child process, so
// self-cpu is the handler's own), on local mode's DynamoDB (shared/ddblocal) or on
// dynalite (S3 in process for both); and on local mode's DynamoDB with the workspaces in
// a tmpfs (`shipgate local --scratch /dev/shm`), where there is one.
func BenchmarkStageOverhead(b *testing.B) {
	for _, kind := range []string{"fake", "ddblocal", "dynalite", "ddblocal,scratch=tmpfs"} {
		auditKind, shm := strings.CutSuffix(kind, ",scratch=tmpfs")
		work := b.TempDir
		if shm {
			base := kittest.TmpfsDir(b)
			if base == "" {
				continue // /dev/shm is not a tmpfs here
			}
			work = func() string {
				dir, err := os.MkdirTemp(base, "work-")
				if err != nil {
					b.Fatal(err) // never measure /tmp under the tmpfs label
				}
				return dir
			}
		}
		st := kittest.Start(b, auditKind == "dynalite")
		var aud stagekit.Appender = &kittest.Audit{}
		switch auditKind {
		case "ddblocal":
			st = withLocalDynamo(b, st)
			aud = audit.NewDynamo(st.DynamoDB, kittest.Table)
		case "dynalite":
			aud = audit.NewDynamo(st.DynamoDB, kittest.Table)
		default:
			// S3 in a process of its own: self-cpu is then the handlers' alone.
			st = outOfProcessS3(b)
		}
		repo := kittest.NewRepo(b, map[string]string{
			"shipgate.yml": `build:
  commands: ["true"]
test:
  commands: ["true"]
artifacts:
  - name: app
    paths: [main.go]
approval:
  approvers: [alice@example.com]
deploy:
  commands: ["true"]
`, "main.go": "package main\n\nfunc main() {}\n", "README.md": strings.Repeat("docs\n", 200)})
		bh, _ := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: aud, WorkDir: work()})
		th, _ := test.NewWith(st.Config(), st.Deps(), test.Options{Audit: aud, WorkDir: work()})
		sh, _ := stage.NewWith(st.Config(), st.Deps(), stage.Options{Audit: aud, WorkDir: work()})
		ctx := context.Background()
		base := domain.State{Run: repo.Run("bench-base")}
		bres, err := bh.Handle(ctx, base)
		if err != nil {
			b.Fatal(err)
		}
		base.Build = &bres
		b.Run("audit="+kind+"/build", func(b *testing.B) {
			defer cpuPerOp(b)()
			for i := 0; b.Loop(); i++ {
				s := domain.State{Run: repo.Run(fmt.Sprintf("b-%s-%d", strings.ReplaceAll(kind, ",", "-"), i))}
				if _, err := bh.Handle(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("audit="+kind+"/test", func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				if _, err := th.Handle(ctx, base); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("audit="+kind+"/stage", func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				if _, err := sh.Handle(ctx, base); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withLocalDynamo adds local mode's DynamoDB, with shipgate's table, to st.
func withLocalDynamo(b *testing.B, st *kittest.Stack) *kittest.Stack {
	d, err := ddblocal.Start(ddblocal.Options{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	st.UseDynamo(b, d.URL)
	return st
}

// cpuPerOp reports CPU time per operation, of this process and of the processes it
// waited for (git, sh): wall time on a shared machine includes waiting for a core.
func cpuPerOp(b *testing.B) func() {
	var s0, c0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s0)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c0)
	return func() {
		var s1, c1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &s1)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c1)
		ms := func(a, b syscall.Rusage) float64 {
			return float64((b.Utime.Nano()+b.Stime.Nano())-(a.Utime.Nano()+a.Stime.Nano())) / 1e6
		}
		b.ReportMetric(ms(s0, s1)/float64(b.N), "self-cpu-ms/op")
		b.ReportMetric(ms(c0, c1)/float64(b.N), "child-cpu-ms/op")
	}
}

const (
	childEnv   = "SHIPGATE_STAGE_BENCH_CHILD"
	childS3Env = "SHIPGATE_STAGE_BENCH_S3"
)

// childResult is what the child process reports.
type childResult struct {
	MaxRSSKiB   int64  `json:"maxRssKiB"`
	HeapSysMiB  uint64 `json:"heapSysMiB"`
	ManifestKey string `json:"manifestKey"`
	Size        int64  `json:"size"`
}

// stageChild runs the Stage handler in this (fresh) process on the state given on stdin
// and prints its peak resident memory: measured in a process of its own so that the
// in-process S3 stand-in, which holds every object in memory, is not counted.
func stageChild() int {
	var state domain.State
	if err := json.NewDecoder(os.Stdin).Decode(&state); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	ep := awsclient.Endpoints{S3: os.Getenv(childS3Env)}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	h, err := stage.NewWith(app.Config{Bucket: kittest.Bucket, Pipeline: kittest.Pipeline, Table: kittest.Table},
		&app.Deps{S3: awsclient.S3(cfg, ep)}, stage.Options{Audit: &kittest.Audit{}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	startHWM, _ := vmHWM()
	out, err := h.Handle(ctx, state)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("SHIPGATE_STAGE_BENCH_DEBUG") != "" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(os.Stderr, "VmHWM before the handler %d KiB; after it: heap sys %d MiB, inuse %d MiB, stacks %d MiB, other sys %d MiB, GCs %d\n",
			startHWM, ms.HeapSys>>20, ms.HeapInuse>>20, ms.StackSys>>20, (ms.Sys-ms.HeapSys)>>20, ms.NumGC)
	}
	if p := os.Getenv("SHIPGATE_STAGE_BENCH_PROF"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	// VmHWM, not getrusage's maxrss: the latter keeps the high-water mark of the parent's
	// address space that the child shared until exec (Go forks with CLONE_VM), which here
	// is the S3 stand-in's objects.
	hwm, err := vmHWM()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var size int64
	for _, a := range out.Artifacts {
		size += a.Size
	}
	json.NewEncoder(os.Stdout).Encode(childResult{MaxRSSKiB: hwm, HeapSysMiB: ms.HeapSys >> 20, ManifestKey: out.ManifestKey, Size: size})
	return 0
}

// BenchmarkStage100MBPeakMemory stages one 100 MB artifact through the real Stage
// handler (workspace restore + streaming SHA-256 upload) in a child process and reports
// the child's peak RSS. The upload holds at most (concurrency+1) part buffers, so the
// peak does not grow with the artifact's size.
func BenchmarkStage100MBPeakMemory(b *testing.B) {
	size := 100 << 20
	if s := os.Getenv("SHIPGATE_BENCH_ARTIFACT_MB"); s != "" {
		fmt.Sscan(s, &size)
		size <<= 20
	}
	st := kittest.Start(b, false)
	repo := kittest.NewRepo(b, map[string]string{"shipgate.yml": fmt.Sprintf(`build:
  commands: ["head -c %d /dev/urandom > big.bin"]
artifacts:
  - name: big
    paths: [big.bin]
approval:
  approvers: [alice@example.com]
deploy:
  commands: ["true"]
`, size)})
	bh, _ := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: b.TempDir()})
	state := domain.State{Run: repo.Run("big")}
	bres, err := bh.Handle(context.Background(), state)
	if err != nil {
		b.Fatal(err)
	}
	state.Build = &bres
	in, _ := json.Marshal(state)
	var peak int64
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childS3Env+"="+st.Endpoints.S3, "TMPDIR="+b.TempDir())
		cmd.Stdin = strings.NewReader(string(in))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("child: %v", err)
		}
		var r childResult
		if err := json.Unmarshal(out, &r); err != nil {
			b.Fatalf("child said %q: %v", out, err)
		}
		if r.Size != int64(size) {
			b.Fatalf("staged %d bytes, want %d", r.Size, size)
		}
		peak = max(peak, r.MaxRSSKiB)
	}
	b.SetBytes(int64(size))
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(size>>20), "artifact-MiB")
}

// vmHWM is this process's peak resident set size in KiB, from /proc/self/status.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			var n int64
			_, err := fmt.Sscan(f[1], &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
