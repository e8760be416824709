package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("shipgate.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("shipgate.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// validateYAML checks a YAML document against the schema the way an editor's YAML
// language server does: as the JSON the YAML denotes.
func validateYAML(t *testing.T, sch *jsonschema.Schema, src string) error {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(src))
	if err != nil {
		t.Fatalf("YAMLToJSON: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("instance: %v", err)
	}
	return sch.Validate(inst)
}

// TestSchemaAgreesWithParser runs one table through both the JSON Schema and Parse.
// schemaBlind marks the rules a schema cannot state (they relate values to each other,
// or need more than a regular expression); there the schema must accept and Parse
// reject, so the list of differences is explicit and cannot grow unnoticed.
func TestSchemaAgreesWithParser(t *testing.T) {
	full, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		yaml        string
		valid       bool
		schemaBlind bool
	}{
		{"full", string(full), true, false},
		{"minimal", minimal, true, false},
		{"extension key", "x-anchors: {a: 1}\n" + minimal, true, false},
		{"env scalars", "env: {A: x, B: 1, C: true, D: 1.5}\n" + minimal, true, false},
		{"deploy target only", "artifacts: [{name: s, paths: [\"p/**\"]}]\napproval: {approvers: [a@example.com]}\ndeploy: {target: {s3: {bucket: b-1.example}}}\n", true, false},
		{"durations", "build: {commands: [x], timeout: 1m30s}\ntest: {commands: [y], timeout: 5s}\n" + minimal, true, false},

		{"typo", "test:\n  commands: [x]\n  timout: 10m\n" + minimal, false, false},
		{"unknown top-level key", minimal + "stages: []\n", false, false},
		{"camelCase key", "approval: {approvers: [a@example.com], allowSelfApproval: true}\ndeploy: {commands: [x]}\n", false, false},
		{"branches not a list", "branches: main\n" + minimal, false, false},
		{"number as branch", "branches: [1.10]\n" + minimal, false, false},
		{"empty branches", "branches: []\n" + minimal, false, false},
		{"refs/heads branch", "branches: [refs/heads/main]\n" + minimal, false, false},
		{"absolute glob", "paths: [/etc]\n" + minimal, false, false},
		{"trailing slash glob", "paths: [dist/]\n" + minimal, false, false},
		{"dotdot glob", "paths: [a/../b]\n" + minimal, false, false},
		{"dot glob", "paths: [./a]\n" + minimal, false, false},
		{"double star in segment", "paths: [a/**.go]\n" + minimal, false, false},
		{"bad duration unit", "build: {commands: [x], timeout: 3d}\n" + minimal, false, false},
		{"duration without unit", "build: {commands: [x], timeout: \"10\"}\n" + minimal, false, false},
		{"negative duration", "build: {commands: [x], timeout: -5m}\n" + minimal, false, false},
		{"duration as number", "approval: {approvers: [a@example.com], timeout: 10}\ndeploy: {commands: [x]}\n", false, false},
		{"empty command", "build: {commands: [\" \"]}\n" + minimal, false, false},
		{"empty command list", "build: {commands: []}\n" + minimal, false, false},
		{"approver not an email", "approval: {approvers: [bob]}\ndeploy: {commands: [x]}\n", false, false},
		{"same approver twice", "approval: {approvers: [a@example.com, a@example.com]}\ndeploy: {commands: [x]}\n", false, false},
		{"required zero", "approval: {approvers: [a@example.com], required: 0}\ndeploy: {commands: [x]}\n", false, false},
		{"required not a number", "approval: {approvers: [a@example.com], required: two}\ndeploy: {commands: [x]}\n", false, false},
		{"self approval not a bool", "approval: {approvers: [a@example.com], allow_self_approval: yes}\ndeploy: {commands: [x]}\n", false, false},
		{"no approvers", "approval: {required: 1}\ndeploy: {commands: [x]}\n", false, false},
		{"no approval", "deploy: {commands: [x]}\n", false, false},
		{"no deploy", "approval: {approvers: [a@example.com]}\n", false, false},
		{"deploy with nothing to do", "approval: {approvers: [a@example.com]}\ndeploy: {timeout: 5m}\n", false, false},
		{"target without s3", "approval: {approvers: [a@example.com]}\ndeploy: {target: {}}\n", false, false},
		{"bad bucket", "artifacts: [{name: a, paths: [x]}]\napproval: {approvers: [a@example.com]}\ndeploy: {target: {s3: {bucket: Bad_Bucket}}}\n", false, false},
		{"prefix with leading slash", "artifacts: [{name: a, paths: [x]}]\napproval: {approvers: [a@example.com]}\ndeploy: {target: {s3: {bucket: ok-bucket, prefix: /x}}}\n", false, false},
		{"artifact without paths", "artifacts: [{name: a}]\n" + minimal, false, false},
		{"bad artifact name", "artifacts: [{name: \"a b\", paths: [x]}]\n" + minimal, false, false},
		{"empty artifacts", "artifacts: []\n" + minimal, false, false},
		{"env reserved name", "env: {SHIPGATE_COMMIT: x}\n" + minimal, false, false},
		{"env bad name", "env: {1X: x}\n" + minimal, false, false},
		{"env null value", "env: {A: }\n" + minimal, false, false},
		{"env list value", "env: {A: [x]}\n" + minimal, false, false},
		{"not a mapping", "- x\n", false, false},

		{"required above approvers", "approval: {approvers: [a@example.com], required: 2}\ndeploy: {commands: [x]}\n", false, true},
		{"approvers differing in case", "approval: {approvers: [a@example.com, A@example.com]}\ndeploy: {commands: [x]}\n", false, true},
		{"duplicate artifact names", "artifacts: [{name: a, paths: [x]}, {name: a, paths: [y]}]\n" + minimal, false, true},
		{"step timeout too long", "build: {commands: [x], timeout: 20m}\n" + minimal, false, true},
		{"approval timeout too short", "approval: {approvers: [a@example.com], timeout: 30s}\ndeploy: {commands: [x]}\n", false, true},
		{"malformed bracket glob", "paths: [\"[a-\"]\n" + minimal, false, true},
		{"s3 target without artifacts", "approval: {approvers: [a@example.com]}\ndeploy: {target: {s3: {bucket: ok-bucket}}}\n", false, true},
	}
	sch := compileSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, perr := Parse(FileName, []byte(tt.yaml))
			serr := validateYAML(t, sch, tt.yaml)
			if gotValid := perr == nil; gotValid != tt.valid {
				t.Errorf("Parse: valid=%v, want %v (%v)", gotValid, tt.valid, perr)
			}
			wantSchemaValid := tt.valid || tt.schemaBlind
			if gotValid := serr == nil; gotValid != wantSchemaValid {
				t.Errorf("schema: valid=%v, want %v (%v)", gotValid, wantSchemaValid, serr)
			}
		})
	}
}

