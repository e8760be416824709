package asl

import (
	"context"
	"strings"
	"testing"
	"time"
)

// waitPending waits until the virtual clock holds n timers (the execution is waiting).
func waitPending(t *testing.T, clk *VirtualClock, n int) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if clk.Pending() >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("the clock never held %d timers (has %d)", n, clk.Pending())
}

func TestTimeouts(t *testing.T) {
	tokenTask := func(extra string) string {
		return `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + ResourceLambdaInvokeWait + `",
			"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},` + extra + `,
			"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"TaskFailed"},{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Caught"}],"End":true},
			"TaskFailed":{"Type":"Fail","Error":"MatchedTaskFailed"},
			"Caught":{"Type":"Pass","OutputPath":"$.err.Error","End":true}}}`
	}
	tests := []struct {
		name      string
		def       string
		input     string
		timers    int // timers pending once the execution waits
		heartbeat bool
		advance   []time.Duration
		status    string
		output    string
		err       string
	}{
		{name: "token TimeoutSeconds gives States.Timeout, not matched by States.TaskFailed", def: tokenTask(`"TimeoutSeconds":30`), timers: 1,
			advance: []time.Duration{31 * time.Second}, status: StatusSucceeded, output: `"States.Timeout"`},
		{name: "TimeoutSecondsPath", def: tokenTask(`"TimeoutSecondsPath":"$.to"`), input: `{"to":100}`, timers: 1,
			advance: []time.Duration{99 * time.Second, 2 * time.Second}, status: StatusSucceeded, output: `"States.Timeout"`},
		{name: "HeartbeatSeconds gives States.HeartbeatTimeout", def: tokenTask(`"TimeoutSeconds":300,"HeartbeatSeconds":10`), timers: 2,
			advance: []time.Duration{11 * time.Second}, status: StatusSucceeded, output: `"States.HeartbeatTimeout"`},
		{name: "heartbeats keep the task alive until TimeoutSeconds", def: tokenTask(`"TimeoutSeconds":30,"HeartbeatSeconds":10`), timers: 2, heartbeat: true,
			advance: []time.Duration{8 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}, status: StatusSucceeded, output: `"States.Timeout"`},
		{name: "synchronous task TimeoutSeconds", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `block","TimeoutSeconds":5,"End":true}}}`,
			timers: 1, advance: []time.Duration{6 * time.Second}, status: StatusFailed, err: "States.Timeout"},
		{name: "state machine TimeoutSeconds times the execution out", def: `{"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`,
			timers: 2, advance: []time.Duration{61 * time.Second}, status: StatusTimedOut, err: "States.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, clk, _ := newTestEngine(t, false)
			tokens := tokenCatcher(e)
			_ = registerTestFunctions(e)
			arn := mustCreate(t, e, "to", tt.def)
			in := tt.input
			if in == "" {
				in = "{}"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := e.StartExecution(ctx, arn, "x", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			var tok string
			if strings.Contains(tt.def, "waitForTaskToken") {
				tok = waitToken(t, tokens)
			}
			waitPending(t, clk, tt.timers)
			for _, d := range tt.advance {
				if tt.heartbeat {
					if err := e.SendTaskHeartbeat(ctx, tok); err != nil {
						t.Fatalf("heartbeat: %v", err)
					}
				}
				clk.Advance(d)
			}
			d, err := e.WaitExecution(ctx, res.ExecutionARN)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tt.status {
				t.Fatalf("status: got %s (%s %s), want %s", d.Status, str(d.Error), str(d.Cause), tt.status)
			}
			if tt.output != "" && str(d.Output) != tt.output {
				t.Errorf("output: got %s, want %s", str(d.Output), tt.output)
			}
			if tt.err != "" && str(d.Error) != tt.err {
				t.Errorf("error: got %s, want %s", str(d.Error), tt.err)
			}
		})
	}
}

// TestRunawayLoop: a loop that never ends fails at AWS's history limit, and the engine
// keeps serving other executions meanwhile.
func TestRunawayLoop(t *testing.T) {
	e, _, _ := newTestEngine(t, true)
	loop := mustCreate(t, e, "loop", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}`)
	ok := mustCreate(t, e, "ok", `{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"End":true}}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := e.StartExecution(ctx, loop, "forever", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := runToEnd(t, e, ok, "meanwhile", `{}`); d.Status != StatusSucceeded {
		t.Errorf("other execution: got %s", d.Status)
	}
	d, err := e.WaitExecution(ctx, res.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusFailed || str(d.Error) != "States.Runtime" || !strings.Contains(str(d.Cause), "25000") {
		t.Errorf("got %s %s %s, want FAILED States.Runtime at the 25000-event limit", d.Status, str(d.Error), str(d.Cause))
	}
	h, _ := e.GetExecutionHistory(ctx, res.ExecutionARN)
	if len(h) != HistoryLimit {
		t.Errorf("history length: got %d, want %d", len(h), HistoryLimit)
	}
	if last := h[len(h)-1]; last.Type != "ExecutionFailed" {
		t.Errorf("last event: got %s, want ExecutionFailed", last.Type)
	}
}
