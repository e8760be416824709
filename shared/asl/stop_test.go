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
			run, tok := startForToken(t, e, callbackDef, tokens)
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

// An execution whose time ran out while the engine was closed times out when it opens
// again, and its task token dies with it: the token is registered again on Open, maybe
// after the timeout has fired.
func TestTokenOfAnExecutionThatTimedOutWhileClosed(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Engine, chan string) {
		e, err := Open(Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		return e, tokenCatcher(e)
	}
	e, tokens := open()
	ctx := context.Background()
	def := `{"TimeoutSeconds":1,"StartAt":"Ask","States":{
		"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},"End":true}}}`
	run, tok := startForToken(t, e, def, tokens)
	// Parked on the token (its checkpoint written), then closed past the deadline.
	waitParked(t, e, run.ExecutionARN)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	e, _ = open()
	defer e.Close()
	d, err := e.WaitExecution(ctx, run.ExecutionARN)
	if err != nil || d.Status != StatusTimedOut {
		t.Fatalf("execution = %+v, %v; want it timed out", d, err)
	}
	if err := e.SendTaskHeartbeat(ctx, tok); ErrorCode(err) != "TaskTimedOut" {
		t.Errorf("a heartbeat on the token of a timed-out execution: %v, want TaskTimedOut", err)
	}
	if err := e.SendTaskSuccess(ctx, tok, []byte(`{}`)); ErrorCode(err) != "TaskTimedOut" {
		t.Errorf("answering the token of a timed-out execution: %v, want TaskTimedOut", err)
	}
}

// waitParked waits until the execution's driver has parked on its task (the checkpoint
// that records the wait is written first).
func waitParked(t *testing.T, e *Engine, arn string) {
	t.Helper()
	x, err := e.getExec(arn)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		x.mu.Lock()
		parked := x.parked != nil
		x.mu.Unlock()
		if parked {
			return
		}
	}
	t.Fatal("the execution did not park on its task")
}

// startForToken starts an execution of def and waits for the task token its handler
// sends on tokens.
func startForToken(t *testing.T, e *Engine, def string, tokens chan string) (StartResult, string) {
	t.Helper()
	ctx := context.Background()
	arn, err := e.CreateStateMachine(ctx, "sm", []byte(def))
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.StartExecution(ctx, arn, "run", []byte(`{"who":"ana"}`))
	if err != nil {
		t.Fatal(err)
	}
	return run, waitToken(t, tokens)
}
