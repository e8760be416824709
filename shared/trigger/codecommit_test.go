package trigger_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
)

func loadEvent(t *testing.T, name string) events.CloudWatchEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func TestParseCodeCommitDocumentedEvents(t *testing.T) {
	cases := []struct {
		file        string
		wantIgnored string
		wantPush    domain.Push
	}{
		{file: "codecommit-reference-updated.json", wantPush: domain.Push{
			Provider: domain.ProviderCodeCommit, Repository: "MyDemoRepo", Ref: "refs/heads/myBranch", Branch: "myBranch",
			Commit: sha2, Before: sha3, DeliveryID: "01234567-0123-0123-0123-012345678901",
			Pusher:     domain.Identity{Login: "arn:aws:iam::123456789012:user/Mary_Major", Name: "Mary_Major"},
			ReceivedAt: time.Date(2019, 6, 12, 10, 23, 43, 0, time.UTC),
		}},
		{file: "codecommit-reference-created.json", wantPush: domain.Push{
			Provider: domain.ProviderCodeCommit, Repository: "MyDemoRepo", Ref: "refs/heads/myBranch", Branch: "myBranch",
			Commit: sha2, DeliveryID: "01234567-0123-0123-0123-012345678902",
			Pusher:     domain.Identity{Login: "arn:aws:sts::123456789012:assumed-role/Developers/Saanvi_Sarkar", Name: "Saanvi_Sarkar"},
			ReceivedAt: time.Date(2019, 6, 12, 10, 20, 0, 0, time.UTC),
		}},
		{file: "codecommit-reference-deleted.json", wantIgnored: "branch myBranch deleted"},
		{file: "codecommit-tag-created.json", wantIgnored: "tag v1.0 (tags do not start runs)"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			ev, err := trigger.ParseCodeCommit(loadEvent(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Ignored != c.wantIgnored {
				t.Fatalf("Ignored = %q, want %q", ev.Ignored, c.wantIgnored)
			}
			if c.wantIgnored != "" {
				return
			}
			got, _ := json.Marshal(ev.Push)
			want, _ := json.Marshal(c.wantPush)
			if string(got) != string(want) {
				t.Errorf("push\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestParseCodeCommitRefusesUnreadableEvents(t *testing.T) {
	good := loadEvent(t, "codecommit-reference-updated.json")
	with := func(f func(*events.CloudWatchEvent)) events.CloudWatchEvent { e := good; f(&e); return e }
	cases := []struct {
		name    string
		ev      events.CloudWatchEvent
		wantErr string
	}{
		{"other detail-type", with(func(e *events.CloudWatchEvent) { e.DetailType = "EC2 Instance State-change Notification" }), "is not"},
		{"no detail", with(func(e *events.CloudWatchEvent) { e.Detail = nil }), "no detail"},
		{"truncated detail", with(func(e *events.CloudWatchEvent) { e.Detail = e.Detail[:20] }), "detail"},
		{"no repository", with(func(e *events.CloudWatchEvent) {
			e.Detail = json.RawMessage(`{"event":"referenceUpdated","referenceType":"branch","referenceFullName":"refs/heads/x","commitId":"` + sha1 + `"}`)
		}), "repositoryName missing"},
		{"commit not a sha", with(func(e *events.CloudWatchEvent) {
			e.Detail = json.RawMessage(`{"event":"referenceUpdated","repositoryName":"r","referenceType":"branch","referenceFullName":"refs/heads/x","commitId":"abc"}`)
		}), "not a commit id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := trigger.ParseCodeCommit(c.ev)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
			}
			if !domain.IsKind(err, domain.Invalid) {
				t.Errorf("kind = %s, want Invalid", domain.KindOf(err))
			}
		})
	}
}

// TestCodeCommitEventHasTheDocumentedShape: local mode's events must read exactly like
// AWS's, so the same handler serves both.
func TestCodeCommitEventHasTheDocumentedShape(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		name, ref, old, new string
		wantEvent, wantType string
		wantIgnored         string
	}{
		{"created", "refs/heads/main", zeros, sha1, "referenceCreated", "branch", ""},
		{"created, empty old", "refs/heads/main", "", sha1, "referenceCreated", "branch", ""},
		{"updated", "refs/heads/main", sha2, sha1, "referenceUpdated", "branch", ""},
		{"deleted", "refs/heads/main", sha2, zeros, "referenceDeleted", "branch", "branch main deleted"},
		{"tag", "refs/tags/v1", "", sha1, "referenceCreated", "tag", "tag v1 (tags do not start runs)"},
		{"other ref", "refs/notes/commits", "", sha1, "referenceCreated", "other", `reference "refs/notes/commits" (type "other") is not a branch`},
	}
	doc := loadEvent(t, "codecommit-reference-updated.json")
	var docDetail map[string]any
	json.Unmarshal(doc.Detail, &docDetail)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := trigger.CodeCommitEvent("/repos/app", c.ref, c.old, c.new, "dev@example.com", at)
			if ev.DetailType != doc.DetailType || ev.Source != doc.Source || ev.Version != doc.Version {
				t.Errorf("envelope (%q, %q, %q), want (%q, %q, %q)", ev.DetailType, ev.Source, ev.Version, doc.DetailType, doc.Source, doc.Version)
			}
			var d map[string]any
			if err := json.Unmarshal(ev.Detail, &d); err != nil {
				t.Fatal(err)
			}
			for k := range d {
				if _, ok := docDetail[k]; !ok {
					t.Errorf("detail field %q is not in the documented event", k)
				}
			}
			if d["event"] != c.wantEvent || d["referenceType"] != c.wantType {
				t.Errorf("event %v type %v, want %s %s", d["event"], d["referenceType"], c.wantEvent, c.wantType)
			}
			if ev.ID != trigger.CodeCommitEvent("/repos/app", c.ref, c.old, c.new, "x", at.Add(time.Hour)).ID {
				t.Error("event id differs for the same change")
			}
			parsed, err := trigger.ParseCodeCommit(ev)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Ignored != c.wantIgnored {
				t.Errorf("Ignored = %q, want %q", parsed.Ignored, c.wantIgnored)
			}
			if c.wantIgnored == "" && (parsed.Push.Commit != c.new || parsed.Push.Repository != "/repos/app" || !parsed.Push.ReceivedAt.Equal(at)) {
				t.Errorf("round trip lost data: %+v", parsed.Push)
			}
		})
	}
}

