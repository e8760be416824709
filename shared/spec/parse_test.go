package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
)

// minimal is the smallest valid spec; cases append to it or replace parts of it.
const minimal = `approval:
  approvers: [alice@example.com]
deploy:
  commands: [./deploy.sh]
`

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(FileName, data)
	if err != nil {
		t.Fatalf("Parse(full.yml) error: %v", err)
	}
	no := false
	want := &Spec{
		Branches: []string{"main", "release/*"},
		Paths:    []string{"src/**", "go.mod"},
		Env:      map[string]string{"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "VERBOSE": "true"},
		Build:    Step{Commands: []string{"go build -o bin/app ./cmd/app"}, Timeout: Duration(5 * time.Minute)},
		Test: TestStep{
			Step:    Step{Commands: []string{"go test ./..."}, Timeout: Duration(90 * time.Second)},
			Reports: []string{"reports/*.xml"},
		},
		Artifacts: []Artifact{{Name: "app", Paths: []string{"bin/app"}}, {Name: "docs", Paths: []string{"docs/**/*.html"}}},
		Approval: Approval{
			Approvers: []string{"alice@example.com", "bob@example.com"},
			Required:  2, Timeout: Duration(48 * time.Hour), Supersede: &no,
		},
		Deploy: Deploy{
			Step:   Step{Commands: []string{"./deploy.sh"}, Timeout: Duration(10 * time.Minute)},
			Target: &Target{S3: &S3Target{Bucket: "my-releases", Prefix: "app/"}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("Parse(full.yml):\ngot  %s\nwant %s", g, w)
	}

	// The parsed spec travels between stages as JSON (BuildResult.SpecKey): it must
	// come back identical.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal own JSON: %v", err)
	}
	if !reflect.DeepEqual(&back, got) {
		t.Errorf("JSON round trip changed the spec:\ngot  %+v\nwant %+v", back, *got)
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, s *Spec)
	}{
		{"minimal", minimal, func(t *testing.T, s *Spec) {
			if s.Approval.RequiredApprovals() != 1 || s.Approval.ApprovalTimeout() != DefaultApprovalTimeout || !s.Approval.SupersedeOlder() {
				t.Errorf("defaults: got required %d timeout %v supersede %v", s.Approval.RequiredApprovals(), s.Approval.ApprovalTimeout(), s.Approval.SupersedeOlder())
			}
			if s.Build.TimeoutOr() != DefaultStepTimeout {
				t.Errorf("build timeout default: got %v want %v", s.Build.TimeoutOr(), DefaultStepTimeout)
			}
		}},
		{"deploy target only", "artifacts: [{name: site, paths: [\"public/**\"]}]\napproval: {approvers: [a@example.com]}\ndeploy:\n  target:\n    s3: {bucket: www.example.com}\n", func(t *testing.T, s *Spec) {
			if s.Deploy.Target == nil || s.Deploy.Target.S3.Bucket != "www.example.com" || len(s.Deploy.Commands) != 0 {
				t.Errorf("got deploy %+v", s.Deploy)
			}
		}},
		{"anchors, aliases and merge keys", "x-common: &common\n  timeout: 2m\nbuild:\n  <<: *common\n  commands: [make]\ntest:\n  <<: *common\n  timeout: 3m\n  commands: [make test]\n" + minimal, func(t *testing.T, s *Spec) {
			if s.Build.Timeout != Duration(2*time.Minute) || s.Test.Timeout != Duration(3*time.Minute) {
				t.Errorf("merge: got build timeout %v, test timeout %v; want 2m (merged), 3m (own key wins)", time.Duration(s.Build.Timeout), time.Duration(s.Test.Timeout))
			}
		}},
		{"block scalar command", "build:\n  commands:\n    - |\n      set -e\n      make\n" + minimal, func(t *testing.T, s *Spec) {
			if got, want := s.Build.Commands[0], "set -e\nmake\n"; got != want {
				t.Errorf("command: got %q want %q", got, want)
			}
		}},
		{"flow style", "{branches: [main], approval: {approvers: [a@example.com], required: 1}, deploy: {commands: [x]}}", func(t *testing.T, s *Spec) {
			if len(s.Branches) != 1 || s.Approval.Required != 1 {
				t.Errorf("got %+v", s)
			}
		}},
		{"comments and document marker", "# shipgate\n---\n" + minimal + "# end\n", nil},
		{"byte-order mark and CRLF line ends", "\xef\xbb\xbf" + strings.ReplaceAll(minimal, "\n", "\r\n"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(FileName, []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every problem line, in order
	}{
		{
			name: "typo names the line",
			yaml: "build:\n  commands: [make]\ntest:\n  commands: [make test]\n  timout: 10m\n" + minimal,
			want: []string{"shipgate.yml:5: test.timout: unknown key (did you mean timeout?)"},
		},
		{
			name: "camelCase key suggests the snake_case one",
			yaml: "approval:\n  approvers: [a@example.com]\n  allowSelfApproval: true\ndeploy: {commands: [x]}\n",
			want: []string{"shipgate.yml:3: approval.allowSelfApproval: unknown key (did you mean allow_self_approval?)"},
		},
		{
			name: "unknown top-level key lists the known ones",
			yaml: minimal + "stages: []\n",
			want: []string{"shipgate.yml:5: stages: unknown key (known keys: approval, artifacts, branches, build, deploy, env, paths, test)"},
		},
		{
			name: "wrong types",
			yaml: "branches: main\nenv: [A]\nbuild: make\n" + minimal,
			want: []string{
				"shipgate.yml:1: branches: expected a list, got a string (write [main] for a list of one)",
				"shipgate.yml:2: env: expected a mapping, got a list",
				"shipgate.yml:3: build: expected a mapping, got a string",
			},
		},
		{
			name: "number where a string is expected",
			yaml: "branches: [1.10]\n" + minimal,
			want: []string{`shipgate.yml:1: branches[0]: expected a string, got a number (quote it: "1.10")`},
		},
		{
			name: "bad durations",
			yaml: "build:\n  commands: [make]\n  timeout: 3d\ntest:\n  commands: [t]\n  timeout: 20m\n  reports: [r.xml]\napproval:\n  approvers: [a@example.com]\n  timeout: 10\ndeploy: {commands: [x], timeout: 0s}\n",
			want: []string{
				`shipgate.yml:3: build.timeout: "3d" is not a duration (use a number with a unit: s, m or h, e.g. "10m" or "1h30m")`,
				`shipgate.yml:6: test.timeout: "20m" is out of range: must be between 1s and 14m`,
				`shipgate.yml:10: approval.timeout: expected a string, got a number (quote it: "10")`,
				`shipgate.yml:11: deploy.timeout: "0s" is out of range: must be between 1s and 14m`,
			},
		},
		{
			name: "bad globs",
			yaml: "paths: [\"/abs\", \"src/**.go\", \"[a-\", \"dist/\", \"../up\"]\nbranches: [refs/heads/main]\n" + minimal,
			want: []string{
				`shipgate.yml:1: paths[0]: bad glob "/abs": must be relative to the repository root (no leading /)`,
				`shipgate.yml:1: paths[1]: bad glob "src/**.go": ** must be a whole path segment (like src/**/*.go)`,
				`shipgate.yml:1: paths[2]: bad glob "[a-": malformed pattern (unclosed [ or trailing \)`,
				`shipgate.yml:1: paths[3]: bad glob "dist/": ends with / (write dist/** to match everything under it)`,
				`shipgate.yml:1: paths[4]: bad glob "../up": ".." segments are not allowed; paths are relative to the repository root`,
				`shipgate.yml:2: branches[0]: write the branch name without refs/heads/ (e.g. main)`,
			},
		},
		{
			name: "empty commands",
			yaml: "build:\n  commands: []\ntest:\n  commands: [\"  \"]\n" + minimal,
			want: []string{
				"shipgate.yml:2: build.commands: empty list (remove the key, or add an entry)",
				"shipgate.yml:4: test.commands[0]: empty command",
			},
		},
		{
			name: "approvers",
			yaml: "approval:\n  approvers: [bob, alice@example.com, Alice@Example.com]\n  required: 4\n  allow_self_approval: yes\ndeploy: {commands: [x]}\n",
			want: []string{
				`shipgate.yml:2: approval.approvers[0]: "bob" is not an email address`,
				`shipgate.yml:2: approval.approvers[2]: duplicate approver "Alice@Example.com" (also approval.approvers[1])`,
				`shipgate.yml:3: approval.required: 4 approvals required but only 3 approvers listed`,
				`shipgate.yml:4: approval.allow_self_approval: expected true or false, got a string`,
			},
		},
		{
			name: "required must be positive",
			yaml: "approval:\n  approvers: [a@example.com]\n  required: 0\ndeploy: {commands: [x]}\n",
			want: []string{"shipgate.yml:3: approval.required: must be at least 1, got 0"},
		},
		{
			name: "missing sections",
			yaml: "build:\n  commands: [make]\n",
			want: []string{
				"shipgate.yml:1: approval: missing: every run waits for a person to approve it (approval: {approvers: [you@example.com]})",
				"shipgate.yml:1: deploy: missing: what runs once a run is approved (deploy: {commands: [...]} and/or target)",
			},
		},
		{
			name: "missing required keys inside sections",
			yaml: "artifacts:\n  - name: app\n  - paths: [bin/*]\napproval:\n  required: 1\ndeploy:\n  timeout: 5m\n",
			want: []string{
				"shipgate.yml:2: artifacts[0].paths: missing",
				"shipgate.yml:3: artifacts[1].name: missing",
				"shipgate.yml:4: approval.approvers: missing: list the emails of the people who may approve",
				"shipgate.yml:6: deploy: needs commands, a target, or both",
			},
		},
		{
			name: "artifacts names",
			yaml: "artifacts:\n  - {name: app, paths: [a]}\n  - {name: app, paths: [b]}\n  - {name: \"my app\", paths: [c]}\n" + minimal,
			want: []string{
				`shipgate.yml:3: artifacts[1].name: duplicate artifact name "app" (also artifacts[0].name)`,
				`shipgate.yml:4: artifacts[2].name: "my app" is not a valid artifact name (1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)`,
			},
		},
		{
			name: "env names and values",
			yaml: "env:\n  1BAD: x\n  SHIPGATE_RUN_ID: y\n  EMPTY:\n  OK: fine\n" + minimal,
			want: []string{
				"shipgate.yml:2: env.1BAD: not a valid environment variable name (letters, digits and _, not starting with a digit)",
				"shipgate.yml:3: env.SHIPGATE_RUN_ID: names starting with SHIPGATE_ are set by shipgate itself",
				`shipgate.yml:4: env.EMPTY: no value (write EMPTY: "" for an empty string)`,
			},
		},
		{
			name: "deploy target",
			yaml: "approval: {approvers: [a@example.com]}\ndeploy:\n  target:\n    s3: {bucket: My_Bucket, prefix: /x}\n",
			want: []string{
				`shipgate.yml:2: deploy.target.s3: nothing to copy: declare the files to deploy under artifacts`,
				`shipgate.yml:4: deploy.target.s3.bucket: "My_Bucket" is not an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')`,
				`shipgate.yml:4: deploy.target.s3.prefix: "/x": an S3 key prefix does not start with / or contain //`,
			},
		},
		{
			name: "tabs",
			yaml: "build:\n\tcommands: [make]\n",
			want: []string{"shipgate.yml:2: invalid YAML: found character '\t' that cannot start any token (indent with spaces, not tabs)"},
		},
		{
			name: "duplicate key",
			yaml: minimal + "approval:\n  approvers: [b@example.com]\n",
			want: []string{`shipgate.yml:5: invalid YAML: mapping key "approval" already defined at [1:1]`},
		},
		{
			name: "empty file",
			yaml: "# nothing here\n",
			want: []string{"shipgate.yml:1: the spec is empty; it needs at least approval and deploy"},
		},
		{
			name: "not a mapping",
			yaml: "- build\n",
			want: []string{"shipgate.yml:1: expected a mapping, got a list"},
		},
		{
			name: "two documents",
			yaml: minimal + "---\n" + minimal,
			want: []string{"shipgate.yml:6: a spec is one YAML document; remove the extra document (---)"},
		},
		{
			name: "undefined alias",
			yaml: "build: *nothing\n" + minimal,
			want: []string{"shipgate.yml:1: build: expected a mapping, got an undefined alias"},
		},
		{
			name: "colon in an unquoted command",
			yaml: "build:\n  commands:\n    - echo status: ok\n" + minimal,
			want: []string{`shipgate.yml:3: build.commands[0]: expected a string, got a mapping (a ": " in an unquoted value starts a mapping; quote the value)`},
		},
		{
			name: "mapping merged into itself",
			yaml: "approval: &a\n  approvers: [a@example.com]\n  <<: *a\ndeploy: {commands: [x]}\n",
			want: []string{"shipgate.yml:3: approval.<<: merges a mapping into itself"},
		},
		{
			name: "too many lines",
			yaml: minimal + strings.Repeat("#\n", MaxLines),
			want: []string{"shipgate.yml:5001: the file has 5005 lines; at most 5000 are allowed"},
		},
		{
			name: "too many keys",
			yaml: minimal + "env: {" + strings.Repeat("A: 1, ", MaxColons) + "}\n",
			want: []string{"shipgate.yml:1: the file has 2005 ':' characters; at most 2000 are allowed"},
		},
		{
			name: "brackets nested too deep",
			yaml: minimal + "branches:\n  " + strings.Repeat("[", MaxFlowDepth+1),
			want: []string{"shipgate.yml:6: brackets nest deeper than 64 levels"},
		},
		{
			name: "too large",
			yaml: minimal + "# " + strings.Repeat("x", MaxSize) + "\n",
			want: []string{fmt.Sprintf("shipgate.yml:1: file is %d bytes; at most 262144 are allowed", len(minimal)+MaxSize+3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(FileName, []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want problems %q", s, tt.want)
			}
			if s != nil {
				t.Errorf("Parse returned a spec along with an error")
			}
			if k := domain.KindOf(err); k != domain.SpecInvalid {
				t.Errorf("kind: got %s want %s", k, domain.SpecInvalid)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("message:\ngot\n%s\nwant\n%s", got, want)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("errors.As(*InvalidError) failed for %T", err)
			}
			if len(ie.Problems) != len(tt.want) {
				t.Errorf("problems: got %d want %d", len(ie.Problems), len(tt.want))
			}
		})
	}
}

func TestParseManyProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimal)
	for i := 0; i < MaxProblems+7; i++ {
		b.WriteString("unknown" + strings.Repeat("x", i) + ": 1\n")
	}
	_, err := Parse(FileName, []byte(b.String()))
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want *InvalidError", err)
	}
	if len(ie.Problems) != MaxProblems || ie.More != 7 {
		t.Errorf("got %d problems and %d more; want %d and 7", len(ie.Problems), ie.More, MaxProblems)
	}
	if !strings.HasSuffix(err.Error(), "... and 7 more problems") {
		t.Errorf("message does not end with the count of the rest: %q", err.Error()[len(err.Error())-60:])
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string)
		wantKind domain.Kind // "" means success
		wantMsg  string
	}{
		{"present", func(t *testing.T, dir string) { write(t, filepath.Join(dir, FileName), minimal) }, "", ""},
		{"missing", func(t *testing.T, dir string) {}, domain.SpecMissing, "no shipgate.yml at the repository root"},
		{"wrong extension", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "shipgate.yaml"), minimal) },
			domain.SpecMissing, "no shipgate.yml at the repository root (found shipgate.yaml; the file must be named shipgate.yml)"},
		{"symlink out of the repository", func(t *testing.T, dir string) {
			outside := filepath.Join(t.TempDir(), "secret")
			write(t, outside, minimal)
			if err := os.Symlink(outside, filepath.Join(dir, FileName)); err != nil {
				t.Fatal(err)
			}
		}, domain.SpecInvalid, "shipgate.yml must be a regular file at the repository root, not a symlink or directory"},
		{"directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, FileName), 0o755); err != nil {
				t.Fatal(err)
			}
		}, domain.SpecInvalid, "shipgate.yml must be a regular file at the repository root, not a symlink or directory"},
		{"too large", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, FileName), minimal+"#"+strings.Repeat("x", MaxSize))
		}, domain.SpecInvalid, fmt.Sprintf("shipgate.yml is %d bytes; at most 262144 are allowed", len(minimal)+MaxSize+1)},
		{"invalid", func(t *testing.T, dir string) { write(t, filepath.Join(dir, FileName), "deploy: {}\n") },
			domain.SpecInvalid, "shipgate.yml:1: deploy: needs commands, a target, or both\nshipgate.yml:1: approval: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			s, err := Load(dir)
			if tt.wantKind == "" {
				if err != nil || s == nil {
					t.Fatalf("Load: got %v, want a spec", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded; want %s", tt.wantKind)
			}
			if k := domain.KindOf(err); k != tt.wantKind {
				t.Errorf("kind: got %s want %s (%v)", k, tt.wantKind, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Errorf("message: got %q, want it to start with %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(FileName, data); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse: whatever the bytes, Parse returns a spec or a SpecInvalid error listing at
// least one problem with a line, and never panics or hangs.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(full), minimal, "", "a: &a\n  <<: *a\n", "- [", "build: {commands: [\"x\"]}", "x-a: &a [*a]\n" + minimal} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s *Spec
		var err error
		done := make(chan struct{})
		go func() { s, err = Parse(FileName, data); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse hangs on %q", data)
		}
		if err == nil {
			if s == nil {
				t.Fatal("nil spec and nil error")
			}
			return
		}
		var ie *InvalidError
		if !errors.As(err, &ie) || domain.KindOf(err) != domain.SpecInvalid || len(ie.Problems) == 0 {
			t.Fatalf("error is not a SpecInvalid list of problems: %T %v", err, err)
		}
		for _, p := range ie.Problems {
			if p.Line < 1 || p.Message == "" {
				t.Fatalf("problem without a line or message: %+v", p)
			}
		}
	})
}

// BenchmarkParseWorstCase measures the slowest inputs the limits still admit, so the
// cost of a hostile spec is a known figure rather than the YAML parser's worst case.
func BenchmarkParseWorstCase(b *testing.B) {
	keys := func() string {
		var s strings.Builder
		s.WriteString("env:\n")
		for i := 0; i < MaxColons-10; i++ {
			fmt.Fprintf(&s, "  K%d: v\n", i)
		}
		return s.String()
	}
	cases := map[string]string{
		"keys":     keys() + minimal,
		"lines":    "branches:\n" + strings.Repeat("  - x\n", MaxLines-10) + minimal,
		"brackets": minimal + strings.Repeat("x-a: "+strings.Repeat("[", MaxFlowDepth)+strings.Repeat("]", MaxFlowDepth)+"\n", 1),
		"nesting":  minimal + "x-a: " + strings.Repeat("[", MaxFlowDepth) + "\n",
		"size":     minimal + "x-a: " + strings.Repeat("x", MaxSize-len(minimal)-10) + "\n",
	}
	for name, in := range cases {
		b.Run(name, func(b *testing.B) {
			data := []byte(in)
			if len(data) > MaxSize {
				b.Fatalf("case is %d bytes, over MaxSize", len(data))
			}
			start := time.Now()
			for b.Loop() {
				Parse(FileName, data)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/parse")
		})
	}
}

// The example in README.md is a valid spec, and stays one.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```yaml block")
	}
	if _, err := Parse("README.md", []byte(example)); err != nil {
		t.Errorf("README example: %v", err)
	}
}
