package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

func TestStartStartsOneExecutionWithTheRunAsInput(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	p := push("acme/app", "main", sha1)
	p.DeliveryID = "d-1"
	res, err := e.svc.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	name := trigger.ExecutionName("acme/app", "refs/heads/main", sha1)
	if res.Outcome != trigger.Started || res.RunID != name || !strings.HasSuffix(res.ExecutionARN, ":"+name) {
		t.Fatalf("result %+v, want started run %s", res, name)
	}
	execs := e.sfn.Executions()
	if len(execs) != 1 {
		t.Fatalf("%d executions, want 1", len(execs))
	}
	var in struct{ Run domain.Run }
	if err := json.Unmarshal([]byte(execs[0].Input), &in); err != nil {
		t.Fatalf("execution input %s: %v", execs[0].Input, err)
	}
	if in.Run.ID != name || in.Run.Pipeline != "demo" || in.Run.Push.Commit != sha1 || in.Run.Push.DeliveryID != "d-1" ||
		in.Run.Push.ReceivedAt.IsZero() || in.Run.Push.Pusher.Login != "octocat" {
		t.Errorf("execution input run = %+v", in.Run)
	}
	recs := e.audit.Records()
	if len(recs) != 1 || recs[0].Type != domain.RecRunStarted {
		t.Fatalf("audit = %+v, want one run.started", recs)
	}
	r := recs[0]
	if r.RunID != name || r.Commit != sha1 || r.Actor != "octocat" || r.Pipeline != "demo" || !r.Time.Equal(in.Run.Push.ReceivedAt) {
		t.Errorf("run.started = %+v", r)
	}
	if r.Detail["executionArn"] != res.ExecutionARN || r.Detail["deliveryId"] != "d-1" {
		t.Errorf("run.started detail = %v", r.Detail)
	}
}

// TestConcurrentIdenticalDeliveriesStartOneRun is the exactly-once proof: 100 deliveries
// of one push at once, each received at a different time, give one execution and one
// run.started record; the other 99 are recorded as duplicates. It runs with the in-memory
// audit recorder and with the real audit store on the same dynalite table.
func TestConcurrentIdenticalDeliveriesStartOneRun(t *testing.T) {
	for _, store := range []string{"memory audit", "dynamo audit"} {
		t.Run(store, func(t *testing.T) {
			var o trigger.Options
			var real *audit.Dynamo
			tbl := ""
			if store == "dynamo audit" {
				// The audit store needs the table before the service exists.
				tbl = newTable(t)
				real = audit.NewDynamo(ddb, tbl)
				o.Audit = real
			}
			e := newEnv(t, app.Config{}, o)
			if real != nil {
				// Rebuild the service on the audit store's table.
				svc, err := trigger.New(app.Config{Pipeline: "demo", Table: tbl, StateMachineARN: triggertest.StateMachineARN},
					&app.Deps{DynamoDB: ddb, Now: e.clock.now}, trigger.Options{Audit: real, SFN: e.sfn.Client()})
				if err != nil {
					t.Fatal(err)
				}
				e.svc = svc
			}
			const n = 100
			results := make([]trigger.Result, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					p := push("acme/app", "main", sha1)
					p.DeliveryID = "same-delivery"
					<-start
					results[i], errs[i] = e.svc.Start(context.Background(), p)
				}(i)
			}
			close(start)
			wg.Wait()
			started := 0
			for i := range results {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				if results[i].RunID != results[0].RunID || results[i].ExecutionARN != results[0].ExecutionARN {
					t.Errorf("delivery %d: run %s (%s), delivery 0: %s (%s)", i, results[i].RunID, results[i].ExecutionARN, results[0].RunID, results[0].ExecutionARN)
				}
				if results[i].Outcome == trigger.Started {
					started++
				}
			}
			if started != 1 {
				t.Errorf("%d deliveries report started, want 1", started)
			}
			execs := e.sfn.Executions()
			if len(execs) != 1 || execs[0].Calls != n {
				t.Fatalf("executions %+v, want 1 reached by all %d calls", execs, n)
			}
			var got map[domain.RecordType]int
			if real != nil {
				got = countDynamo(t, real)
			} else {
				got = map[domain.RecordType]int{}
				for _, r := range e.audit.Records() {
					got[r.Type]++
				}
			}
			if got[domain.RecRunStarted] != 1 || got[domain.RecPushDuplicate] != n-1 {
				t.Errorf("audit records %v, want 1 run.started and %d push.duplicate", got, n-1)
			}
		})
	}
}

func countDynamo(t *testing.T, q audit.Querier) map[domain.RecordType]int {
	t.Helper()
	got := map[domain.RecordType]int{}
	f := audit.Filter{Pipeline: "demo", Limit: audit.MaxLimit}
	for {
		page, err := q.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			got[r.Type]++
		}
		if page.Next == "" {
			return got
		}
		f.PageToken = page.Next
	}
}

