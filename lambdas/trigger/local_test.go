package trigger_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	lambdatrigger "github.com/shipgate/shipgate/lambdas/trigger"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/gittest"
	"github.com/shipgate/shipgate/shared/gitwatch"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

// TestLocalGitPushStartsOneRunThroughTheSameHandler is local mode's trigger path end to
// end: a real `git push` into a bare repository, the git watcher, the CodeCommit-shaped
// event, this Lambda's handler, the local Step Functions engine. Two pushed commits make
// one run carrying both; a tag and a branch deletion are recorded, not run.
func TestLocalGitPushStartsOneRunThroughTheSameHandler(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	bare, work := filepath.Join(root, "app.git"), filepath.Join(root, "work")
	gittest.Git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	gittest.Git(t, root, "init", "-q", "-b", "main", work)
	gittest.Git(t, work, "remote", "add", "origin", bare)

	eng := triggertest.NewEngine(t, "shipgate")
	smARN := eng.StateMachineARN
	rec := &triggertest.Audit{}
	h, err := lambdatrigger.NewWithOptions(app.Config{Pipeline: "demo", Table: "shipgate", StateMachineARN: smARN},
		&app.Deps{DynamoDB: newDB(t, "shipgate"), SFN: eng.SFN}, trigger.LocalOptions(rec))
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan trigger.Result, 10)
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, Interval: 50 * time.Millisecond,
		OnChange: func(c gitwatch.Change) error {
			res, err := h.Handle(ctx, trigger.CodeCommitEvent(bare, c.Ref, c.Old, c.New, "dev@example.com", time.Now()))
			if err != nil {
				t.Errorf("handle %+v: %v", c, err)
			}
			results <- res
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.Run(wctx)
	next := func(what string) trigger.Result {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no trigger result within 10s", what)
			return trigger.Result{}
		}
	}

	os.WriteFile(filepath.Join(work, "a.txt"), []byte("a"), 0o644)
	gittest.Git(t, work, "add", ".")
	gittest.Git(t, work, "commit", "-q", "-m", "first")
	os.WriteFile(filepath.Join(work, "b.txt"), []byte("b"), 0o644)
	gittest.Git(t, work, "add", ".")
	gittest.Git(t, work, "commit", "-q", "-m", "second")
	head := gittest.Git(t, work, "rev-parse", "HEAD")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	if r := next("push"); r.Outcome != trigger.Started || r.RunID != trigger.ExecutionName(bare, "refs/heads/main", head) {
		t.Fatalf("push: %+v", r)
	}
	execs, err := eng.ListExecutions(ctx, smARN, "")
	if err != nil || len(execs) != 1 {
		t.Fatalf("executions %d (%v), want 1", len(execs), err)
	}
	desc, err := eng.DescribeExecution(ctx, execs[0].ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ Run domain.Run }
	if err := json.Unmarshal([]byte(desc.Input), &in); err != nil {
		t.Fatalf("execution input %q: %v", desc.Input, err)
	}
	p := in.Run.Push
	if p.Provider != domain.ProviderLocal || p.CloneURL != bare || p.Commit != head || p.Message != "second" ||
		len(p.Commits) != 2 || p.Commits[0].Message != "first" || p.Pusher.Login != "dev@example.com" {
		t.Errorf("run push = %+v", p)
	}

	gittest.Git(t, work, "tag", "v1")
	gittest.Git(t, work, "push", "-q", "origin", "v1")
	if r := next("tag"); r.Outcome != trigger.Skipped || r.Reason != "tag v1 (tags do not start runs)" {
		t.Errorf("tag: %+v", r)
	}
	gittest.Git(t, work, "push", "-q", "origin", "main:doomed")
	if r := next("new branch"); r.Outcome != trigger.Started {
		t.Errorf("new branch: %+v", r)
	}
	gittest.Git(t, work, "push", "-q", "origin", ":doomed")
	if r := next("delete"); r.Outcome != trigger.Skipped || r.Reason != "branch doomed deleted" {
		t.Errorf("branch deletion: %+v", r)
	}
	if got := len(rec.Records(domain.RecPushSkipped)); got != 2 {
		t.Errorf("%d push.skipped records, want 2 (tag, deletion)", got)
	}
}
