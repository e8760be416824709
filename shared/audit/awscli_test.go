package audit

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The local table speaks the real DynamoDB protocol, so the AWS CLI v2 reads the trail
// with the same key conditions the docs show.
func TestAWSCLIQueriesLocalTable(t *testing.T) {
	const awsCLI = "/usr/bin/aws"
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skip("AWS CLI v2 not installed at /usr/bin/aws")
	}
	tbl := newTable(t)
	d := NewDynamo(testDB, tbl)
	seedTrail(t, d)
	home := t.TempDir()
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}
	tests := []struct {
		name      string
		args      []string
		wantTypes []string
	}{
		{"a pipeline's chain in order",
			[]string{"--key-condition-expression", "PK = :pk", "--expression-attribute-values", `{":pk":{"S":"PIPE#api"}}`},
			[]string{"run.started", "approval.decision", "approval.expired"}},
		{"one run through GSI1",
			[]string{"--index-name", "GSI1", "--key-condition-expression", "GSI1PK = :r", "--expression-attribute-values", `{":r":{"S":"RUN#r3"}}`},
			[]string{"run.started", "approval.decision", "approval.expired"}},
		{"runs of a pipeline newest first through GSI2",
			[]string{"--index-name", "GSI2", "--key-condition-expression", "GSI2PK = :p", "--expression-attribute-values", `{":p":{"S":"RUNS#web"}}`, "--no-scan-index-forward"},
			[]string{"run.started", "run.started"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"dynamodb", "query", "--endpoint-url", testServer.URL, "--table-name", tbl, "--output", "json"}, tc.args...)
			cmd := exec.Command(awsCLI, args...)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
			var res struct {
				Items []map[string]map[string]string
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("output: %v\n%s", err, out)
			}
			var got []string
			for _, it := range res.Items {
				got = append(got, it["type"]["S"])
				if len(it["hash"]["S"]) != 64 {
					t.Errorf("item without hash: %v", it)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantTypes, ",") {
				t.Errorf("got %v, want %v", got, tc.wantTypes)
			}
		})
	}
}
