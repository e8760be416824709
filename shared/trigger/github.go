package trigger

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v75/github"

	"github.com/shipgate/shipgate/shared/domain"
)

// ParseGitHub reads a verified GitHub webhook delivery of the given X-GitHub-Event type.
// A push to a branch becomes a push to start; a branch deletion, a tag, or any other event
// comes back Ignored with the reason. A body that is not a readable push payload is an
// Invalid error naming what is wrong.
func ParseGitHub(eventType string, body []byte, deliveryID string, receivedAt time.Time) (Event, error) {
	if eventType != "push" {
		var other struct {
			Repository *struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
			Sender *struct {
				Login string `json:"login"`
			} `json:"sender"`
		}
		_ = json.Unmarshal(body, &other) // best effort: only enriches the skip record
		ev := Event{Push: domain.Push{Provider: domain.ProviderGitHub, ReceivedAt: receivedAt, DeliveryID: deliveryID},
			Ignored: fmt.Sprintf("event %q is not a push", eventType)}
		if other.Repository != nil {
			ev.Push.Repository = other.Repository.FullName
		}
		if other.Sender != nil {
			ev.Push.Pusher.Login = other.Sender.Login
		}
		return ev, nil
	}
	var pe github.PushEvent
	if err := json.Unmarshal(body, &pe); err != nil {
		return Event{}, domain.Errorf(domain.Invalid, "push payload: %v", err)
	}
	var bad []string
	if pe.Repo == nil || pe.Repo.GetFullName() == "" {
		bad = append(bad, "repository.full_name missing")
	}
	if pe.GetRef() == "" {
		bad = append(bad, "ref missing")
	}
	if len(bad) > 0 {
		return Event{}, domain.Errorf(domain.Invalid, "push payload: %s", strings.Join(bad, "; "))
	}
	ref := pe.GetRef()
	p := domain.Push{
		Provider:   domain.ProviderGitHub,
		Repository: pe.Repo.GetFullName(),
		CloneURL:   pe.Repo.GetCloneURL(),
		Ref:        ref,
		Branch:     strings.TrimPrefix(ref, "refs/heads/"),
		Commit:     pe.GetAfter(),
		Before:     pe.GetBefore(),
		CompareURL: pe.GetCompare(),
		ReceivedAt: receivedAt,
		DeliveryID: deliveryID,
	}
	if isZero(p.Before) {
		p.Before = ""
	}
	if p.CloneURL == "" {
		p.CloneURL = "https://github.com/" + p.Repository + ".git"
	}
	// GitHub's pusher carries the login as its name; sender is the authenticated account
	// that pushed. Self-approval is checked against the login.
	if pu := pe.GetPusher(); pu != nil {
		p.Pusher = domain.Identity{Name: pu.GetName(), Email: pu.GetEmail(), Login: pu.GetLogin()}
	}
	if s := pe.GetSender(); s != nil && s.GetLogin() != "" {
		p.Pusher.Login = s.GetLogin()
	}
	if p.Pusher.Login == "" {
		p.Pusher.Login = p.Pusher.Name
	}
	if hc := pe.GetHeadCommit(); hc != nil {
		p.Message = hc.GetMessage()
	}
	cs := pe.Commits
	if len(cs) > domain.MaxPushCommits {
		cs, p.CommitsTruncated = cs[len(cs)-domain.MaxPushCommits:], true
	}
	for _, c := range cs {
		if c == nil {
			continue
		}
		dc := domain.Commit{ID: c.GetID(), Message: c.GetMessage(), Added: c.Added, Modified: c.Modified, Removed: c.Removed}
		if a := c.GetAuthor(); a != nil {
			dc.Author = domain.Identity{Name: a.GetName(), Email: a.GetEmail(), Login: a.GetLogin()}
		}
		if ts := c.GetTimestamp(); !ts.IsZero() {
			dc.Timestamp = ts.UTC()
		}
		p.Commits = append(p.Commits, dc)
	}
	ev := Event{Push: p}
	kind := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		kind = "tag"
	}
	switch {
	case pe.GetDeleted() || isZero(p.Commit):
		ev.Ignored = fmt.Sprintf("%s %s deleted", kind, strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/"))
	case kind == "tag":
		ev.Ignored = fmt.Sprintf("tag %s (tags do not start runs)", strings.TrimPrefix(ref, "refs/tags/"))
	case !strings.HasPrefix(ref, "refs/heads/"):
		ev.Ignored = fmt.Sprintf("ref %s is not a branch", ref)
	case !isCommitID(p.Commit):
		return Event{}, domain.Errorf(domain.Invalid, "push payload: after %q is not a commit id", p.Commit)
	}
	return ev, nil
}
