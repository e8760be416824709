package trigger

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	var pe pushEvent
	if err := json.Unmarshal(body, &pe); err != nil {
		return Event{}, domain.Errorf(domain.Invalid, "push payload: %v", err)
	}
	var bad []string
	if pe.Repository == nil || pe.Repository.FullName == "" {
		bad = append(bad, "repository.full_name missing")
	}
	if pe.Ref == "" {
		bad = append(bad, "ref missing")
	}
	if len(bad) > 0 {
		return Event{}, domain.Errorf(domain.Invalid, "push payload: %s", strings.Join(bad, "; "))
	}
	ref := pe.Ref
	p := domain.Push{
		Provider:   domain.ProviderGitHub,
		Repository: pe.Repository.FullName,
		CloneURL:   pe.Repository.CloneURL,
		Ref:        ref,
		Branch:     strings.TrimPrefix(ref, "refs/heads/"),
		Commit:     pe.After,
		Before:     pe.Before,
		CompareURL: pe.Compare,
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
	if pu := pe.Pusher; pu != nil {
		p.Pusher = domain.Identity{Name: pu.Name, Email: pu.Email, Login: pu.Login}
	}
	if s := pe.Sender; s != nil && s.Login != "" {
		p.Pusher.Login = s.Login
	}
	if p.Pusher.Login == "" {
		p.Pusher.Login = p.Pusher.Name
	}
	if hc := pe.HeadCommit; hc != nil {
		p.Message = hc.Message
	}
	cs := pe.Commits
	if len(cs) > domain.MaxPushCommits {
		cs, p.CommitsTruncated = cs[len(cs)-domain.MaxPushCommits:], true
	}
	for _, c := range cs {
		if c == nil {
			continue
		}
		dc := domain.Commit{ID: c.ID, Message: c.Message, Added: c.Added, Modified: c.Modified, Removed: c.Removed}
		if a := c.Author; a != nil {
			dc.Author = domain.Identity{Name: a.Name, Email: a.Email, Login: a.Login}
		}
		if ts := c.Timestamp; ts != nil && !ts.IsZero() {
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
	case pe.Deleted || isZero(p.Commit):
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

// pushEvent is the part of GitHub's push webhook payload a run needs. It is declared here
// rather than taken from go-github, whose thousands of payload types and methods cost the
// Api Lambda a share of its 12 MB budget (issue 4) for the dozen fields read below.
type pushEvent struct {
	Ref        string          `json:"ref"`
	Before     string          `json:"before"`
	After      string          `json:"after"`
	Compare    string          `json:"compare"`
	Deleted    bool            `json:"deleted"`
	Repository *pushRepository `json:"repository"`
	Pusher     *pushAuthor     `json:"pusher"`
	Sender     *struct {
		Login string `json:"login"`
	} `json:"sender"`
	HeadCommit *pushCommit   `json:"head_commit"`
	Commits    []*pushCommit `json:"commits"`
}

type pushRepository struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

// pushAuthor is a pusher or commit author; webhooks name the GitHub login "username".
type pushAuthor struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Login string `json:"username"`
}

type pushCommit struct {
	ID        string      `json:"id"`
	Message   string      `json:"message"`
	Author    *pushAuthor `json:"author"`
	Timestamp *pushTime   `json:"timestamp"`
	Added     []string    `json:"added"`
	Removed   []string    `json:"removed"`
	Modified  []string    `json:"modified"`
}

// pushTime reads the timestamps GitHub sends: an RFC 3339 string in push payloads, and
// Unix seconds (or milliseconds) in some others.
type pushTime struct{ time.Time }

func (t *pushTime) UnmarshalJSON(b []byte) error {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		t.Time = time.Unix(n, 0)
		if t.Time.Year() > 3000 {
			t.Time = time.UnixMilli(n)
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	t.Time = v
	return nil
}
