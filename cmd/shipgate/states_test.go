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

func TestStatesRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	waitThenPass := write("wait.json", `{"StartAt":"W","States":{
		"W":{"Type":"Wait","Seconds":86400,"Next":"P"},
		"P":{"Type":"Pass","Parameters":{"greeting.$":"States.Format('hello {}', $.who)"},"End":true}}}`)
	failing := write("fail.json", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom"}}}`)
	failingCause := write("failc.json", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"it broke"}}}`)
	invalid := write("invalid.json", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`)
	malformed := write("malformed.json", `{"StartAt":`)
	input := write("input.json", `{"who":"world"}`)
	badInput := write("bad-input.json", `{"who":`)

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    string // exact JSON object, compared as JSON
		wantStderr string // substring
	}{
		{name: "succeeds with file input and virtual clock", args: []string{"run", "--definition", waitThenPass, "--input", input, "--virtual-clock"},
			wantCode: 0, wantOut: `{"status":"SUCCEEDED","output":{"greeting":"hello world"}}`},
		{name: "reads input from stdin", args: []string{"run", "--definition", waitThenPass, "--input", "-", "--virtual-clock"}, stdin: `{"who":"stdin"}`,
			wantCode: 0, wantOut: `{"status":"SUCCEEDED","output":{"greeting":"hello stdin"}}`},
		{name: "failed execution still exits 0 with null cause", args: []string{"run", "--definition", failing},
			wantCode: 0, wantOut: `{"status":"FAILED","error":"Boom","cause":null}`},
		{name: "failed execution with cause", args: []string{"run", "--definition", failingCause},
			wantCode: 0, wantOut: `{"status":"FAILED","error":"Boom","cause":"it broke"}`},
		{name: "runtime error is a failed execution", args: []string{"run", "--definition", waitThenPass, "--virtual-clock"},
			wantCode: 0, wantOut: `{"status":"FAILED","error":"States.Runtime","cause":"An error occurred while executing the state 'P' (entered at the event id #4). The JSONPath '$.who' specified for the field 'greeting.$' could not be found in the input '<json-input:1>'"}`},
		{name: "invalid definition exits 2 naming the state", args: []string{"run", "--definition", invalid},
			wantCode: 2, wantStderr: `state "A" at /States/A: a state must have either Next or End: true`},
		{name: "malformed definition exits 2", args: []string{"run", "--definition", malformed},
			wantCode: 2, wantStderr: "malformed JSON"},
		{name: "malformed input exits 2", args: []string{"run", "--definition", failing, "--input", badInput},
			wantCode: 2, wantStderr: "Invalid State Machine Execution Input"},
		{name: "missing definition flag exits 2", args: []string{"run"}, wantCode: 2, wantStderr: "Usage"},
		{name: "unreadable definition exits 2", args: []string{"run", "--definition", filepath.Join(dir, "nope.json")}, wantCode: 2, wantStderr: "no such file"},
		{name: "unknown verb exits 2", args: []string{"walk"}, wantCode: 2, wantStderr: "Usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := &cli{stdin: strings.NewReader(tt.stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			code := run(context.Background(), c, append([]string{"states"}, tt.args...))
			if code != tt.wantCode {
				t.Fatalf("exit code: got %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, out.String(), errb.String())
			}
			if tt.wantOut != "" {
				var got, want any
				if err := json.Unmarshal(out.Bytes(), &got); err != nil {
					t.Fatalf("stdout is not one JSON object: %q: %v", out.String(), err)
				}
				if strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
					t.Errorf("stdout: got %d lines, want one", strings.Count(out.String(), "\n"))
				}
				_ = json.Unmarshal([]byte(tt.wantOut), &want)
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				if string(gb) != string(wb) {
					t.Errorf("stdout:\n got %s\nwant %s", gb, wb)
				}
			}
			if tt.wantStderr != "" && !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", errb.String(), tt.wantStderr)
			}
		})
	}
}
