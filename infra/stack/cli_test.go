package stack

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/infra/gobuild"
	"github.com/shipgate/shipgate/shared/workflow"
)

// TestCDKSynthCLI runs the pinned CDK CLI (node_modules/.bin/cdk, from package.json) on
// the app exactly as a user does, offline, and checks that the state machine it
// synthesizes is the golden one local mode runs. Skipped with -short (it compiles the
// app binary and every Lambda).
func TestCDKSynthCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI (slow); skipped with -short")
	}
	root, err := gobuild.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("pinned CDK CLI missing (%v): run npm ci", err)
	}
	out := t.TempDir()
	cmd := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--no-version-reporting", "--output", out,
		"-c", "repository=acme/webshop", "-c", "approvers=alice@example.com")
	cmd.Dir = root
	// No credentials and no network: synth must not need either.
	cmd.Env = append(os.Environ(), "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "CDK_DISABLE_VERSION_CHECK=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, stderr.String())
	}
	t.Logf("npx cdk synth took %v (includes go run ./infra and the Lambda builds)", time.Since(start).Round(time.Millisecond))

	b, err := os.ReadFile(filepath.Join(out, "Shipgate.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	cli := &synthesized{template: tpl, fnIDs: map[workflow.Function]string{}}
	for id, r := range tpl["Resources"].(map[string]any) {
		path, _ := at(r, "Metadata", "aws:cdk:path").(string)
		for _, f := range AllFunctions() {
			if path == "Shipgate/Functions/"+string(f)+"/Resource" {
				cli.fnIDs[f] = id
			}
		}
	}
	if len(cli.fnIDs) != len(AllFunctions()) {
		t.Fatalf("found functions %v in the CLI's template, want all %d", cli.fnIDs, len(AllFunctions()))
	}
	want, err := os.ReadFile(filepath.Join(root, "shared", "workflow", "definition.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cli.definition(t); !bytes.Equal(got, want) {
		t.Errorf("the CLI-synthesized definition differs from the golden file")
	}
	if n := len(cli.resources("AWS::SecretsManager::Secret")); n != 3 {
		t.Errorf("%d secrets for a GitHub repository, want 3 (webhook, link key, GitHub token)", n)
	}
	// GitHub mode: only Build reads the token, and it is told where.
	pathIDs := map[string]string{}
	for id, r := range tpl["Resources"].(map[string]any) {
		if path, ok := at(r, "Metadata", "aws:cdk:path").(string); ok {
			pathIDs[path] = id
		}
	}
	tokenID := pathIDs["Shipgate/Storage/GitHubToken/Resource"]
	if tokenID == "" {
		t.Fatalf("no GitHub token secret in a GitHub pipeline")
	}
	for _, f := range AllFunctions() {
		reads := false
		for _, st := range cli.roleStatements(pathIDs["Shipgate/Functions/"+string(f)+"Role/Resource"]) {
			if strings.Contains(strings.Join(st.resources, " "), tokenID) {
				reads = true
			}
		}
		if reads != (f == workflow.FnBuild) {
			t.Errorf("%s may read the GitHub token: %v, want %v", f, reads, f == workflow.FnBuild)
		}
	}
	env := jsonString(at(tpl, "Resources", cli.fnIDs[workflow.FnBuild], "Properties", "Environment", "Variables", workflow.EnvGitHubTokenSec))
	if env != `{"Ref":"`+tokenID+`"}` {
		t.Errorf("Build %s = %s, want the token secret", workflow.EnvGitHubTokenSec, env)
	}
	if strings.Contains(string(b), "AWS::Events::Rule") {
		t.Errorf("a GitHub pipeline has a CodeCommit event rule")
	}
}
