package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shipgate/shipgate/shared/domain"
)

// EventBridge names of the CodeCommit event the trigger consumes.
const (
	CodeCommitSource     = "aws.codecommit"
	CodeCommitDetailType = "CodeCommit Repository State Change"
)

// CodeCommitDetail is the detail of a "CodeCommit Repository State Change" event, in the
// shape the CodeCommit user guide documents (monitoring-events: referenceCreated,
// referenceUpdated, referenceDeleted).
type CodeCommitDetail struct {
	Event             string `json:"event"`
	RepositoryName    string `json:"repositoryName"`
	RepositoryID      string `json:"repositoryId,omitempty"`
	ReferenceType     string `json:"referenceType"`
	ReferenceName     string `json:"referenceName"`
	ReferenceFullName string `json:"referenceFullName"`
	CommitID          string `json:"commitId,omitempty"`
	OldCommitID       string `json:"oldCommitId,omitempty"`
	CallerUserArn     string `json:"callerUserArn,omitempty"`
}

// ParseCodeCommit reads ev into an Event. Only the push's identity is filled here; the
// Service adds provider, clone URL, compare link and commits. Branch deletions, tags and
// other CodeCommit events come back Ignored with the reason; an event that cannot be read
// is an Invalid error.
func ParseCodeCommit(ev events.CloudWatchEvent) (Event, error) {
	if ev.DetailType != CodeCommitDetailType {
		return Event{}, domain.Errorf(domain.Invalid, "event %s: detail-type %q is not %q", ev.ID, ev.DetailType, CodeCommitDetailType)
	}
	var d CodeCommitDetail
	if len(ev.Detail) == 0 {
		return Event{}, domain.Errorf(domain.Invalid, "event %s: no detail", ev.ID)
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return Event{}, domain.Errorf(domain.Invalid, "event %s: detail: %v", ev.ID, err)
	}
	if d.RepositoryName == "" {
		return Event{}, domain.Errorf(domain.Invalid, "event %s: detail.repositoryName missing", ev.ID)
	}
	ref := d.ReferenceFullName
	if ref == "" && d.ReferenceName != "" {
		switch d.ReferenceType {
		case "branch":
			ref = "refs/heads/" + d.ReferenceName
		case "tag":
			ref = "refs/tags/" + d.ReferenceName
		}
	}
	p := domain.Push{
		Provider:   domain.ProviderCodeCommit,
		Repository: d.RepositoryName,
		Ref:        ref,
		Branch:     strings.TrimPrefix(ref, "refs/heads/"),
		Commit:     d.CommitID,
		Before:     d.OldCommitID,
		Pusher:     callerIdentity(d.CallerUserArn),
		ReceivedAt: ev.Time,
		DeliveryID: ev.ID,
	}
	if isZero(p.Before) {
		p.Before = ""
	}
	ev2 := Event{Push: p}
	switch {
	case d.Event != "referenceCreated" && d.Event != "referenceUpdated" && d.Event != "referenceDeleted":
		ev2.Ignored = fmt.Sprintf("CodeCommit event %q is not a push", d.Event)
	case d.ReferenceType == "tag" || strings.HasPrefix(ref, "refs/tags/"):
		ev2.Ignored = fmt.Sprintf("tag %s (tags do not start runs)", strings.TrimPrefix(ref, "refs/tags/"))
	case d.Event == "referenceDeleted" || isZero(d.CommitID):
		ev2.Ignored = fmt.Sprintf("branch %s deleted", p.Branch)
	case d.ReferenceType != "branch" || !strings.HasPrefix(ref, "refs/heads/"):
		ev2.Ignored = fmt.Sprintf("reference %q (type %q) is not a branch", ref, d.ReferenceType)
	case !isCommitID(d.CommitID):
		return Event{}, domain.Errorf(domain.Invalid, "event %s: detail.commitId %q is not a commit id", ev.ID, d.CommitID)
	}
	return ev2, nil
}

// callerIdentity names a CodeCommit pusher by the caller's ARN (locally: the committer's
// email) and a readable name: the user name, or the session name of an assumed role
// (federated users and SSO arrive that way). When the caller, or that last segment, is an
// email address it is also the Email: approvers are listed by email, and self-approval
// can only be caught if the pusher is known by one.
func callerIdentity(arn string) domain.Identity {
	id := domain.Identity{Login: arn}
	if i := strings.LastIndexByte(arn, '/'); i >= 0 && i+1 < len(arn) {
		id.Name = arn[i+1:]
	} else if i := strings.LastIndexByte(arn, ':'); i >= 0 && i+1 < len(arn) {
		id.Name = arn[i+1:]
	}
	switch {
	case isEmail(arn):
		id.Email = arn
	case isEmail(id.Name):
		id.Email = id.Name
	}
	return id
}

// isEmail reports whether s has the shape of one email address: a local part and a
// domain around a single @, and nothing that cannot be in either.
func isEmail(s string) bool {
	local, dom, ok := strings.Cut(s, "@")
	return ok && local != "" && dom != "" && !strings.ContainsAny(dom, "@") &&
		!strings.ContainsAny(s, " \t\r\n<>,;:/\"")
}

