package runner_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner"
)

func TestRun(t *testing.T) {
	cases := []struct {
		name      string
		commands  []string
		timeout   time.Duration
		maxLog    int64
		wantCode  int
		wantCmd   string
		timedOut  bool
		truncated bool
		logHas    []string
		logHasNot []string
		tailHas   string
	}{
		{name: "all succeed", commands: []string{"echo one", "echo two >&2"}, logHas: []string{"$ echo one\none\n", "two\n"}, tailHas: "two"},
		{name: "stops at the first failure", commands: []string{"echo before", "echo boom; exit 3", "echo never"},
			wantCode: 3, wantCmd: "echo boom; exit 3", logHas: []string{"boom", "exited with code 3"}, logHasNot: []string{"never"}, tailHas: "boom"},
		{name: "killed by a signal", commands: []string{"kill -TERM $$"}, wantCode: 128 + int(syscall.SIGTERM), wantCmd: "kill -TERM $$"},
		{name: "timeout", commands: []string{"echo started", "sleep 30"}, timeout: 300 * time.Millisecond,
			wantCode: 128 + int(syscall.SIGKILL), wantCmd: "sleep 30", timedOut: true, logHas: []string{"started", "timed out"}},
		{name: "log capped, tail kept", commands: []string{"i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"}, maxLog: 1000,
			truncated: true, logHas: []string{"line-0\n", "log truncated at 1000"}, logHasNot: []string{"line-1999"}, tailHas: "line-1999"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			res, err := runner.Run(context.Background(), tc.commands, runner.Options{Dir: t.TempDir(), Timeout: tc.timeout, Output: &log, MaxLog: tc.maxLog})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.ExitCode != tc.wantCode || res.Command != tc.wantCmd || res.TimedOut != tc.timedOut || res.Truncated != tc.truncated {
				t.Errorf("got code %d command %q timedOut %v truncated %v, want %d %q %v %v",
					res.ExitCode, res.Command, res.TimedOut, res.Truncated, tc.wantCode, tc.wantCmd, tc.timedOut, tc.truncated)
			}
			for _, s := range tc.logHas {
				if !strings.Contains(log.String(), s) {
					t.Errorf("log lacks %q; log:\n%s", s, log.String())
				}
			}
			for _, s := range tc.logHasNot {
				if strings.Contains(log.String(), s) {
					t.Errorf("log has %q, want not", s)
				}
			}
			if !strings.Contains(res.Tail, tc.tailHas) || len(res.Tail) > domain.LogTailBytes {
				t.Errorf("tail (%d bytes) = %q, want it to contain %q within %d bytes", len(res.Tail), res.Tail, tc.tailHas, domain.LogTailBytes)
			}
		})
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell starts a background child and a grandchild, then hangs.
	cmd := `sleep 60 & echo $! > bg.pid; sh -c 'echo $$ > grand.pid; sleep 60' & sleep 60`
	start := time.Now()
	res, err := runner.Run(context.Background(), []string{cmd}, runner.Options{Dir: dir, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run returned after %s, want soon after the 500ms timeout", took)
	}
	if !res.TimedOut {
		t.Fatalf("TimedOut = false, want true (result %+v)", res)
	}
	for _, f := range []string{"bg.pid", "grand.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		deadline := time.Now().Add(2 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d from %s survived the stage timeout", pid, f)
		}
	}
}

func TestBackgroundChildDoesNotHoldTheStage(t *testing.T) {
	start := time.Now()
	res, err := runner.Run(context.Background(), []string{"sleep 60 &", "echo done"}, runner.Options{Dir: t.TempDir()})
	if err != nil || !res.OK() {
		t.Fatalf("Run = %+v, %v; want success", res, err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Run took %s: a background child kept the stage waiting", took)
	}
}

func TestEnvironmentIsBuiltFromScratch(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIALEAKED")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "leaked-secret")
	t.Setenv("AWS_SESSION_TOKEN", "leaked-token")
	t.Setenv("SHIPGATE_SIGNING_KEY_SECRET", "leaked-key-id")
	var log bytes.Buffer
	dir := t.TempDir()
	res, err := runner.Run(context.Background(), []string{"env"}, runner.Options{
		Dir:    dir,
		Env:    map[string]string{"GREETING": "hi", "SHIPGATE_STAGE": "spoofed"},
		Vars:   runner.Vars{RunID: "run-1", Commit: "abc", Branch: "main", Repo: "acme/app", Stage: "build"},
		Output: &log,
	})
	if err != nil || !res.OK() {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	got := log.String()
	for _, want := range []string{"GREETING=hi\n", "SHIPGATE_RUN_ID=run-1\n", "SHIPGATE_COMMIT=abc\n", "SHIPGATE_BRANCH=main\n",
		"SHIPGATE_REPO=acme/app\n", "SHIPGATE_STAGE=build\n", "HOME=" + dir + "\n", "PATH=" + runner.DefaultPath + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("env lacks %q", want)
		}
	}
	for _, leak := range []string{"AKIALEAKED", "leaked-secret", "leaked-token", "leaked-key-id", "spoofed"} {
		if strings.Contains(got, leak) {
			t.Errorf("env passed %q to the user command", leak)
		}
	}
}

func TestRunRefusesAMissingWorkspace(t *testing.T) {
	_, err := runner.Run(context.Background(), []string{"true"}, runner.Options{Dir: filepath.Join(t.TempDir(), "nope")})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Run(missing dir) error = %v, want one naming the workspace", err)
	}
}

func TestTailIsValidUTF8AndBounded(t *testing.T) {
	res, err := runner.Run(context.Background(), []string{`i=0; while [ $i -lt 3000 ]; do printf 'é'; i=$((i+1)); done`}, runner.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tail) > domain.LogTailBytes || strings.ContainsRune(res.Tail, '\uFFFD') || !strings.HasSuffix(res.Tail, "é") {
		t.Errorf("tail of %d bytes, want <= %d of whole runes ending in é", len(res.Tail), domain.LogTailBytes)
	}
}