func TestSchemaDocument(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if got, want := doc["$schema"], "https://json-schema.org/draft/2020-12/schema"; got != want {
		t.Errorf("$schema: got %v want %v", got, want)
	}
	// Every key Parse knows at the top level is described, and no other.
	props, _ := doc["properties"].(map[string]any)
	for _, k := range []string{"branches", "paths", "env", "build", "test", "artifacts", "approval", "deploy"} {
		if _, ok := props[k]; !ok {
			t.Errorf("schema lacks top-level property %q", k)
		}
	}
	if len(props) != 8 {
		t.Errorf("schema has %d top-level properties, want 8", len(props))
	}
	// The expressions shared with the parser are literally the same.
	text := string(Schema())
	for name, re := range map[string]string{"duration": durationRE.String(), "email": emailRE.String(), "env name": envNameRE.String(), "artifact name": artifactNameRE.String(), "bucket": bucketRE.String()} {
		var q bytes.Buffer
		enc := json.NewEncoder(&q)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(re); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, strings.TrimSpace(q.String())) {
			t.Errorf("schema does not contain the parser's %s expression %s", name, q.String())
		}
	}
}

// The schema's own example is a valid spec for both the schema and Parse.
func TestSchemaExample(t *testing.T) {
	var doc struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(Schema(), &doc); err != nil || len(doc.Examples) == 0 {
		t.Fatalf("schema examples: %v (%d)", err, len(doc.Examples))
	}
	sch := compileSchema(t)
	for i, ex := range doc.Examples {
		// JSON is YAML, so the example goes through the same two doors as a spec file.
		if err := validateYAML(t, sch, string(ex)); err != nil {
			t.Errorf("example %d fails the schema: %v", i, err)
		}
		if _, err := Parse(FileName, ex); err != nil {
			t.Errorf("example %d fails Parse: %v", i, err)
		}
	}
}
