package trigger_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

// Run a target with a count budget, e.g.
//
//	go test -run '^$' -fuzz '^FuzzParseGitHub$' -fuzztime=30000x -fuzzminimizetime=3s ./shared/trigger/
//
// A wall-clock -fuzztime on go1.26 can end in a spurious "context deadline exceeded"
// without any failing input (Go's fuzz coordinator race, golang/go#75804); a count budget
// has no deadline to race. Inputs that once failed stay in testdata/fuzz as regressions.

// manyCommits is a push payload carrying n commits (GitHub sends up to 2,048; the
// parser must cope with more without trouble).
func manyCommits(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"ref":"refs/heads/main","after":"` + sha1 + `","repository":{"full_name":"a/b"},"commits":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"` + sha2 + `","message":"m","added":["x"],"author":{"name":"n"}}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// FuzzParseGitHub: no input panics the parser, and whatever it accepts as a push to
// start is a valid run (branch ref, commit id, repository, capped commits, valid name).
// The seed corpus is testdata/fuzz/FuzzParseGitHub plus the real examples and a
// 10,000-commit push added here.
func FuzzParseGitHub(f *testing.F) {
	f.Add("push", manyCommits(10000))
	f.Add("push", []byte(`{"ref":"refs/heads/main","after":"`+sha1+`","repository":{"full_name":"a/b"},"commits":[null,{},{"author":null}],"head_commit":null,"pusher":null,"sender":null}`))
	examples, _ := triggertest.LoadGitHubExamples("push") // seeds are a bonus: absent is fine
	for _, b := range examples {
		f.Add("push", b)
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := trigger.ParseGitHub(event, body, "d", time.Unix(0, 0))
		if err != nil {
			if !domain.IsKind(err, domain.Invalid) {
				t.Fatalf("error of kind %s, want Invalid: %v", domain.KindOf(err), err)
			}
			return
		}
		if ev.Ignored != "" {
			return
		}
		checkStartable(t, ev.Push)
	})
}

// FuzzParseCodeCommit: the same guarantees for EventBridge's CodeCommit events.
func FuzzParseCodeCommit(f *testing.F) {
	f.Add(trigger.CodeCommitDetailType, []byte(`{"event":"referenceUpdated","repositoryName":"r","referenceType":"branch","referenceFullName":"refs/heads/m","commitId":"`+sha1+`"}`))
	f.Add(trigger.CodeCommitDetailType, []byte(`{"event":"referenceUpdated","repositoryName":"r","referenceType":"branch","referenceName":"m","commitId":"`+sha1+`"}`))
	f.Add(trigger.CodeCommitDetailType, []byte(`null`))
	f.Fuzz(func(t *testing.T, detailType string, detail []byte) {
		ev, err := trigger.ParseCodeCommit(events.CloudWatchEvent{ID: "id", DetailType: detailType, Detail: detail})
		if err != nil {
			if !domain.IsKind(err, domain.Invalid) {
				t.Fatalf("error of kind %s, want Invalid: %v", domain.KindOf(err), err)
			}
			return
		}
		if ev.Ignored == "" {
			checkStartable(t, ev.Push)
		}
	})
}

// FuzzExecutionName: every triple gives a valid, stable name.
func FuzzExecutionName(f *testing.F) {
	f.Add("Codertocat/Hello-World", "refs/heads/master", sha1)
	f.Add("", "", "")
	f.Add("\xff/\xfe", "refs/heads/\x00", strings.Repeat("é", 100))
	f.Fuzz(func(t *testing.T, repo, ref, commit string) {
		n := trigger.ExecutionName(repo, ref, commit)
		if !validName.MatchString(n) {
			t.Fatalf("ExecutionName(%q, %q, %q) = %q: invalid", repo, ref, commit, n)
		}
		if n != trigger.ExecutionName(repo, ref, commit) {
			t.Fatal("not stable")
		}
	})
}

func checkStartable(t *testing.T, p domain.Push) {
	t.Helper()
	if p.Repository == "" || !strings.HasPrefix(p.Ref, "refs/heads/") || p.Branch == "" || len(p.Commit) != 40 && len(p.Commit) != 64 {
		t.Fatalf("accepted a push that cannot be a run: %+v", p)
	}
	if len(p.Commits) > domain.MaxPushCommits {
		t.Fatalf("%d commits kept, cap is %d", len(p.Commits), domain.MaxPushCommits)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Fatalf("push does not encode: %v", err)
	}
	if n := trigger.ExecutionName(p.Repository, p.Ref, p.Commit); !validName.MatchString(n) {
		t.Fatalf("invalid execution name %q", n)
	}
}
