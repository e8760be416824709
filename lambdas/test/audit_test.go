package test_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/shipgate/shipgate/lambdas/test"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// With the default wiring (New), the stage's records land in the audit table on dynalite.
func TestTestStageWithRealAuditTrail(t *testing.T) {
	st := kittest.Start(t, true)
	state := built(t, st, "audited", "test:\n  commands: [\"true\"]")
	h, err := test.New(st.Config(), st.Deps())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(context.Background(), state); err != nil {
		t.Fatal(err)
	}
	page, err := audit.NewDynamo(st.DynamoDB, kittest.Table).Query(context.Background(), audit.Filter{Pipeline: kittest.Pipeline, Run: "audited"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Records {
		got = append(got, string(e.Type)+":"+e.Stage+":"+e.Outcome)
	}
	if want := []string{"stage.started:test:", "stage.finished:test:succeeded"}; !reflect.DeepEqual(got, want) {
		t.Errorf("records = %v, want %v", got, want)
	}
}
