package build_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
	"github.com/shipgate/shipgate/shared/workspace"
)

// specWith returns a valid shipgate.yml whose build section is build.
func specWith(build string) string {
	return build + `
approval:
  approvers: [alice@example.com]
  timeout: 2h
deploy:
  commands: ["true"]
`
}

func TestBuildStage(t *testing.T) {
	st := kittest.Start(t, false)
	cases := []struct {
		name      string
		files     map[string]string
		run       func(r *kittest.Repo) domain.Run
		wantType  any // pointer to the lambdaerr type expected, nil for success
		wantMsg   []string
		skipped   bool
		wantAudit []string
		check     func(t *testing.T, out domain.BuildResult)
	}{
		{
			name: "builds and snapshots the workspace",
			files: map[string]string{"shipgate.yml": specWith(`build:
  commands:
    - mkdir -p dist && echo "app for $SHIPGATE_COMMIT" > dist/app.txt
    - echo built
`), "src/main.go": "package main\n"},
			wantAudit: []string{"stage.started", "stage.finished:succeeded"},
			check: func(t *testing.T, out domain.BuildResult) {
				if out.ApprovalTimeoutSeconds != 7200 || out.ExitCode != 0 || !strings.Contains(out.LogTail, "built") {
					t.Errorf("got %+v, want approval timeout 7200, exit 0, tail with 'built'", out)
				}
				store := artifact.New(st.S3, kittest.Bucket)
				log, err := store.ReadAll(context.Background(), out.LogKey, 1<<20)
				if err != nil || !strings.Contains(string(log), "$ echo built\nbuilt\n") {
					t.Errorf("log object %s = %q (err %v), want the commands and their output", out.LogKey, log, err)
				}
				dir := t.TempDir()
				if err := workspace.Restore(context.Background(), store, out.WorkspaceKey, dir); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(dir, "dist/app.txt"))
				if err != nil || !strings.HasPrefix(string(b), "app for ") {
					t.Errorf("restored dist/app.txt = %q, %v; want the build's output", b, err)
				}
				if _, err := store.ReadAll(context.Background(), out.SpecKey, 1<<20); err != nil {
					t.Errorf("spec not stored at %s: %v", out.SpecKey, err)
				}
			},
		},
		{
			name: "failing build reports exit code and log tail",
			files: map[string]string{"shipgate.yml": specWith(`build:
  commands: ['echo compiling; echo "main.go:3: undefined: x" >&2; exit 2', "echo never"]
`)},
			wantType:  &lambdaerr.BuildFailed{},
			wantMsg:   []string{"exited with code 2", "main.go:3: undefined: x", "--- log tail ---"},
			wantAudit: []string{"stage.started", "stage.finished:failed"},
		},
		{
			name: "hanging command is killed at the timeout",
			files: map[string]string{"shipgate.yml": specWith(`build:
  commands: ["echo waiting; sleep 60"]
  timeout: 1s
`)},
			wantType:  &lambdaerr.StageTimedOut{},
			wantMsg:   []string{"timed out", "sleep 60", "waiting"},
			wantAudit: []string{"stage.started", "stage.finished:timed_out"},
		},
		{
			name:      "missing spec",
			files:     map[string]string{"README": "no spec here\n"},
			wantType:  &lambdaerr.SpecMissing{},
			wantMsg:   []string{"shipgate.yml"},
			wantAudit: []string{"stage.started", "stage.finished:failed"},
		},
		{
			name:      "spec with a typo names the line",
			files:     map[string]string{"shipgate.yml": specWith("build:\n  comands: [make]\n")},
			wantType:  &lambdaerr.SpecInvalid{},
			wantMsg:   []string{"shipgate.yml:2", "comands"},
			wantAudit: []string{"stage.started", "stage.finished:failed"},
		},
		{
			name:      "branch filter skips the run",
			files:     map[string]string{"shipgate.yml": "branches: [release/*]\n" + specWith("build:\n  commands: [\"touch built\"]\n")},
			skipped:   true,
			wantAudit: []string{"stage.started", "push.skipped:skipped", "stage.finished:skipped"},
			check: func(t *testing.T, out domain.BuildResult) {
				if !strings.Contains(out.Reason, "main") || out.WorkspaceKey != "" || out.LogKey != "" {
					t.Errorf("got %+v, want a reason naming the branch and no build", out)
				}
			},
		},
		{
			name:  "unknown commit is SourceUnavailable",
			files: map[string]string{"shipgate.yml": specWith("build:\n  commands: [\"true\"]\n")},
			run: func(r *kittest.Repo) domain.Run {
				run := r.Run("run-missing")
				run.Push.Commit = strings.Repeat("1", 40)
				return run
			},
			wantType:  &lambdaerr.SourceUnavailable{},
			wantMsg:   []string{strings.Repeat("1", 40)},
			wantAudit: []string{"stage.started", "stage.finished:failed"},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := kittest.NewRepo(t, tc.files)
			run := repo.Run("run-" + string(rune('a'+i)))
			if tc.run != nil {
				run = tc.run(repo)
			}
			aud := &kittest.Audit{}
			h, err := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: aud, WorkDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			out, err := h.Handle(context.Background(), domain.State{Run: run})
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("Handle took %s", took)
			}
			if tc.wantType == nil {
				if err != nil {
					t.Fatalf("Handle error = %v, want success", err)
				}
			} else {
				if err == nil || reflect.TypeOf(err) != reflect.TypeOf(tc.wantType) {
					t.Fatalf("Handle error = %T %v, want %T", err, err, tc.wantType)
				}
				for _, m := range tc.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error message lacks %q:\n%s", m, err)
					}
				}
				if len(err.Error()) > 2*domain.LogTailBytes {
					t.Errorf("error message is %d bytes, want it bounded", len(err.Error()))
				}
			}
			if out.Skipped != tc.skipped {
				t.Errorf("Skipped = %v, want %v", out.Skipped, tc.skipped)
			}
			if got := aud.Types(); !reflect.DeepEqual(got, tc.wantAudit) {
				t.Errorf("audit records = %v, want %v", got, tc.wantAudit)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

// The changed-files path filter uses the diff between the push's Before and Commit.
func TestPathFilterUsesTheDiff(t *testing.T) {
	st := kittest.Start(t, false)
	repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": "paths: [\"src/**\"]\n" + specWith("build:\n  commands: [\"true\"]\n"), "src/a.go": "a"})
	repo.Commit(map[string]string{"docs/readme.md": "docs only"}, "docs")
	h, err := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Handle(context.Background(), domain.State{Run: repo.Run("docs-run")})
	if err != nil || !out.Skipped {
		t.Fatalf("docs-only push: got %+v, %v; want skipped", out, err)
	}
	repo.Commit(map[string]string{"src/a.go": "b"}, "code")
	out, err = h.Handle(context.Background(), domain.State{Run: repo.Run("code-run")})
	if err != nil || out.Skipped {
		t.Fatalf("code push: got %+v, %v; want built", out, err)
	}
}

