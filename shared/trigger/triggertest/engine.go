package triggertest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/shipgate/shipgate/shared/asl"
	"github.com/shipgate/shipgate/shared/awsclient"
)

// GateDefinition is a state machine whose runs wait a day at one state, as a run waiting
// for approval does, so a test sees its executions open until it stops them.
const GateDefinition = `{"StartAt":"Gate","States":{"Gate":{"Type":"Wait","Seconds":86400,"End":true}}}`

// Engine is shipgate's own Step Functions engine holding one GateDefinition state machine,
// with its API served over HTTP on 127.0.0.1 and the real SDK client in front: what the
// trigger meets in local mode.
type Engine struct {
	*asl.Engine
	StateMachineARN string
	SFN             *sfn.Client
}

// NewEngine opens the engine, creates the state machine named name and starts serving;
// all of it stops when the test ends.
func NewEngine(t testing.TB, name string) *Engine {
	t.Helper()
	ctx := context.Background()
	eng, err := asl.Open(asl.Options{})
	if err != nil {
		t.Fatalf("open the local engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	arn, err := eng.CreateStateMachine(ctx, name, []byte(GateDefinition))
	if err != nil {
		t.Fatalf("create state machine %s: %v", name, err)
	}
	srv := httptest.NewServer(eng.Handler())
	t.Cleanup(srv.Close)
	ep := awsclient.Endpoints{StepFunctions: srv.URL}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		t.Fatalf("client config for the local engine: %v", err)
	}
	return &Engine{Engine: eng, StateMachineARN: arn, SFN: awsclient.SFN(cfg, ep)}
}
