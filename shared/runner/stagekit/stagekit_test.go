package stagekit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
)

func TestFailure(t *testing.T) {
	long := strings.Repeat("x", 500)
	cases := []struct {
		name     string
		res      runner.Result
		wantKind domain.Kind // "" means no error
		wantMsg  []string
	}{
		{"success", runner.Result{}, "", nil},
		{"exit code", runner.Result{ExitCode: 2, Command: "make", Tail: "boom\n"}, domain.BuildFailed, []string{`command "make" exited with code 2`, "--- log tail ---\nboom"}},
		{"timeout wins over exit code", runner.Result{ExitCode: 137, TimedOut: true, Command: "sleep 9", Duration: 1500 * time.Millisecond}, domain.StageTimedOut, []string{"timed out after 1.5s", "sleep 9", "(no output)"}},
		{"long command clipped", runner.Result{ExitCode: 1, Command: long}, domain.BuildFailed, []string{strings.Repeat("x", 200) + "…"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := stagekit.Failure("build", tc.res, domain.BuildFailed)
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("Failure = %v, want nil", err)
				}
				return
			}
			if domain.KindOf(err) != tc.wantKind {
				t.Fatalf("kind = %s, want %s (%v)", domain.KindOf(err), tc.wantKind, err)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message lacks %q: %s", m, err)
				}
			}
		})
	}
}

func TestBudget(t *testing.T) {
	cases := []struct {
		name     string
		deadline time.Duration // 0: none
		want     time.Duration
		lo, hi   time.Duration
	}{
		{name: "no deadline keeps the spec's", want: 10 * time.Minute, lo: 10 * time.Minute, hi: 10 * time.Minute},
		{name: "leaves a minute before the Lambda deadline", deadline: 15 * time.Minute, want: 20 * time.Minute, lo: 13*time.Minute + 50*time.Second, hi: 14 * time.Minute},
		{name: "spec shorter than the deadline", deadline: 15 * time.Minute, want: time.Minute, lo: time.Minute, hi: time.Minute},
		{name: "nearly out of time takes half", deadline: 30 * time.Second, want: time.Hour, lo: 14 * time.Second, hi: 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			if got := stagekit.Budget(ctx, tc.want); got < tc.lo || got > tc.hi {
				t.Errorf("Budget = %s, want between %s and %s", got, tc.lo, tc.hi)
			}
		})
	}
}

func TestCheckRun(t *testing.T) {
	ok := domain.Run{ID: "main-1", Pipeline: "p", Push: domain.Push{Commit: strings.Repeat("a", 40)}}
	if err := stagekit.CheckRun(ok); err != nil {
		t.Errorf("CheckRun(valid) = %v", err)
	}
	bad := ok
	bad.ID = "../x"
	if err := stagekit.CheckRun(bad); err == nil || !strings.Contains(err.Error(), "run id") {
		t.Errorf("CheckRun(../x) = %v, want an error naming the run id", err)
	}
}

func TestClipKeepsRunesWhole(t *testing.T) {
	if got := stagekit.Clip("ééé", 3); got != "é…" {
		t.Errorf("Clip = %q, want %q", got, "é…")
	}
}

func TestPending(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name string
		err  error
	}{
		{"succeeds", nil},
		{"fails", boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			ran := false
			p := stagekit.Start(func() error { <-release; ran = true; return tc.err })
			close(release)
			for i := 0; i < 2; i++ { // Wait may be called again, with the same answer
				if got := p.Wait(); got != tc.err {
					t.Fatalf("Wait #%d = %v, want %v", i+1, got, tc.err)
				}
			}
			if !ran {
				t.Errorf("Wait returned before the step ran")
			}
		})
	}
}

func TestStoreNamesWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  app.Config
		deps *app.Deps
		want string
	}{
		{"no clients", app.Config{Bucket: "b"}, nil, "build: no S3 client"},
		{"no S3 client", app.Config{Bucket: "b"}, &app.Deps{}, "build: no S3 client"},
		{"no bucket", app.Config{}, &app.Deps{S3: s3.New(s3.Options{})}, "build: no bucket configured (SHIPGATE_BUCKET)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stagekit.Store("build", tc.cfg, tc.deps)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	st, err := stagekit.Store("build", app.Config{Bucket: "b"}, &app.Deps{S3: s3.New(s3.Options{})})
	if err != nil || st.Bucket() != "b" {
		t.Errorf("got %v, %v; want a store on bucket b", st, err)
	}
}