// An audit trail that cannot be written fails the stage as Transient or Internal, never
// silently, and no build command runs before stage.started is recorded (the record is
// written while the commit is fetched).
func TestAuditFailureFailsTheStage(t *testing.T) {
	st := kittest.Start(t, false)
	stamp := filepath.Join(t.TempDir(), "ran")
	repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": specWith("build:\n  commands: [\"touch " + stamp + "\"]\n")})
	h, _ := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{Err: errors.New("table gone")}, WorkDir: t.TempDir()})
	_, err := h.Handle(context.Background(), domain.State{Run: repo.Run("r1")})
	var internal *lambdaerr.Internal
	if !errors.As(err, &internal) || !strings.Contains(err.Error(), "table gone") {
		t.Fatalf("error = %T %v, want Internal naming the cause", err, err)
	}
	if _, err := os.Stat(stamp); err == nil {
		t.Errorf("the build command ran although stage.started could not be recorded")
	}
}

// With the real audit store on dynalite, the stage's records land in the table.
func TestBuildWithRealAuditTrail(t *testing.T) {
	st := kittest.Start(t, true)
	repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": specWith("build:\n  commands: [\"echo ok\"]\n")})
	h, err := build.NewWith(st.Config(), st.Deps(), build.Options{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	run := repo.Run("run-audited")
	if _, err := h.Handle(context.Background(), domain.State{Run: run}); err != nil {
		t.Fatal(err)
	}
	page, err := audit.NewDynamo(st.DynamoDB, kittest.Table).Query(context.Background(), audit.Filter{Pipeline: kittest.Pipeline, Run: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range page.Records {
		types = append(types, string(e.Type)+":"+e.Outcome)
	}
	if want := []string{"stage.started:", "stage.finished:succeeded"}; !reflect.DeepEqual(types, want) {
		t.Errorf("records in the table = %v, want %v", types, want)
	}
}

// The deployment's approval timeout (CDK context approvalTimeout) applies when the spec
// names none; a spec's own timeout wins.
func TestApprovalTimeoutDefaultsToTheDeployment(t *testing.T) {
	st := kittest.Start(t, false)
	cfg := st.Config()
	cfg.ApprovalTimeout = 5 * time.Hour
	h, err := build.NewWith(cfg, st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	noTimeout := "build:\n  commands: [\"true\"]\napproval:\n  approvers: [alice@example.com]\ndeploy:\n  commands: [\"true\"]\n"
	for _, tc := range []struct {
		name, spec string
		want       int
	}{
		{"spec names none", noTimeout, 5 * 3600},
		{"spec names one", specWith("build:\n  commands: [\"true\"]\n"), 7200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": tc.spec})
			out, err := h.Handle(context.Background(), domain.State{Run: repo.Run("run-" + strings.ReplaceAll(tc.name, " ", "-"))})
			if err != nil {
				t.Fatal(err)
			}
			if out.ApprovalTimeoutSeconds != tc.want {
				t.Errorf("approvalTimeoutSeconds = %d, want %d", out.ApprovalTimeoutSeconds, tc.want)
			}
		})
	}
}
