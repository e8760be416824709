package stage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/lambdas/test"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// Whatever a repository produces (megabytes of output, hundreds of failing tests with
// long names, many deeply nested artifacts), what travels between states stays small:
// results and error messages are summaries, far below Step Functions' 256 KiB.
func TestPayloadsStaySmall(t *testing.T) {
	st := kittest.Start(t, false)
	ctx := context.Background()
	long := strings.Repeat("n", 1000)
	var report strings.Builder
	report.WriteString("<testsuite name=\"s\">")
	for i := range 500 {
		fmt.Fprintf(&report, `<testcase classname="c%s" name="T%d"><failure/></testcase>`, long, i)
	}
	report.WriteString("</testsuite>")
	deep := strings.Repeat("d123456789/", 25) // 275-byte directory path
	repo := kittest.NewRepo(t, map[string]string{
		"shipgate.yml": `build:
  commands:
    - "head -c 5000000 /dev/zero | tr '\\0' 'x' | fold -w 100"
    - "for i in $(seq 1 50); do mkdir -p out/` + deep + `$i && echo $i > out/` + deep + `$i/file-$i.bin; done"
test:
  commands: ["mkdir -p reports && cp fixtures/report.xml reports/ && yes FAIL | head -c 3000000; exit 1"]
  reports: ["reports/*.xml"]
artifacts:
  - name: bins
    paths: ["out/**/*.bin"]
approval:
  approvers: [alice@example.com]
deploy:
  commands: ["true"]
`, "fixtures/report.xml": report.String()})
	aud := &kittest.Audit{}
	bh, _ := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: aud, WorkDir: t.TempDir()})
	th, _ := test.NewWith(st.Config(), st.Deps(), test.Options{Audit: aud, WorkDir: t.TempDir()})
	sh, _ := stage.NewWith(st.Config(), st.Deps(), stage.Options{Audit: aud, WorkDir: t.TempDir()})
	state := domain.State{Run: repo.Run("big-output")}
	b, err := bh.Handle(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	state.Build = &b
	_, testErr := th.Handle(ctx, state)
	if testErr == nil {
		t.Fatal("test stage passed, want TestsFailed")
	}
	s, err := sh.Handle(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	state.Stage = &s
	state.Error = &domain.StateError{Error: "TestsFailed", Cause: testErr.Error()}
	doc, _ := json.Marshal(state)
	cases := []struct {
		name  string
		bytes int
		limit int
	}{
		{"build result", mustLen(b), 8 << 10},
		{"stage result", mustLen(s), 32 << 10},
		{"TestsFailed message", len(testErr.Error()), 16 << 10},
		{"whole state", len(doc), 64 << 10},
	}
	for _, c := range cases {
		if c.bytes > c.limit {
			t.Errorf("%s is %d bytes, want at most %d", c.name, c.bytes, c.limit)
		}
	}
	if !strings.Contains(testErr.Error(), "500 failed") || !strings.Contains(testErr.Error(), "and 480 more") {
		t.Errorf("TestsFailed message lacks the counts: %.300s", testErr.Error())
	}
}

func mustLen(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}
