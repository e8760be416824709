package stack

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/shipgate/shipgate/infra/gobuild"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/workflow"
)

var (
	update  = flag.Bool("update", false, "rewrite shared/workflow/definition.asl.json from the synthesized state machine")
	keepOut = flag.Bool("keep-out", false, "keep the synthesized cloud assembly and print where it is")
)

// testConfig exercises every optional part: a CodeCommit repository (the push rule),
// approvers and notification addresses (filtered subscriptions), a deploy bucket.
var testConfig = Config{
	Repository:      "demo-repo",
	Branches:        []string{"main", "release/*"},
	Approvers:       []string{"alice@example.com", "bob@example.com"},
	NotifyEmails:    []string{"ops@example.com", "alice@example.com"},
	ApprovalTimeout: 72 * time.Hour,
	BuildMemoryMiB:  4096,
	BuildTimeout:    12 * time.Minute,
	PipelineName:    "shipgate",
	DeployBuckets:   []string{"demo-site-bucket"},
}

// synthesized is one synthesis shared by every test of the binary (a synth costs seconds).
type synthesized struct {
	stack     *ShipgateStack
	template  map[string]any
	metadata  map[string]any // construct path -> metadata entries
	nagReport [][]string     // rule, resource path, compliance, reason, level, info
	took      time.Duration  // define (incl. go build of the zip Lambdas) + synth + cdk-nag
	define    time.Duration  // NewShipgateStack alone
	// logical IDs
	fnIDs  map[workflow.Function]string
	outDir string
	err    error
}

var (
	synthOnce sync.Once
	synth     synthesized
)

func synthStack(t *testing.T) *synthesized {
	t.Helper()
	synthOnce.Do(func() { synth = doSynth() })
	if synth.err != nil {
		t.Fatalf("synth: %v", synth.err)
	}
	return &synth
}

func doSynth() (s synthesized) {
	root, err := gobuild.FindModuleRoot(".")
	if err != nil {
		return synthesized{err: err}
	}
	out, err := os.MkdirTemp("", "shipgate-cdk-out-")
	if err != nil {
		return synthesized{err: err}
	}
	buildDir := filepath.Join(out, "build")
	start := time.Now()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	st, err := NewShipgateStack(app, StackName(testConfig.PipelineName), &Props{
		Config: testConfig, ModuleRoot: root, BuildDir: buildDir,
	})
	if err != nil {
		return synthesized{err: err}
	}
	s.define = time.Since(start)
	AddNagChecks(app)
	app.Synth(nil)
	s.took = time.Since(start)
	s.outDir = out
	s.stack = st
	b, err := os.ReadFile(filepath.Join(out, StackName(testConfig.PipelineName)+".template.json"))
	if err != nil {
		return synthesized{err: err}
	}
	if err := json.Unmarshal(b, &s.template); err != nil {
		return synthesized{err: err}
	}
	// Construct metadata (where cdk-nag's findings land as error/warning entries) sits in
	// <stack>.metadata.json next to the template.
	b, err = os.ReadFile(filepath.Join(out, StackName(testConfig.PipelineName)+".metadata.json"))
	if err != nil {
		return synthesized{err: err}
	}
	if err := json.Unmarshal(b, &s.metadata); err != nil {
		return synthesized{err: err}
	}
	// cdk-nag's report lists every rule evaluated on every resource with its compliance.
	b, err = os.ReadFile(filepath.Join(out, "AwsSolutions--"+StackName(testConfig.PipelineName)+"-NagReport.csv"))
	if err != nil {
		return synthesized{err: err}
	}
	if s.nagReport, err = csv.NewReader(bytes.NewReader(b)).ReadAll(); err != nil {
		return synthesized{err: fmt.Errorf("nag report: %w", err)}
	}
	s.fnIDs = map[workflow.Function]string{}
	for _, f := range AllFunctions() {
		s.fnIDs[f] = *st.Stack.GetLogicalId(st.Functions.Function(f).Node().DefaultChild().(awscdk.CfnElement))
	}
	return s
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if synth.stack != nil {
		jsii.Close()
	}
	if synth.outDir != "" {
		if *keepOut {
			fmt.Fprintln(os.Stderr, "cloud assembly kept in", synth.outDir)
		} else {
			os.RemoveAll(synth.outDir)
		}
	}
	os.Exit(code)
}

