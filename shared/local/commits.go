package local

import (
	"context"
	"path/filepath"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/source"
	"github.com/shipgate/shipgate/shared/trigger"
)

// commitLister lists a push's commits for its run.started record and the approval mail:
// in Go when the repository is laid out the plain way and the push is a few plain
// commits on the branch's tip (source.PushCommits), with `git log` otherwise. The
// listing sits between a push landing and its run starting, and a git process costs
// several milliseconds there on a small VM; git stays the reference for every case the
// Go reader does not handle.
type commitLister struct{ git trigger.GitCommits }

var _ trigger.CommitLister = commitLister{}

// Commits implements trigger.CommitLister.
func (l commitLister) Commits(ctx context.Context, repo, newCommit, oldCommit string, max int) ([]domain.Commit, bool, error) {
	if gitDir, ok := plainGitDir(repo); ok {
		if cs, truncated, ok := source.PushCommits(filepath.Join(gitDir, "objects"), newCommit, oldCommit, max); ok {
			return cs, truncated, nil
		}
	}
	return l.git.Commits(ctx, repo, newCommit, oldCommit, max)
}
