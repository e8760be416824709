//go:build !linux || lambda.norpc

package source

import "github.com/shipgate/shipgate/shared/domain"

// PushCommits leaves every push to git here (see the Linux build).
func PushCommits(objects, newCommit, oldCommit string, max int) ([]domain.Commit, bool, bool) {
	return nil, false, false
}
