package deploy_test

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/deploy"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// The state as it reaches Deploy after a resumed approval ($.approval set by the
// RequestApproval task): without a decision recorded in the table the deploy refuses,
// whatever the state claims. Invoked through aws-lambda-go's handler, so the error's
// type name is what the state machine's Catch sees.
func TestResumedStateWithoutRecordedDecisionIsRefused(t *testing.T) {
	st := kittest.Start(t, true)
	ev, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	h, err := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lambda.NewHandler(h.Handle).Invoke(context.Background(), ev)
	if err == nil || reflect.TypeOf(err).Elem().Name() != "DecisionMissing" {
		t.Fatalf("error = %T %v, want DecisionMissing", err, err)
	}
}
