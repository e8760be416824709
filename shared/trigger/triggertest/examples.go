package triggertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// examplesPath is where npm installs @octokit/webhooks-examples, the community-maintained
// set of real GitHub webhook payloads.
const examplesPath = "node_modules/@octokit/webhooks-examples/api.github.com/index.json"

// GitHubExamples returns the real payloads of one GitHub event type (e.g. "push"), each
// as the raw JSON GitHub sent. The package is read from node_modules at test time (the
// repository does not copy it); when it is not installed the test is skipped with the
// command that installs it.
func GitHubExamples(t testing.TB, event string) [][]byte {
	t.Helper()
	path := findUp(examplesPath)
	if path == "" {
		t.Skipf("%s not found above the working directory: run `npm install` (package.json lists @octokit/webhooks-examples) to test with real GitHub payloads", examplesPath)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read GitHub examples: %v", err)
	}
	var all []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, e := range all {
		if e.Name == event {
			out := make([][]byte, len(e.Examples))
			for i, x := range e.Examples {
				out[i] = []byte(x)
			}
			return out
		}
	}
	t.Fatalf("%s has no examples of event %q", path, event)
	return nil
}

func findUp(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