func TestRedeliveryAfterTheRunEndedStartsNothing(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	ctx := context.Background()
	first, err := e.svc.Start(ctx, push("acme/app", "main", sha1))
	if err != nil {
		t.Fatal(err)
	}
	e.sfn.End(first.RunID)
	again, err := e.svc.Start(ctx, push("acme/app", "main", sha1))
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcome != trigger.Duplicate || again.RunID != first.RunID || again.Reason != "redelivery after the run ended" {
		t.Errorf("redelivery result %+v", again)
	}
	if execs := e.sfn.Executions(); len(execs) != 1 || execs[0].Calls != 1 {
		t.Errorf("executions %+v, want the first one only", execs)
	}
	dups := e.audit.Records(domain.RecPushDuplicate)
	if len(dups) != 1 || dups[0].RunID != first.RunID || dups[0].Detail["reason"] != "redelivery after the run ended" {
		t.Errorf("push.duplicate records %+v", dups)
	}
	if n := len(e.audit.Records(domain.RecRunStarted)); n != 1 {
		t.Errorf("%d run.started records, want 1", n)
	}
}

func TestSameCommitOnAnotherBranchIsAnotherRun(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	a, err := e.svc.Start(context.Background(), push("acme/app", "main", sha1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Start(context.Background(), push("acme/app", "release/1", sha1))
	if err != nil {
		t.Fatal(err)
	}
	if a.Outcome != trigger.Started || b.Outcome != trigger.Started || a.RunID == b.RunID {
		t.Errorf("results %+v and %+v, want two started runs", a, b)
	}
}

func TestConfigurationFiltersAreRecordedAsSkipped(t *testing.T) {
	cases := []struct {
		name       string
		cfg        app.Config
		push       domain.Push
		wantReason string
	}{
		{"branch outside globs", app.Config{Branches: []string{"main", "release/*"}}, push("acme/app", "feature/x", sha1),
			`branch "feature/x" matches none of the configured branches [main release/*]`},
		{"other repository", app.Config{Repository: "acme/app"}, push("acme/other", "main", sha1),
			`repository "acme/other" is not this pipeline's ("acme/app")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.cfg, trigger.Options{})
			res, err := e.svc.Start(context.Background(), c.push)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != trigger.Skipped || res.Reason != c.wantReason {
				t.Errorf("result %+v, want skipped: %s", res, c.wantReason)
			}
			if n := len(e.sfn.Executions()); n != 0 {
				t.Errorf("%d executions started", n)
			}
			recs := e.audit.Records()
			if len(recs) != 1 || recs[0].Type != domain.RecPushSkipped || recs[0].Detail["reason"] != c.wantReason ||
				recs[0].Commit != sha1 || recs[0].Actor != "octocat" {
				t.Errorf("audit %+v, want one push.skipped with the reason", recs)
			}
		})
	}
}

func TestIgnoredEventsAreRecorded(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	p := domain.Push{Provider: domain.ProviderGitHub, Repository: "acme/app", Ref: "refs/tags/v1", Pusher: domain.Identity{Login: "octocat"}}
	res, err := e.svc.Handle(context.Background(), trigger.Event{Push: p, Ignored: "tag v1 (tags do not start runs)"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Skipped {
		t.Errorf("outcome %s, want skipped", res.Outcome)
	}
	recs := e.audit.Records(domain.RecPushSkipped)
	if len(recs) != 1 || recs[0].Detail["reason"] != "tag v1 (tags do not start runs)" || recs[0].Detail["ref"] != "refs/tags/v1" {
		t.Errorf("push.skipped records %+v", recs)
	}
}

func TestAuditFailureLeavesTheRunStartedRecordToTheNextDelivery(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	ctx := context.Background()
	e.audit.Fail = errors.New("audit table unavailable")
	if _, err := e.svc.Start(ctx, push("acme/app", "main", sha1)); err == nil || !strings.Contains(err.Error(), "audit table unavailable") {
		t.Fatalf("err = %v, want the audit failure", err)
	}
	e.audit.Fail = nil
	res, err := e.svc.Start(ctx, push("acme/app", "main", sha1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Started {
		t.Errorf("redelivery outcome %s, want started (it writes the record the first one could not)", res.Outcome)
	}
	if n := len(e.audit.Records(domain.RecRunStarted)); n != 1 {
		t.Errorf("%d run.started records, want 1", n)
	}
	// The failed delivery started nothing (no run without its record); the redelivery
	// started the one execution.
	if execs := e.sfn.Executions(); len(execs) != 1 || execs[0].Calls != 1 {
		t.Errorf("executions %+v, want one, started by the redelivery", execs)
	}
}

func TestRedeliveryReusesTheFirstDeliverysInput(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	ctx := context.Background()
	p := push("acme/app", "main", sha1)
	p.DeliveryID = "first"
	if _, err := e.svc.Start(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.DeliveryID, p.Message = "second", "a different message would change the input"
	res, err := e.svc.Start(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Duplicate {
		t.Errorf("outcome %s, want duplicate (same execution)", res.Outcome)
	}
	dup := e.audit.Records(domain.RecPushDuplicate)
	if len(dup) != 1 || dup[0].Detail["deliveryId"] != "first" {
		t.Errorf("duplicate record %+v, want it to describe the claimed push", dup)
	}
	out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: trigger.ClaimKey(res.RunID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		t.Fatal("no claim item")
	}
}

func TestHugePushFitsStepFunctionsLimits(t *testing.T) {
	e := newEnv(t, app.Config{}, trigger.Options{})
	p := push("acme/app", "main", sha1)
	p.Message = strings.Repeat("ä", 100<<10)
	files := make([]string, 5000)
	for i := range files {
		files[i] = strings.Repeat("dir/", 20) + "file.go"
	}
	for i := 0; i < 10000; i++ {
		p.Commits = append(p.Commits, domain.Commit{ID: sha2, Message: strings.Repeat("m", 10<<10), Added: files, Modified: files})
	}
	res, err := e.svc.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Started {
		t.Fatalf("outcome %s", res.Outcome)
	}
	in := e.sfn.Executions()[0].Input
	if len(in) > 256<<10 {
		t.Errorf("input is %d bytes, over Step Functions' 256 KiB", len(in))
	}
	var got struct{ Run domain.Run }
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Run.Push.CommitsTruncated || len(got.Run.Push.Commits) == 0 || len(got.Run.Push.Commits) > domain.MaxPushCommits {
		t.Errorf("%d commits, truncated %v: want some, at most %d, flagged", len(got.Run.Push.Commits), got.Run.Push.CommitsTruncated, domain.MaxPushCommits)
	}
	if strings.ContainsRune(got.Run.Push.Message, '\uFFFD') {
		t.Error("message truncation split a rune")
	}
}

func TestStartRefusesPushesThatCannotBeRuns(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*domain.Push)
		wantErr string
	}{
		{"no repository", func(p *domain.Push) { p.Repository = "" }, "repository missing"},
		{"tag ref", func(p *domain.Push) { p.Ref, p.Branch = "refs/tags/v1", "" }, "is not a branch"},
		{"short commit", func(p *domain.Push) { p.Commit = "6113728" }, "not a 40- or 64-hex"},
		{"zero commit", func(p *domain.Push) { p.Commit = zeros }, "not a 40- or 64-hex"},
		{"giant branch name", func(p *domain.Push) { p.Branch = strings.Repeat("b", 300<<10); p.Ref = "refs/heads/" + p.Branch }, "over the 204800-byte execution input budget"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, app.Config{}, trigger.Options{})
			p := push("acme/app", "main", sha1)
			c.mutate(&p)
			_, err := e.svc.Start(context.Background(), p)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !domain.IsKind(err, domain.Invalid) {
				t.Fatalf("err = %v, want Invalid containing %q", err, c.wantErr)
			}
			if len(e.sfn.Executions()) != 0 || len(e.audit.Records()) != 0 {
				t.Error("a refused push left an execution or a record")
			}
		})
	}
}

func TestNewNamesWhatIsMissing(t *testing.T) {
	cases := []struct {
		name string
		cfg  app.Config
		deps *app.Deps
		o    trigger.Options
		want string
	}{
		{"nothing", app.Config{}, nil, trigger.Options{}, "missing pipeline name (SHIPGATE_PIPELINE), table name (SHIPGATE_TABLE), state machine ARN (SHIPGATE_STATE_MACHINE), Step Functions client, DynamoDB client, audit store"},
		{"no audit", app.Config{Pipeline: "p", Table: "t", StateMachineARN: "arn"}, &app.Deps{DynamoDB: ddb}, trigger.Options{SFN: (&triggertest.SFN{}).Client()}, "missing audit store"},
		{"empty glob", app.Config{Pipeline: "p", Table: "t", StateMachineARN: "arn", Branches: []string{" "}}, nil, trigger.Options{}, "empty branch glob"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := trigger.New(c.cfg, c.deps, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestLateRedeliveryStartsNothingEvenIfStepFunctionsForgotTheName: execution names are
// unique for 90 days only, so a redelivery long after the push must not reach
// StartExecution at all.
func TestLateRedeliveryStartsNothingEvenIfStepFunctionsForgotTheName(t *testing.T) {
	now := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	cfg := app.Config{Pipeline: "demo", StateMachineARN: triggertest.StateMachineARN}
	e := newEnv(t, cfg, trigger.Options{})
	cfg.Table = e.table
	ctx := context.Background()
	p := push("acme/app", "main", sha1)
	p.ReceivedAt = now
	first, err := e.svc.Start(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	e.sfn.Forget(first.RunID)
	late, err := trigger.New(cfg, &app.Deps{DynamoDB: ddb, Now: func() time.Time { return now.Add(100 * 24 * time.Hour) }},
		trigger.Options{Audit: e.audit, SFN: e.sfn.Client()})
	if err != nil {
		t.Fatal(err)
	}
	p.ReceivedAt = time.Time{}
	res, err := late.Start(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Duplicate || res.Reason != "redelivery 100 days after the push was received" {
		t.Errorf("late redelivery: %+v", res)
	}
	if n := len(e.sfn.Executions()); n != 0 {
		t.Errorf("%d executions: the late redelivery started the push again", n)
	}
}
