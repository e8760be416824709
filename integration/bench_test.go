package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/asl"
	"github.com/shipgate/shipgate/shared/background"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// benchSpec has one `true`-like command per stage; the build and deploy commands stamp
// the time they start so the benchmarks can measure the orchestration around them.
func benchSpec(stamps string) string {
	return fmt.Sprintf(`branches: [main]
build:
  commands: ["date +%%s%%N > %[1]s/build.$SHIPGATE_COMMIT; mkdir -p dist; echo x > dist/a.txt"]
test:
  commands: ["true"]
artifacts:
  - name: a
    paths: ["dist/a.txt"]
approval:
  approvers: [lead@example.com]
  allow_self_approval: true
deploy:
  commands: ["date +%%s%%N > %[1]s/deploy.$SHIPGATE_COMMIT"]
`, stamps)
}

func readStamp(path string) (time.Time, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 10 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkLocalRun measures, per run of a trivial spec with a human who answers at once:
//   - push-to-build: from `git push` returning to the first build command starting;
//   - approve-to-deploy: from the approve POST (the email link's form) to the deploy
//     command starting, and to the Deploy handler being invoked;
//   - overhead: the run's wall time, from `git push` returning (the ref is updated: the
//     push exists) to the run's end, minus the user's commands (the same three run with
//     sh -c after the run's housekeeping, files where the workspaces are) and minus the
//     time the run
//     waited for the human (from the approval task being submitted, the mail out, to the
//     decision); overhead-with-push also counts the `git push` itself, which is git's own
//     work (no hook is installed) but is reported for completeness;
//   - housekeeping: from the run's end until the background work it left is done (its
//     used workspaces removed, the next ones made ahead: package background defers
//     that until no stage holds a workspace), in wall time, which includes the quiet
//     period it waits for, and in the process's CPU time. The loop waits for it before
//     measuring the commands and pushing again, so each push finds the machine idle,
//     as pushes do in use, and the commands are measured without it beside them, as
//     they run in the run. The back-to-back case does not wait: the next commit is made
//     (git add and commit, some 15 ms) and pushed as soon as the run before it has
//     ended, and the run shares the machine with whatever housekeeping is left.
//
// It runs with the handlers' AWS clients in process (local mode's default) and over
// the stand-ins' TCP endpoints, with the stages' workspaces in $TMPDIR (the default);
// and, where /dev/shm is a tmpfs, once more with them there (`shipgate local --scratch`),
// which shows how much of the overhead is a disk-backed /tmp's file operations.
func BenchmarkLocalRun(b *testing.B) {
	for _, tc := range []struct {
		name                     string
		overTCP, shm, backToBack bool
	}{
		{name: "clients=inproc"},
		{name: "clients=tcp", overTCP: true},
		{name: "clients=inproc,scratch=tmpfs", shm: true},
		{name: "clients=inproc,back-to-back", backToBack: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var scratch string
			if tc.shm {
				if scratch = kittest.TmpfsDir(b); scratch == "" {
					b.Skip("/dev/shm is not a tmpfs here")
				}
			}
			benchLocalRun(b, tc.overTCP, scratch, tc.backToBack)
		})
	}
}

