package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validSpec = `branches: [main]
build:
  commands: [make]
artifacts:
  - name: app
    paths: [bin/app]
approval:
  approvers: [alice@example.com, bob@example.com]
deploy:
  commands: [./deploy.sh]
`

const typoSpec = `branches: [main]
build:
  commands: [make]
  timout: 10m
approval:
  approvers: [alice]
deploy:
  commands: [./deploy.sh]
`

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	repo := t.TempDir()
	for p, s := range map[string]string{good: validSpec, bad: typoSpec, filepath.Join(repo, "shipgate.yml"): validSpec} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string
		json       bool // stdout must be a validateReport
	}{
		{name: "valid", args: []string{good}, wantCode: 0,
			wantStdout: []string{good + ": ok (branches [main]; 2 commands; 1 artifact sets; 1 of 2 approvers required within 72h0m0s)"}},
		{name: "typo names the line", args: []string{bad}, wantCode: 2,
			wantStderr: []string{
				bad + ":4: build.timout: unknown key (did you mean timeout?)\n",
				bad + `:6: approval.approvers[0]: "alice" is not an email address` + "\n",
			}},
		{name: "json valid", args: []string{"--format", "json", good}, wantCode: 0, json: true,
			wantStdout: []string{`"valid": true`, `"problems": []`, `"approvers": [`}},
		{name: "json invalid", args: []string{"--format=json", bad}, wantCode: 2, json: true,
			wantStdout: []string{`"valid": false`, `"line": 4`, `"key": "build.timout"`, `"message": "unknown key (did you mean timeout?)"`}},
		{name: "stdin", args: []string{"-"}, stdin: typoSpec, wantCode: 2,
			wantStderr: []string{"<stdin>:4: build.timout: unknown key"}},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.yml")}, wantCode: 2,
			wantStderr: []string{"nope.yml: no such file (shipgate reads shipgate.yml at the repository root)"}},
		{name: "default file is ./shipgate.yml", args: nil, wantCode: 2,
			wantStderr: []string{"shipgate.yml: no such file"}},
		{name: "directory without a spec", args: []string{dir}, wantCode: 2, wantStderr: []string{filepath.Join(dir, "shipgate.yml") + ": no such file"}},
		{name: "repository directory", args: []string{repo}, wantCode: 0, wantStdout: []string{filepath.Join(repo, "shipgate.yml") + ": ok"}},
		{name: "bad format", args: []string{"--format", "xml", good}, wantCode: 2, wantStderr: []string{"--format must be text or json"}},
		{name: "two files", args: []string{good, bad}, wantCode: 2, wantStderr: []string{"one file at a time"}},
		{name: "unknown flag", args: []string{"--strict"}, wantCode: 2, wantStderr: []string{"flag provided but not defined: -strict"}},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStderr: []string{"Usage: shipgate validate"}},
		{name: "schema", args: []string{"--schema"}, wantCode: 0, wantStdout: []string{`"$schema": "https://json-schema.org/draft/2020-12/schema"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "default file is ./shipgate.yml" {
				t.Chdir(t.TempDir())
			}
			var stdout, stderr bytes.Buffer
			c := &cli{stdin: strings.NewReader(tt.stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
			code := run(context.Background(), c, append([]string{"validate"}, tt.args...))
			if code != tt.wantCode {
				t.Errorf("exit code: got %d want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tt.json {
				var rep validateReport
				if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
					t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout.String())
				}
				if rep.Valid != (tt.wantCode == 0) {
					t.Errorf("report valid=%v with exit code %d", rep.Valid, code)
				}
				if tt.wantCode != 0 && stderr.Len() != 0 {
					t.Errorf("json mode wrote to stderr: %s", stderr.String())
				}
			}
		})
	}
}
