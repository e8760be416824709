package gitserver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Repo is a working git repository made for a test, with an identity and commit dates
// fixed so commit SHAs are the same on every run.
type Repo struct {
	Dir string
	n   int // commits made, for increasing dates
}

// InitRepo creates a working repository at dir whose first branch is branch.
func InitRepo(dir, branch string) (*Repo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir}
	if _, err := r.Git("init", "-q", "-b", branch); err != nil {
		return nil, err
	}
	return r, nil
}

// Env is the environment git runs with in this package: no system or global config (no
// credential helpers or URL rewrites from the machine) and a fixed identity.
func Env(home string) []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + home,
		"GIT_TERMINAL_PROMPT=0", "LANG=C", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Shipgate Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Shipgate Test", "GIT_COMMITTER_EMAIL=test@example.com"}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	return env
}

// Git runs git in the repository and returns its trimmed standard output.
func (r *Repo) Git(args ...string) (string, error) {
	date := time.Date(2026, 1, 1, 0, 0, r.n, 0, time.UTC).Format(time.RFC3339)
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(Env(r.Dir), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Commit writes files (slash-separated path -> content), stages every change and
// commits, returning the new commit's SHA. Remove deletes files.
func (r *Repo) Commit(msg string, files map[string]string) (string, error) {
	for p, content := range files {
		full := filepath.Join(r.Dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return r.commitAll(msg)
}

// Remove deletes paths and commits, returning the new commit's SHA.
func (r *Repo) Remove(msg string, paths ...string) (string, error) {
	for _, p := range paths {
		if err := os.RemoveAll(filepath.Join(r.Dir, filepath.FromSlash(p))); err != nil {
			return "", err
		}
	}
	return r.commitAll(msg)
}

func (r *Repo) commitAll(msg string) (string, error) {
	r.n++
	if _, err := r.Git("add", "-A"); err != nil {
		return "", err
	}
	if _, err := r.Git("commit", "-q", "--allow-empty", "-m", msg); err != nil {
		return "", err
	}
	return r.Git("rev-parse", "HEAD")
}

// PushBare creates (if needed) a bare repository at dst and pushes every branch to it,
// as a hosting provider would hold it.
func (r *Repo) PushBare(dst string) error {
	if _, err := os.Stat(filepath.Join(dst, "HEAD")); err != nil {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		b := &Repo{Dir: dst}
		if _, err := b.Git("init", "-q", "--bare"); err != nil {
			return err
		}
	}
	_, err := r.Git("push", "-q", "--force", dst, "refs/heads/*:refs/heads/*")
	return err
}
