package ddblocal_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/ddblocal"
)

// The AWS CLI (a different SDK, botocore) talks to ddblocal as to DynamoDB.
func TestAWSCLIRoundTrip(t *testing.T) {
	const cli = "/usr/bin/aws"
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("AWS CLI v2 not installed at %s", cli)
	}
	s, err := ddblocal.Start(ddblocal.Options{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := createFixture(context.Background(), client(t, s.URL)); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"dynamodb", "--endpoint-url", s.URL, "--output", "json"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none", "AWS_PAGER="}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("put-item", "--table-name", tSG, "--item", `{"PK":{"S":"run#9"},"SK":{"S":"audit#001"},"GSI1PK":{"S":"st#ok"},"GSI1SK":{"S":"t1"},"n":{"N":"1.50"}}`,
		"--condition-expression", "attribute_not_exists(PK)")
	run("put-item", "--table-name", tSG, "--item", `{"PK":{"S":"run#9"},"SK":{"S":"audit#002"},"GSI1PK":{"S":"st#ok"},"GSI1SK":{"S":"t2"}}`)
	var q struct {
		Items []map[string]map[string]string
		Count int
	}
	out := run("query", "--table-name", tSG, "--key-condition-expression", "PK = :p AND begins_with(SK, :s)",
		"--expression-attribute-values", `{":p":{"S":"run#9"},":s":{"S":"audit#"}}`, "--no-scan-index-forward")
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("query output %q: %v", out, err)
	}
	if q.Count != 2 || q.Items[0]["SK"]["S"] != "audit#002" || q.Items[1]["n"]["N"] != "1.5" {
		t.Errorf("query = %s; want audit#002 then audit#001 with n 1.5", out)
	}
	// The CLI pages by itself (--page-size 1) through LastEvaluatedKey on the index.
	out = run("query", "--table-name", tSG, "--index-name", "GSI1", "--key-condition-expression", "GSI1PK = :g",
		"--expression-attribute-values", `{":g":{"S":"st#ok"}}`, "--page-size", "1")
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("query output %q: %v", out, err)
	}
	if q.Count != 2 || q.Items[0]["GSI1SK"]["S"] != "t1" {
		t.Errorf("paged index query = %s; want t1, t2", out)
	}
	// A failed condition reaches the CLI as DynamoDB's error.
	cmd := exec.Command(cli, "dynamodb", "--endpoint-url", s.URL, "put-item", "--table-name", tSG, "--item", `{"PK":{"S":"run#9"},"SK":{"S":"audit#001"}}`,
		"--condition-expression", "attribute_not_exists(PK)")
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "ConditionalCheckFailedException") {
		t.Errorf("conditional put of an existing item: err %v, output %s; want ConditionalCheckFailedException", err, b)
	}
}
