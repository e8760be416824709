package build_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// Through aws-lambda-go's handler, as the runtime and local mode invoke it: the sample
// event decodes into the state, the result encodes with the contract's JSON names, and a
// failure's Go type name is the error name Step Functions matches.
func TestInvokeThroughLambdaHandler(t *testing.T) {
	st := kittest.Start(t, false)
	cases := []struct {
		name     string
		build    string
		wantKeys []string
		wantErr  string
	}{
		{name: "success", build: `["echo ok"]`, wantKeys: []string{`"specKey":"runs/demo/main-0123abcd-1732580000/spec.json"`, `"workspaceKey":"workspaces/demo/main-0123abcd-1732580000.tar.gz"`, `"skipped":false`, `"approvalTimeoutSeconds":259200`}},
		{name: "failure", build: `["exit 9"]`, wantErr: "BuildFailed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": "build:\n  commands: " + tc.build + "\napproval:\n  approvers: [a@example.com]\ndeploy:\n  commands: [\"true\"]\n"})
			ev, err := os.ReadFile("testdata/event.json")
			if err != nil {
				t.Fatal(err)
			}
			payload := strings.NewReplacer("{{REPO}}", repo.Dir, "{{COMMIT}}", repo.Commits[0]).Replace(string(ev))
			h, err := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(payload))
			if tc.wantErr != "" {
				if err == nil || reflect.TypeOf(err).Elem().Name() != tc.wantErr {
					t.Fatalf("error = %T %v, want type %s", err, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.wantKeys {
				if !strings.Contains(string(out), k) {
					t.Errorf("output lacks %s: %s", k, out)
				}
			}
			var res domain.BuildResult
			if err := json.Unmarshal(out, &res); err != nil || res.LogKey == "" {
				t.Errorf("output does not decode as a BuildResult with a log key: %v %s", err, out)
			}
		})
	}
}