// HandleCodeCommit starts the run of a CodeCommit-shaped push event (from EventBridge on
// AWS, from the git watcher locally) or records why not.
func (s *Service) HandleCodeCommit(ctx context.Context, ev events.CloudWatchEvent) (Result, error) {
	e, err := ParseCodeCommit(ev)
	if err != nil {
		return Result{}, err
	}
	p := &e.Push
	p.Provider = s.provider
	if e.Ignored != "" {
		return s.Handle(ctx, e)
	}
	// Filter before listing commits: a push this pipeline ignores costs no CodeCommit calls.
	if s.repository != "" && p.Repository != s.repository || !MatchBranch(s.branches, p.Branch) {
		return s.Start(ctx, *p)
	}
	p.CloneURL = s.cloneURL(p.Repository, ev.Region)
	if s.compareURL != nil {
		p.CompareURL = s.compareURL(p.Repository, ev.Region, p.Before, p.Commit)
	}
	if s.commits != nil {
		cs, truncated, err := s.commits.Commits(ctx, p.Repository, p.Commit, p.Before, domain.MaxPushCommits)
		if err != nil {
			return Result{}, &domain.Error{Kind: domain.Transient, Op: "list commits of " + p.Commit, Err: err}
		}
		p.Commits, p.CommitsTruncated = cs, truncated
		if n := len(cs); n > 0 && cs[n-1].ID == p.Commit {
			p.Message = cs[n-1].Message
		}
	}
	return s.Start(ctx, *p)
}

// CodeCommitCloneURL is the HTTPS clone URL of a CodeCommit repository in region.
func CodeCommitCloneURL(repo, region string) string {
	if region == "" {
		region = "us-east-1"
	}
	return "https://git-codecommit." + region + ".amazonaws.com/v1/repos/" + url.PathEscape(repo)
}

// CodeCommitCompareURL links to the console page of the pushed changes: the compare view
// of before...after, or the head commit for a new branch.
func CodeCommitCompareURL(repo, region, before, after string) string {
	if region == "" {
		region = "us-east-1"
	}
	base := "https://" + region + ".console.aws.amazon.com/codesuite/codecommit/repositories/" + url.PathEscape(repo)
	if before == "" || isZero(before) {
		return base + "/commit/" + after + "?region=" + region
	}
	return base + "/compare/" + before + "/.../" + after + "?region=" + region
}

// Local event constants: local mode has no account or region of its own.
const (
	LocalAccount = "000000000000"
	LocalRegion  = "us-east-1"
)

// CodeCommitEvent builds the EventBridge event CodeCommit would emit for moving ref of
// repo from oldCommit to newCommit (either may be empty or all zeros: created, deleted),
// so local pushes go through HandleCodeCommit like AWS ones. The event id is derived from
// the change, so the watcher re-announcing one change yields one id.
func CodeCommitEvent(repo, ref, oldCommit, newCommit, caller string, at time.Time) events.CloudWatchEvent {
	if isZero(oldCommit) {
		oldCommit = ""
	}
	if isZero(newCommit) {
		newCommit = ""
	}
	kind := "referenceUpdated"
	switch {
	case newCommit == "":
		kind = "referenceDeleted"
	case oldCommit == "":
		kind = "referenceCreated"
	}
	refType, name := "branch", strings.TrimPrefix(ref, "refs/heads/")
	if strings.HasPrefix(ref, "refs/tags/") {
		refType, name = "tag", strings.TrimPrefix(ref, "refs/tags/")
	} else if !strings.HasPrefix(ref, "refs/heads/") {
		refType = "other"
	}
	d := CodeCommitDetail{
		Event: kind, RepositoryName: repo, ReferenceType: refType, ReferenceName: name,
		ReferenceFullName: ref, CommitID: newCommit, OldCommitID: oldCommit, CallerUserArn: caller,
	}
	detail, _ := json.Marshal(d) // strings only: cannot fail
	sum := sha256.Sum256([]byte(repo + "\x00" + ref + "\x00" + oldCommit + "\x00" + newCommit))
	h := hex.EncodeToString(sum[:16])
	return events.CloudWatchEvent{
		Version:    "0",
		ID:         h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32],
		DetailType: CodeCommitDetailType,
		Source:     CodeCommitSource,
		AccountID:  LocalAccount,
		Time:       at.UTC(),
		Region:     LocalRegion,
		Resources:  []string{"arn:aws:codecommit:" + LocalRegion + ":" + LocalAccount + ":" + repo},
		Detail:     detail,
	}
}

// LocalOptions are the Options of local mode: CodeCommit-shaped events name the
// repository by its directory, the run clones from that directory, and git lists the
// commits. audit is the local audit store.
func LocalOptions(audit Auditor) Options {
	return Options{
		Audit:    audit,
		Provider: domain.ProviderLocal,
		CloneURL: func(repo, _ string) string { return repo },
		Commits:  GitCommits{},
	}
}
