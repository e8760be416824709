package stage_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// With the default wiring (New), the stage's records land in the audit table on dynalite,
// the finished one carrying the manifest digest.
func TestStageWithRealAuditTrail(t *testing.T) {
	st := kittest.Start(t, true)
	state := built(t, st, "audited", makeFiles, "artifacts:\n  - name: app\n    paths: [dist/app.bin]\n")
	h, err := stage.New(st.Config(), st.Deps())
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Handle(context.Background(), state)
	if err != nil {
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
	if want := []string{"stage.started:stage:", "stage.finished:stage:succeeded"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("records = %v, want %v", got, want)
	}
	if d := page.Records[1].Detail["manifestDigest"]; d != out.ManifestDigest {
		t.Errorf("stage.finished manifestDigest = %v, want %s", d, out.ManifestDigest)
	}
}