// resources returns the template's resources of one type by logical ID.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.template["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// only returns the single resource of a type.
func (s *synthesized) only(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	rs := s.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for id, r := range rs {
		return id, r
	}
	return "", nil
}

// at walks a decoded JSON value by keys and indexes ("a", 0, "b").
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// definition returns the state machine's definition with function ARNs replaced by the
// workflow placeholders, as the golden file holds it.
func (s *synthesized) definition(t *testing.T) []byte {
	t.Helper()
	_, sm := s.only(t, "AWS::StepFunctions::StateMachine")
	ds := props(sm)["DefinitionString"]
	parts, ok := at(ds, "Fn::Join", 1).([]any)
	if !ok {
		t.Fatalf("DefinitionString is not an Fn::Join: %s", jsonString(ds))
	}
	byID := map[string]workflow.Function{}
	for f, id := range s.fnIDs {
		byID[id] = f
	}
	var b strings.Builder
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b.WriteString(v)
		case map[string]any:
			// Service integration ARNs carry the partition; the golden file is written
			// for the aws partition, which is also what local mode pretends to be.
			if jsonString(v) == `{"Ref":"AWS::Partition"}` {
				b.WriteString("aws")
				continue
			}
			ga, _ := v["Fn::GetAtt"].([]any)
			if len(ga) != 2 || ga[1] != "Arn" {
				t.Fatalf("definition part %s is not a function ARN", jsonString(v))
			}
			f, ok := byID[ga[0].(string)]
			if !ok {
				t.Fatalf("definition references %v, which is not a pipeline function", ga[0])
			}
			b.WriteString(workflow.Placeholder(f))
		default:
			t.Fatalf("unexpected definition part %T", p)
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(b.String()), "", "  "); err != nil {
		t.Fatalf("definition is not JSON: %v\n%s", err, b.String())
	}
	pretty.WriteByte('\n')
	return pretty.Bytes()
}

func goldenPath(t *testing.T) string {
	root, err := gobuild.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "shared", "workflow", "definition.asl.json")
}

// TestGoldenDefinition: the definition CDK synthesizes is byte for byte the file local
// mode embeds (shared/workflow.Definition). -update rewrites the file and reports whether
// the change is semantic.
func TestGoldenDefinition(t *testing.T) {
	s := synthStack(t)
	got := s.definition(t)
	path := goldenPath(t)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		var a, b any
		_ = json.Unmarshal(want, &a)
		_ = json.Unmarshal(got, &b)
		if !reflect.DeepEqual(a, b) {
			t.Logf("definition changed semantically:\n%s", strings.Join(diffJSON("", a, b), "\n"))
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, want) {
		var a, b any
		_ = json.Unmarshal(want, &a)
		_ = json.Unmarshal(got, &b)
		t.Fatalf("synthesized definition differs from %s (run go test ./infra/... -update):\n%s", path, strings.Join(diffJSON("", a, b), "\n"))
	}
	if !bytes.Equal(workflow.Definition, want) {
		t.Errorf("workflow.Definition (embedded) differs from %s: rebuild", path)
	}
	var wantPH []string
	for _, f := range workflow.StateFunctions() {
		wantPH = append(wantPH, workflow.Placeholder(f))
	}
	sort.Strings(wantPH)
	if ph := workflow.Placeholders(got); !reflect.DeepEqual(ph, wantPH) {
		t.Errorf("placeholders = %v, want %v (every state function, nothing else)", ph, wantPH)
	}
}

// diffJSON lists the paths where two decoded JSON values differ.
func diffJSON(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var keys []string
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, diffJSON(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	aa, aok := a.([]any)
	ba, bok := b.([]any)
	if aok && bok && len(aa) == len(ba) {
		var out []string
		for i := range aa {
			out = append(out, diffJSON(fmt.Sprintf("%s[%d]", path, i), aa[i], ba[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{fmt.Sprintf("%s: golden %s, synthesized %s", path, jsonString(a), jsonString(b))}
}

func TestKeyPrefixesMatchArtifactLayout(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"runs", prefixRuns, artifact.PrefixRuns},
		{"workspaces", prefixWorkspaces, artifact.PrefixWorkspaces},
		{"logs", prefixLogs, artifact.PrefixLogs},
		{"reports", prefixReports, artifact.PrefixReports},
		{"artifacts", prefixArtifacts, artifact.PrefixArtifacts},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s prefix = %q, want %q (shared/artifact)", tc.name, tc.got, tc.want)
		}
	}
}
