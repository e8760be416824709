package trigger_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

// TestParseGitHubRealPushPayloads runs every push example of @octokit/webhooks-examples
// through the parser: branch pushes become runs with every field the run needs, tag
// pushes and deletions are ignored with a reason.
func TestParseGitHubRealPushPayloads(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	examples := triggertest.GitHubExamples(t, "push")
	if len(examples) < 3 {
		t.Fatalf("only %d push examples: the package changed shape?", len(examples))
	}
	var branchPushes int
	for i, body := range examples {
		var raw struct {
			Ref, After string
			Deleted    bool
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		t.Run(raw.Ref+"/"+raw.After[:7], func(t *testing.T) {
			ev, err := trigger.ParseGitHub("push", body, "delivery-1", at)
			if err != nil {
				t.Fatalf("example %d: %v", i, err)
			}
			switch {
			case strings.HasPrefix(raw.Ref, "refs/tags/"):
				if !strings.HasPrefix(ev.Ignored, "tag ") {
					t.Errorf("tag push: Ignored = %q, want a tag reason", ev.Ignored)
				}
			case raw.Deleted:
				if !strings.Contains(ev.Ignored, "deleted") {
					t.Errorf("deletion: Ignored = %q, want a deletion reason", ev.Ignored)
				}
			default:
				branchPushes++
				if ev.Ignored != "" {
					t.Fatalf("branch push ignored: %s", ev.Ignored)
				}
				p := ev.Push
				want := domain.Push{
					Provider: domain.ProviderGitHub, Repository: "Codertocat/Hello-World",
					CloneURL: "https://github.com/Codertocat/Hello-World.git",
					Ref:      "refs/heads/master", Branch: "master", Commit: raw.After,
					ReceivedAt: at, DeliveryID: "delivery-1",
				}
				for _, c := range []struct{ field, got, want string }{
					{"provider", string(p.Provider), string(want.Provider)},
					{"repository", p.Repository, want.Repository},
					{"cloneUrl", p.CloneURL, want.CloneURL},
					{"ref", p.Ref, want.Ref},
					{"branch", p.Branch, want.Branch},
					{"commit", p.Commit, want.Commit},
					{"deliveryId", p.DeliveryID, want.DeliveryID},
					{"pusher login", p.Pusher.Login, "Codertocat"},
					{"pusher email", p.Pusher.Email, "21031067+Codertocat@users.noreply.github.com"},
				} {
					if c.got != c.want {
						t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
					}
				}
				if !p.ReceivedAt.Equal(at) {
					t.Errorf("receivedAt = %v, want %v", p.ReceivedAt, at)
				}
				if p.Message == "" || p.CompareURL == "" || len(p.Commits) == 0 {
					t.Errorf("message %q, compare %q, %d commits: want all present", p.Message, p.CompareURL, len(p.Commits))
				}
				if len(p.Commits) > 0 && p.Commits[len(p.Commits)-1].ID != raw.After {
					t.Errorf("last commit = %s, want the head %s", p.Commits[len(p.Commits)-1].ID, raw.After)
				}
			}
		})
	}
	if branchPushes == 0 {
		t.Error("no branch push among the examples")
	}
}

func TestParseGitHubOtherEventsAreIgnoredWithTheirRepository(t *testing.T) {
	for _, event := range []string{"create", "delete", "pull_request", "release"} {
		t.Run(event, func(t *testing.T) {
			body := triggertest.GitHubExamples(t, event)[0]
			ev, err := trigger.ParseGitHub(event, body, "d", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if want := `event "` + event + `" is not a push`; ev.Ignored != want {
				t.Errorf("Ignored = %q, want %q", ev.Ignored, want)
			}
			if ev.Push.Repository == "" {
				t.Error("repository not carried into the skip record")
			}
		})
	}
}

func TestParseGitHubRefusesBrokenPushes(t *testing.T) {
	cases := []struct{ name, body, wantErr string }{
		{"truncated json", `{"ref":"refs/heads/main","after":"` + sha1, "push payload"},
		{"null repository", `{"ref":"refs/heads/main","after":"` + sha1 + `","repository":null}`, "repository.full_name missing"},
		{"no ref", `{"after":"` + sha1 + `","repository":{"full_name":"a/b"}}`, "ref missing"},
		{"after not a sha", `{"ref":"refs/heads/main","after":"HEAD","repository":{"full_name":"a/b"}}`, "not a commit id"},
		{"wrong types", `{"ref":1,"repository":{"full_name":"a/b"}}`, "push payload"},
		{"not an object", `[]`, "push payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := trigger.ParseGitHub("push", []byte(c.body), "d", time.Now())
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
			}
			if !domain.IsKind(err, domain.Invalid) {
				t.Errorf("kind = %s, want Invalid", domain.KindOf(err))
			}
		})
	}
}

func TestParseGitHubCapsCommitsKeepingTheNewest(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"ref":"refs/heads/main","after":"` + sha1 + `","repository":{"full_name":"a/b"},"commits":[`)
	for i := 0; i < 10000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"id":"c` + strings.Repeat("0", 4) + `","message":"m"}`)
	}
	b.WriteString(`,{"id":"` + sha1 + `","message":"head"}]}`)
	ev, err := trigger.ParseGitHub("push", []byte(b.String()), "d", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ev.Push.Commits); got != domain.MaxPushCommits {
		t.Errorf("%d commits kept, want %d", got, domain.MaxPushCommits)
	}
	if !ev.Push.CommitsTruncated {
		t.Error("CommitsTruncated = false, want true")
	}
	if last := ev.Push.Commits[len(ev.Push.Commits)-1]; last.ID != sha1 {
		t.Errorf("newest commit dropped: last kept is %s", last.ID)
	}
}
