package trigger_test

import (
	"context"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

// TestExactlyOnceAgainstTheLocalEngine repeats the exactly-once proof against shipgate's
// own Step Functions engine (its API served over HTTP, the real SDK client in front): 100
// concurrent deliveries make one execution; after the run ends a redelivery starts
// nothing and is recorded.
func TestExactlyOnceAgainstTheLocalEngine(t *testing.T) {
	ctx := context.Background()
	// A run that stays open until the test stops it, as a run waiting at the gate does.
	eng := triggertest.NewEngine(t, "shipgate-test")
	smARN := eng.StateMachineARN
	rec := &triggertest.Audit{}
	c := &clock{}
	svc, err := trigger.New(app.Config{Pipeline: "demo", Table: newTable(t), StateMachineARN: smARN},
		&app.Deps{DynamoDB: ddb, SFN: eng.SFN, Now: c.now}, trigger.Options{Audit: rec})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = svc.Start(ctx, push("acme/app", "main", sha1))
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	execs, err := eng.ListExecutions(ctx, smARN, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(execs) != 1 {
		t.Fatalf("%d executions, want 1", len(execs))
	}
	if got := len(rec.Records(domain.RecRunStarted)); got != 1 {
		t.Errorf("%d run.started records, want 1", got)
	}
	if got := len(rec.Records(domain.RecPushDuplicate)); got != n-1 {
		t.Errorf("%d push.duplicate records, want %d", got, n-1)
	}

	arn := eng.ExecutionARNFor("shipgate-test", trigger.ExecutionName("acme/app", "refs/heads/main", sha1))
	if _, err := eng.StopExecution(ctx, arn, "Ended", "the run ended"); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Start(ctx, push("acme/app", "main", sha1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Duplicate || res.Reason != "redelivery after the run ended" {
		t.Errorf("redelivery after the end: %+v", res)
	}
	if execs, _ := eng.ListExecutions(ctx, smARN, ""); len(execs) != 1 {
		t.Errorf("%d executions after the redelivery, want 1", len(execs))
	}
}
