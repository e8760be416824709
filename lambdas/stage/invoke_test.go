package stage_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// The state as the Stage task receives it (run + $.build), through aws-lambda-go's
// handler; the Build stage first runs on the same run so the keys in the event exist.
func TestInvokeWithSampleEvent(t *testing.T) {
	st := kittest.Start(t, false)
	repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": `build:
  commands: ["mkdir -p dist && echo hi > dist/app.txt"]
artifacts:
  - name: app
    paths: [dist/app.txt]
approval:
  approvers: [a@example.com]
deploy:
  commands: ["true"]
`})
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
	if b, err := bh.Handle(context.Background(), domain.State{Run: state.Run}); err != nil || b.WorkspaceKey != state.Build.WorkspaceKey {
		t.Fatalf("build: %+v %v; want the event's workspace key", b, err)
	}
	h, _ := stage.NewWith(st.Config(), st.Deps(), stage.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	var res domain.StageResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	want := "artifacts/demo/" + repo.Commits[0] + "/main-0123abcd-1732580000/manifest.json"
	if res.ManifestKey != want || !strings.HasPrefix(res.ManifestDigest, "sha256:") || len(res.Artifacts) != 1 || res.Artifacts[0].Path != "dist/app.txt" {
		t.Errorf("result %s, want manifest %s with dist/app.txt", out, want)
	}
}
