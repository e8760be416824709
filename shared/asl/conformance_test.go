package asl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// conformanceDir holds cases recorded against AWS Step Functions (CI provides it next to
// the repository; see its README).
const conformanceDir = "../../../shared/asl-conformance/cases"

type confCase struct {
	Name        string          `json:"name"`
	Definition  json.RawMessage `json:"definition"`
	Input       json.RawMessage `json:"input"`
	Expected    confExpected    `json:"expected"`
	IgnorePaths []string        `json:"ignore_paths"`
}

type confExpected struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  *string         `json:"cause"`
}

func TestConformance(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no conformance cases in %s", conformanceDir)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var c confCase
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got, err := Run(ctx, c.Definition, c.Input, RunOptions{VirtualClock: true})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got.Status != c.Expected.Status {
				t.Fatalf("status: got %s (error %v cause %v output %v), want %s", got.Status, deref(got.Error), deref(got.Cause), deref(got.Output), c.Expected.Status)
			}
			if c.Expected.Status == StatusSucceeded {
				gotV, _ := decodeJSON([]byte(*got.Output))
				wantV, _ := decodeJSON(c.Expected.Output)
				for _, p := range c.IgnorePaths {
					gotV = dropPath(gotV, p)
					wantV = dropPath(wantV, p)
				}
				if !deepEqual(gotV, wantV) {
					t.Fatalf("output:\n got %s\nwant %s", encodeJSON(gotV), encodeJSON(wantV))
				}
				return
			}
			if deref(got.Error) != c.Expected.Error {
				t.Fatalf("error: got %q, want %q (cause %q)", deref(got.Error), c.Expected.Error, deref(got.Cause))
			}
			ignoreCause := false
			for _, p := range c.IgnorePaths {
				if p == "$.cause" {
					ignoreCause = true
				}
			}
			if !ignoreCause && c.Expected.Cause != nil && deref(got.Cause) != *c.Expected.Cause {
				t.Errorf("cause:\n got %q\nwant %q", deref(got.Cause), *c.Expected.Cause)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// dropPath removes the value at a simple path ($.a.b[0]) so run-time values are skipped.
func dropPath(v any, path string) any {
	p, err := compilePath(path)
	if err != nil || p.complex != nil || len(p.segs) == 0 {
		return v
	}
	return dropSegs(v, p.segs)
}

func dropSegs(v any, segs []segment) any {
	s := segs[0]
	switch t := v.(type) {
	case map[string]any:
		if s.isIdx {
			return v
		}
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = x
		}
		if len(segs) == 1 {
			delete(out, s.name)
		} else if x, ok := out[s.name]; ok {
			out[s.name] = dropSegs(x, segs[1:])
		}
		return out
	case []any:
		if !s.isIdx || s.index >= len(t) {
			return v
		}
		out := make([]any, len(t))
		copy(out, t)
		if len(segs) == 1 {
			out[s.index] = nil
		} else {
			out[s.index] = dropSegs(t[s.index], segs[1:])
		}
		return out
	}
	return v
}
