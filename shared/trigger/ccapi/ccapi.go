// Package ccapi lists a CodeCommit push's commits through the CodeCommit API for
// shared/trigger. It is a package of its own so that only the Trigger Lambda links the
// CodeCommit client: the SDK initializes a service's schemas at package init, so merely
// importing it cost the Api Lambda half a megabyte of its 12 MB budget (issue 4).
package ccapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codecommit"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
)

// API is the part of the CodeCommit client Commits uses.
type API interface {
	GetCommit(context.Context, *codecommit.GetCommitInput, ...func(*codecommit.Options)) (*codecommit.GetCommitOutput, error)
}

// Commits lists a push's commits on AWS by walking first parents from the new
// tip with GetCommit until the old tip. Merged side branches are not walked: the first
// parent chain is what the branch itself went through, and it bounds the calls to max+1.
type Commits struct{ API API }

var _ trigger.CommitLister = Commits{}

// Commits implements trigger.CommitLister.
func (c Commits) Commits(ctx context.Context, repo, newCommit, oldCommit string, max int) ([]domain.Commit, bool, error) {
	var newestFirst []domain.Commit
	truncated := false
	for id := newCommit; id != "" && id != oldCommit; {
		if len(newestFirst) == max {
			truncated = true
			break
		}
		out, err := c.API.GetCommit(ctx, &codecommit.GetCommitInput{RepositoryName: aws.String(repo), CommitId: aws.String(id)})
		if err != nil {
			return nil, false, fmt.Errorf("get commit %s of %s: %w", id, repo, err)
		}
		if out.Commit == nil {
			return nil, false, fmt.Errorf("get commit %s of %s: empty answer", id, repo)
		}
		cm := domain.Commit{ID: id, Message: strings.TrimRight(aws.ToString(out.Commit.Message), "\n")}
		if a := out.Commit.Author; a != nil {
			cm.Author = domain.Identity{Name: aws.ToString(a.Name), Email: aws.ToString(a.Email)}
			cm.Timestamp = parseGitDate(aws.ToString(a.Date))
		}
		newestFirst = append(newestFirst, cm)
		id = ""
		if len(out.Commit.Parents) > 0 {
			id = out.Commit.Parents[0]
		}
	}
	slices.Reverse(newestFirst)
	return newestFirst, truncated, nil
}

// parseGitDate reads CodeCommit's author date, git's raw "<unix seconds> <+zone>" form.
func parseGitDate(s string) time.Time {
	var sec int64
	var zone string
	if _, err := fmt.Sscanf(s, "%d %s", &sec, &zone); err != nil {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC()
		}
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
