package test_test

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/test"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// built runs the real Build stage on a repository whose spec has the given test section.
func built(t *testing.T, st *kittest.Stack, id, testSection string) domain.State {
	t.Helper()
	repo := kittest.NewRepo(t, map[string]string{
		"shipgate.yml": "build:\n  commands: [\"mkdir -p out && echo built > out/marker\"]\n" + testSection + `
approval:
  approvers: [alice@example.com]
deploy:
  commands: ["true"]
`,
		"fixtures/passing.xml": readFile(t, "testdata/passing.xml"),
		"fixtures/failing.xml": readFile(t, "testdata/failing.xml"),
		"fixtures/broken.xml":  "<testsuite><testcase",
	})
	bh, err := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	state := domain.State{Run: repo.Run(id)}
	b, err := bh.Handle(context.Background(), state)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	state.Build = &b
	return state
}

func TestTestStage(t *testing.T) {
	st := kittest.Start(t, false)
	cases := []struct {
		name      string
		section   string
		wantType  any
		wantMsg   []string
		want      domain.TestResult // counts and names only
		wantAudit []string
	}{
		{
			name: "passing tests with a report",
			section: `test:
  commands: ["test -f out/marker", "mkdir -p reports && cp fixtures/passing.xml reports/"]
  reports: ["reports/*.xml"]`,
			want:      domain.TestResult{Passed: 2},
			wantAudit: []string{"stage.started", "stage.finished:succeeded"},
		},
		{
			name: "failing tests: counts, names and exit code",
			section: `test:
  commands: ["mkdir -p reports && cp fixtures/failing.xml reports/ && echo FAIL calc >&2 && exit 1"]
  reports: ["reports/**/*.xml"]`,
			wantType:  &lambdaerr.TestsFailed{},
			wantMsg:   []string{"2 failed, 1 passed, 1 skipped", "calc.TestDivide", "example.com/app/db/TestConnect", "exited with code 1", "FAIL calc"},
			wantAudit: []string{"stage.started", "stage.finished:failed"},
		},
		{
			name: "report says failed though the command passed",
			section: `test:
  commands: ["mkdir -p reports && cp fixtures/failing.xml reports/"]
  reports: ["reports/*.xml"]`,
			wantType: &lambdaerr.TestsFailed{},
			wantMsg:  []string{"2 failed", "calc.TestDivide"},
		},
		{
			name: "broken report is named",
			section: `test:
  commands: ["mkdir -p reports && cp fixtures/broken.xml reports/"]
  reports: ["reports/*.xml"]`,
			wantType: &lambdaerr.TestsFailed{},
			wantMsg:  []string{"reports/broken.xml", "not well-formed"},
		},
		{
			name: "configured reports missing",
			section: `test:
  commands: ["true"]
  reports: ["reports/*.xml"]`,
			wantType: &lambdaerr.TestsFailed{},
			wantMsg:  []string{"no file matches test.reports"},
		},
		{
			name: "hanging tests time out",
			section: `test:
  commands: ["sleep 60"]
  timeout: 1s`,
			wantType:  &lambdaerr.StageTimedOut{},
			wantMsg:   []string{"test timed out", "sleep 60"},
			wantAudit: []string{"stage.started", "stage.finished:timed_out"},
		},
		{
			name:      "no test commands passes",
			section:   "",
			wantAudit: []string{"stage.started", "stage.finished:succeeded"},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := built(t, st, "run-"+string(rune('a'+i)), tc.section)
			aud := &kittest.Audit{}
			h, err := test.NewWith(st.Config(), st.Deps(), test.Options{Audit: aud, WorkDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Handle(context.Background(), state)
			if tc.wantType == nil {
				if err != nil {
					t.Fatalf("Handle error = %v, want success", err)
				}
				if out.Passed != tc.want.Passed || out.Failed != tc.want.Failed || out.Skipped != tc.want.Skipped {
					t.Errorf("counts = %d/%d/%d, want %d/%d/%d", out.Passed, out.Failed, out.Skipped, tc.want.Passed, tc.want.Failed, tc.want.Skipped)
				}
				for _, k := range out.ReportKeys {
					if _, err := artifact.New(st.S3, kittest.Bucket).ReadAll(context.Background(), k, 1<<20); err != nil {
						t.Errorf("report %s not stored: %v", k, err)
					}
				}
			} else {
				if reflect.TypeOf(err) != reflect.TypeOf(tc.wantType) {
					t.Fatalf("Handle error = %T %v, want %T", err, err, tc.wantType)
				}
				for _, m := range tc.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error lacks %q:\n%s", m, err)
					}
				}
			}
			if tc.wantAudit != nil {
				if got := aud.Types(); !reflect.DeepEqual(got, tc.wantAudit) {
					t.Errorf("audit = %v, want %v", got, tc.wantAudit)
				}
			}
		})
	}
}

func TestTestStageNeedsABuild(t *testing.T) {
	st := kittest.Start(t, false)
	h, _ := test.NewWith(st.Config(), st.Deps(), test.Options{Audit: &kittest.Audit{}})
	run := kittest.NewRepo(t, map[string]string{"a": "b"}).Run("r")
	_, err := h.Handle(context.Background(), domain.State{Run: run})
	if err == nil || !strings.Contains(err.Error(), "no build result") {
		t.Fatalf("error = %v, want one saying the build result is missing", err)
	}
}