// benchLocalRun runs the runs; backToBack pushes again as soon as a run has ended,
// with the housekeeping it left still to do beside the next run, and measures the
// commands before and after the runs instead of between them.
func benchLocalRun(b *testing.B, overTCP bool, scratch string, backToBack bool) {
	stamps := b.TempDir()
	var mu sync.Mutex
	deployStarted := map[string]time.Time{} // run -> Deploy handler invoked
	waiting := map[string]time.Time{}       // run -> the approval task submitted (mail out)
	// The run waiting for its approver is signalled, not polled for: a poll every few
	// milliseconds would take CPU from the run being measured.
	submitted := make(chan string, 8)
	w := newBenchWorld(b, benchSpec(stamps), overTCP, scratch, func(_, name string, ev asl.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Type == "TaskStateEntered" && ev.StateName == "Deploy":
			deployStarted[name] = time.Now()
		case ev.Type == "TaskSubmitted":
			waiting[name] = time.Now()
			select {
			case submitted <- name:
			default: // nobody is waiting: the benchmark has failed already
			}
		}
	})
	defer w.stack.Close()
	var pushToBuild, approveToDeploy, approveToHandler, overhead, withPush, userCmds, housekeeping []time.Duration
	ctx := context.Background()
	// The user's commands cost what running them with `sh -c` costs here, with their
	// files where the run's workspaces are: measured after every run once its
	// housekeeping is done, beside the runs (the machine's speed drifts), or, back to
	// back, five times before the runs and five after, with no housekeeping left; their
	// median is subtracted. (ns/op includes them.)
	baseDir := scratch
	if baseDir == "" {
		baseDir = b.TempDir()
	}
	if backToBack {
		settle(b, time.Now()) // the stack's first sets and stocks
		for range 5 {
			userCmds = append(userCmds, shOnce(b, stamps, baseDir))
		}
	}
	var houseCPU []time.Duration
	for i := 0; b.Loop(); i++ {
		w.write(map[string]string{"n.txt": strconv.Itoa(i)})
		w.git(w.work, "add", ".")
		w.git(w.work, "commit", "-q", "-m", "bench "+strconv.Itoa(i))
		commit := w.git(w.work, "rev-parse", "HEAD")
		start := time.Now()
		w.git(w.work, "push", "-q", "origin", "main")
		pushed := time.Now()
		run := runIDFor(w, commit)
		waitSubmitted(b, submitted, run)
		a, err := w.stack.Gate.ByRun(ctx, run)
		if err != nil {
			b.Fatalf("the approval of %s: %v", run, err)
		}
		link := w.approvalLink(commit, "lead@example.com")
		decided := time.Now()
		if code, body := postDecision(b, link, "approve", ""); code != http.StatusOK {
			b.Fatalf("POST approve: %d %s", code, body)
		}
		d := w.waitEnd(run)
		end, endCPU := time.Now(), cpuTime(b)
		if d.Status != "SUCCEEDED" {
			b.Fatalf("run %s: %s %s", run, d.Status, deref(d.Cause))
		}
		bs, ok1 := readStamp(filepath.Join(stamps, "build."+commit))
		ds, ok2 := readStamp(filepath.Join(stamps, "deploy."+commit))
		if !ok1 || !ok2 {
			b.Fatalf("stamps missing for %s", commit)
		}
		pushToBuild = append(pushToBuild, bs.Sub(pushed))
		approveToDeploy = append(approveToDeploy, ds.Sub(decided))
		mu.Lock()
		approveToHandler = append(approveToHandler, deployStarted[run].Sub(decided))
		requested := waiting[run]
		mu.Unlock()
		if requested.IsZero() || a == nil {
			b.Fatalf("run %s: no approval task was submitted", run)
		}
		wait := max(decided.Sub(requested), 0)
		if !backToBack {
			housekeeping = append(housekeeping, settle(b, end))
			houseCPU = append(houseCPU, cpuTime(b)-endCPU)
			userCmds = append(userCmds, shOnce(b, stamps, baseDir))
		}
		overhead = append(overhead, end.Sub(pushed)-wait)
		withPush = append(withPush, end.Sub(start)-wait)
	}
	if backToBack {
		settle(b, time.Now())
		for range 5 {
			userCmds = append(userCmds, shOnce(b, stamps, baseDir))
		}
	}
	b.ReportMetric(ms(p50(pushToBuild)), "ms-push-to-build-p50")
	b.ReportMetric(ms(p50(approveToDeploy)), "ms-approve-to-deploy-p50")
	b.ReportMetric(ms(p50(approveToHandler)), "ms-approve-to-deploy-handler-p50")
	// One sample of the commands per run is noisy: every run's wall time has the median
	// of all of them taken off.
	cmds := p50(userCmds)
	for i := range overhead {
		overhead[i] -= cmds
		withPush[i] -= cmds
	}
	b.ReportMetric(ms(p50(overhead)), "ms-overhead-p50")
	b.ReportMetric(ms(p50(withPush)), "ms-overhead-with-push-p50")
	b.ReportMetric(ms(p50(userCmds)), "ms-user-commands-p50")
	if !backToBack {
		b.ReportMetric(ms(p50(housekeeping)), "ms-housekeeping-p50")
		b.ReportMetric(ms(p50(houseCPU)), "ms-housekeeping-cpu-p50")
	}
}

// cpuTime is the CPU time this process has used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle waits for the background work under way to end, and returns how long after
// since it did.
func settle(b *testing.B, since time.Time) time.Duration {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); background.Pending() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("background work still pending 30 s after a run: %d", background.Pending())
		}
	}
	return time.Since(since)
}

// waitSubmitted waits for run's approval task to be submitted (its mail sent).
func waitSubmitted(b *testing.B, submitted <-chan string, run string) {
	b.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case name := <-submitted:
			if name == run {
				return
			}
		case <-timeout:
			b.Fatalf("run %s: no approval task submitted within 30 s", run)
		}
	}
}

// shOnce is the wall time of running the spec's three commands with sh -c (build, test,
// deploy), outside shipgate, the build's files in a fresh directory under dir as in a
// fresh workspace.
func shOnce(b *testing.B, stamps, dir string) time.Duration {
	ws, err := os.MkdirTemp(dir, "baseline-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(ws)
	cmds := []string{"date +%s%N > " + stamps + "/baseline; mkdir -p dist; echo x > dist/a.txt", "true", "date +%s%N > " + stamps + "/baseline"}
	start := time.Now()
	for _, c := range cmds {
		cmd := exec.Command("sh", "-c", c)
		cmd.Dir = ws
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("baseline %q: %v %s", c, err, out)
		}
	}
	return time.Since(start)
}

func newBenchWorld(b *testing.B, spec string, overTCP bool, scratch string, onEvent func(arn, name string, ev asl.Event)) *world {
	b.Helper()
	root := b.TempDir()
	w := &world{t: b, bare: filepath.Join(root, "app.git"), work: filepath.Join(root, "work"), data: filepath.Join(root, "data"), out: &syncBuffer{}, onEvent: onEvent, overTCP: overTCP, scratch: scratch}
	w.git(root, "init", "-q", "--bare", "-b", "main", w.bare)
	w.git(root, "init", "-q", "-b", "main", w.work)
	w.git(w.work, "remote", "add", "origin", w.bare)
	w.write(map[string]string{"shipgate.yml": spec})
	w.git(w.work, "add", ".")
	w.git(w.work, "commit", "-q", "-m", "initial")
	w.start()
	return w
}
