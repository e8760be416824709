package test_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/test"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// The state as the Test task receives it (run + $.build), through aws-lambda-go's
// handler; the Build stage first runs on the same run so the keys in the event exist.
func TestInvokeWithSampleEvent(t *testing.T) {
	st := kittest.Start(t, false)
	repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": `build:
  commands: ["true"]
test:
  commands: ["mkdir -p reports && cp fixtures/passing.xml reports/"]
  reports: ["reports/*.xml"]
approval:
  approvers: [a@example.com]
deploy:
  commands: ["true"]
`, "fixtures/passing.xml": readFile(t, "testdata/passing.xml")})
	ev, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.NewReplacer("{{REPO}}", repo.Dir, "{{COMMIT}}", repo.Commits[0]).Replace(string(ev))
	var state domain.State
	if err := json.Unmarshal([]byte(payload), &state); err != nil {
		t.Fatal(err)
	}
	bh, _ := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if _, err := bh.Handle(context.Background(), domain.State{Run: state.Run}); err != nil {
		t.Fatal(err)
	}
	h, _ := test.NewWith(st.Config(), st.Deps(), test.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"passed":2`, `"failed":0`, `"reportKeys":["reports/demo/main-0123abcd-1732580000/reports/passing.xml"]`, `"logKey":"logs/demo/main-0123abcd-1732580000/test.log"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("result lacks %s: %s", want, out)
		}
	}
}
