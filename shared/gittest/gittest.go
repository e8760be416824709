// Package gittest runs real git for tests that build repositories to push, watch or read
// commits from, with one fixed identity (tests assert on it as the commit author and the
// pusher) and without the machine's system config, so the result does not depend on who
// runs the tests or where.
package gittest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The identity every commit made through Git carries, as author and committer.
const (
	Name  = "Dev"
	Email = "dev@example.com"
)

// Git runs git in dir and returns its trimmed combined output; a failing command fails
// the test with that output. HOME is dir, so no user config applies either.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME="+Name, "GIT_AUTHOR_EMAIL="+Email,
		"GIT_COMMITTER_NAME="+Name, "GIT_COMMITTER_EMAIL="+Email, "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
