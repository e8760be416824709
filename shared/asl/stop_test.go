package asl

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// A token whose execution was stopped before its driver parked on it (the handler that
// received it has not returned yet) is dead: a heartbeat or an answer to it is
// TaskTimedOut, as for a stopped execution that waits, and does not revive it.
func TestTokenOfAnExecutionStoppedBeforeItParked(t *testing.T) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		o := Options{}
		if durable {
			name, o.Path = "durable", t.TempDir()
		}
		t.Run(name, func(t *testing.T) {
			e, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			tokens, release := make(chan string, 1), make(chan struct{})
			e.RegisterFunction(fnARN+"ask", lambda.NewHandler(func(ctx context.Context, in struct {
				Token string `json:"token"`
			}) (string, error) {
				tokens <- in.Token
				<-release // the driver parks only once the handler has returned
				return "asked", nil
			}))
			ctx := context.Background()
			arn, err := e.CreateStateMachine(ctx, "cb", []byte(callbackDef))
			if err != nil {
				t.Fatal(err)
			}
			run, err := e.StartExecution(ctx, arn, "run", []byte(`{"who":"ana"}`))
			if err != nil {
				t.Fatal(err)
			}
			var tok string
			select {
			case tok = <-tokens:
			case <-time.After(5 * time.Second):
				t.Fatal("no task token")
			}
			if _, err := e.StopExecution(ctx, run.ExecutionARN, "Cancelled", "by test"); err != nil {
				t.Fatal(err)
			}
			hbErr := e.SendTaskHeartbeat(ctx, tok)
			err = e.SendTaskSuccess(ctx, tok, []byte(`{}`))
			close(release)
			if ErrorCode(hbErr) != "TaskTimedOut" {
				t.Errorf("a heartbeat on the token of a stopped execution: %v, want TaskTimedOut", hbErr)
			}
			if ErrorCode(err) != "TaskTimedOut" {
				t.Fatalf("answering the token of a stopped execution: %v, want TaskTimedOut", err)
			}
			d, err := e.WaitExecution(ctx, run.ExecutionARN)
			if err != nil || d.Status != StatusAborted {
				t.Fatalf("execution = %+v, %v; want it aborted", d, err)
			}
		})
	}
}
