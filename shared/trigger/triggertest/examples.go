package triggertest

import (
	"encoding/json"
	"errors"
	"fmt"
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
	out, err := LoadGitHubExamples(event)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%v: run `npm install` (package.json lists @octokit/webhooks-examples) to test with real GitHub payloads", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// LoadGitHubExamples is GitHubExamples for callers that are not tests (fuzz seeding): an
// error wrapping os.ErrNotExist means the package is not installed.
func LoadGitHubExamples(event string) ([][]byte, error) {
	path := findUp(examplesPath)
	if path == "" {
		return nil, fmt.Errorf("%s not found above the working directory: %w", examplesPath, os.ErrNotExist)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read GitHub examples: %w", err)
	}
	var all []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, e := range all {
		if e.Name == event {
			out := make([][]byte, len(e.Examples))
			for i, x := range e.Examples {
				out[i] = []byte(x)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s has no examples of event %q", path, event)
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