// The pusher's email is what self-approval is checked against (approvers are emails), so
// a caller known by an address, plainly (local mode: the committer's email) or as an ARN's
// user or session name, has it filled in.
func TestCodeCommitCallerIdentityFillsEmail(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		name, caller string
		want         domain.Identity
	}{
		{"local committer email", "Dev@Example.com", domain.Identity{Login: "Dev@Example.com", Email: "Dev@Example.com"}},
		{"assumed-role session named by email", "arn:aws:sts::123456789012:assumed-role/Developers/ana@example.com",
			domain.Identity{Login: "arn:aws:sts::123456789012:assumed-role/Developers/ana@example.com", Name: "ana@example.com", Email: "ana@example.com"}},
		{"IAM user named by email", "arn:aws:iam::123456789012:user/bo@example.com",
			domain.Identity{Login: "arn:aws:iam::123456789012:user/bo@example.com", Name: "bo@example.com", Email: "bo@example.com"}},
		{"IAM user not named by email", "arn:aws:iam::123456789012:user/Mary_Major",
			domain.Identity{Login: "arn:aws:iam::123456789012:user/Mary_Major", Name: "Mary_Major"}},
		{"plain name", "dev", domain.Identity{Login: "dev"}},
		{"at sign without a domain", "arn:aws:iam::1:user/dev@", domain.Identity{Login: "arn:aws:iam::1:user/dev@", Name: "dev@"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := trigger.ParseCodeCommit(trigger.CodeCommitEvent("/repos/app", "refs/heads/main", sha2, sha1, c.caller, at))
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.Push.Pusher; got != c.want {
				t.Errorf("pusher: got %+v, want %+v", got, c.want)
			}
		})
	}
}
