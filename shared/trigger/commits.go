package trigger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
)

// CommitLister lists the commits a push brought: reachable from newCommit, not from
// oldCommit (empty for a new branch), oldest first, at most max of the newest. truncated
// says that more were pushed (or that a new branch's history was cut at max).
type CommitLister interface {
	Commits(ctx context.Context, repo, newCommit, oldCommit string, max int) (commits []domain.Commit, truncated bool, err error)
}

// GitCommits lists a push's commits with `git log` in the repository directory Dir(repo)
// (local mode, where the repository is on this machine).
type GitCommits struct {
	Dir func(repo string) string
	// Git is the git executable; empty means "git" on $PATH.
	Git string
}

var _ CommitLister = GitCommits{}

// Commits implements CommitLister.
func (g GitCommits) Commits(ctx context.Context, repo, newCommit, oldCommit string, max int) ([]domain.Commit, bool, error) {
	bin := g.Git
	if bin == "" {
		bin = "git"
	}
	dir := repo
	if g.Dir != nil {
		dir = g.Dir(repo)
	}
	if !isCommitID(newCommit) || oldCommit != "" && !isCommitID(oldCommit) {
		return nil, false, fmt.Errorf("git log in %s: bad commit range %q..%q", dir, oldCommit, newCommit)
	}
	// What a user's configuration could change in this output is pinned: the order of
	// the paths (diff.orderFile), the output encoding, signatures printed with the log.
	args := []string{"-C", dir, "log", "--no-color", "--first-parent", "--name-status", "--no-renames",
		"-O" + os.DevNull, "--encoding=UTF-8", "--no-show-signature",
		fmt.Sprintf("--max-count=%d", max+1), "--format=%x1e%H%x00%an%x00%ae%x00%aI%x00%B%x00", newCommit}
	if oldCommit != "" {
		args = append(args, "^"+oldCommit)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, false, fmt.Errorf("git log in %s: %s", dir, strings.TrimSpace(stderr.String()))
		}
		return nil, false, fmt.Errorf("git log in %s: %w", dir, err)
	}
	cs := parseGitLog(out)
	truncated := false
	if len(cs) > max {
		cs, truncated = cs[:max], true
	}
	return reverse(cs), truncated, nil
}

// parseGitLog reads records of "\x1e<hash>\0<name>\0<email>\0<date>\0<body>\0" each
// followed by --name-status lines.
func parseGitLog(out []byte) []domain.Commit {
	var cs []domain.Commit
	for _, rec := range bytes.Split(out, []byte{0x1e}) {
		f := bytes.SplitN(rec, []byte{0}, 6)
		if len(f) < 6 {
			continue
		}
		ts, _ := time.Parse(time.RFC3339, string(f[3]))
		c := domain.Commit{
			ID:        string(f[0]),
			Author:    domain.Identity{Name: string(f[1]), Email: string(f[2])},
			Timestamp: ts.UTC(),
			Message:   strings.TrimRight(string(f[4]), "\n"),
		}
		for _, line := range strings.Split(string(f[5]), "\n") {
			st, path, ok := strings.Cut(strings.TrimSpace(line), "\t")
			if !ok || st == "" {
				continue
			}
			switch st[0] {
			case 'A':
				c.Added = append(c.Added, path)
			case 'D':
				c.Removed = append(c.Removed, path)
			default:
				c.Modified = append(c.Modified, path)
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func reverse(cs []domain.Commit) []domain.Commit {
	for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
		cs[i], cs[j] = cs[j], cs[i]
	}
	return cs
}
