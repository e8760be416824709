package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/workflow"
)

// newTestEngine opens an in-memory engine on a virtual clock and serves its API on
// 127.0.0.1.
func newTestEngine(t *testing.T, auto bool) (*Engine, *VirtualClock, *sfn.Client) {
	t.Helper()
	clk := NewVirtualClock(time.Time{}, auto)
	e, err := Open(Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() {
		srv.Close()
		e.Close()
	})
	return e, clk, sfnClient(srv.URL)
}

func sfnClient(url string) *sfn.Client {
	return sfn.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, func(o *sfn.Options) { o.BaseEndpoint = aws.String(url) })
}

func mustCreate(t *testing.T, e *Engine, name, def string) string {
	t.Helper()
	arn, err := e.CreateStateMachine(context.Background(), name, []byte(def))
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return arn
}

func runToEnd(t *testing.T, e *Engine, smARN, name, input string) *ExecutionDescription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e.StartExecution(ctx, smARN, name, []byte(input))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	d, err := e.WaitExecution(ctx, res.ExecutionARN)
	if err != nil {
		t.Fatalf("wait for %s: %v", name, err)
	}
	return d
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

const fnARN = "arn:aws:lambda:us-east-1:000000000000:function:"

type myError struct{ msg string }

func (e *myError) Error() string { return e.msg }

// TestLambdaTasks: the three Lambda integrations, and function errors named as Step
// Functions names a Go Lambda's errors.
func TestLambdaTasks(t *testing.T) {
	e, _, _ := newTestEngine(t, true)
	e.RegisterFunction(fnARN+"echo", lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) {
		return map[string]any{"got": in}, nil
	}))
	e.RegisterFunction(fnARN+"plain", lambda.NewHandler(func(ctx context.Context, in map[string]any) (string, error) {
		return "", errors.New("plain failure")
	}))
	e.RegisterFunction(fnARN+"wrapped", lambda.NewHandler(func(ctx context.Context, in map[string]any) (string, error) {
		return "", fmt.Errorf("stage: %w", errors.New("inner"))
	}))
	e.RegisterFunction(fnARN+"custom", lambda.NewHandler(func(ctx context.Context, in map[string]any) (string, error) {
		return "", &myError{"custom failure"}
	}))
	e.RegisterFunction(fnARN+"boundary", lambda.NewHandler(func(ctx context.Context, in map[string]any) (string, error) {
		return "", lambdaerr.Boundary(domain.Errorf(domain.BuildFailed, "make exited %d", 2))
	}))
	tests := []struct {
		name      string
		resource  string
		params    string
		wantState string
		wantOut   string
		wantErr   string
		wantCause string
	}{
		{name: "bare ARN returns the payload", resource: fnARN + "echo", wantState: StatusSucceeded, wantOut: `{"got":{"a":1}}`},
		{name: "bare function name via lambda:invoke is wrapped", resource: ResourceLambdaInvoke,
			params: `{"FunctionName":"echo","Payload":{"b.$":"$.a"}}`, wantState: StatusSucceeded, wantOut: `{"got":{"b":1}}`},
		{name: "errors.New is errorString", resource: fnARN + "plain", wantState: StatusFailed, wantErr: "errorString",
			wantCause: `{"errorMessage":"plain failure","errorType":"errorString"}`},
		{name: "fmt.Errorf %w is wrapError", resource: ResourceLambdaInvoke, params: `{"FunctionName":"` + fnARN + `wrapped","Payload":{}}`,
			wantState: StatusFailed, wantErr: "wrapError", wantCause: `{"errorMessage":"stage: inner","errorType":"wrapError"}`},
		{name: "custom error type keeps its name", resource: fnARN + "custom", wantState: StatusFailed, wantErr: "myError",
			wantCause: `{"errorMessage":"custom failure","errorType":"myError"}`},
		{name: "lambdaerr boundary names the kind", resource: fnARN + "boundary", wantState: StatusFailed, wantErr: "BuildFailed"},
		{name: "unknown function", resource: fnARN + "nope", wantState: StatusFailed, wantErr: "Lambda.ResourceNotFoundException"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := ""
			if tt.params != "" {
				params = `"Parameters":` + tt.params + `,`
			}
			def := fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":%q,%s"End":true}}}`, tt.resource, params)
			arn := mustCreate(t, e, fmt.Sprintf("lt%d", i), def)
			d := runToEnd(t, e, arn, "x", `{"a":1}`)
			if d.Status != tt.wantState {
				t.Fatalf("status: got %s (%s: %s), want %s", d.Status, str(d.Error), str(d.Cause), tt.wantState)
			}
			if tt.wantOut != "" {
				var out map[string]any
				_ = json.Unmarshal([]byte(*d.Output), &out)
				got := *d.Output
				if tt.resource == ResourceLambdaInvoke {
					if out["StatusCode"] != float64(200) {
						t.Errorf("lambda:invoke result: got %s, want StatusCode 200 and Payload", got)
					}
					got = encodeJSON(out["Payload"])
				}
				if got != tt.wantOut {
					t.Errorf("output: got %s, want %s", got, tt.wantOut)
				}
			}
			if tt.wantErr != "" && str(d.Error) != tt.wantErr {
				t.Errorf("error: got %s, want %s", str(d.Error), tt.wantErr)
			}
			if tt.wantCause != "" && str(d.Cause) != tt.wantCause {
				t.Errorf("cause: got %s, want %s", str(d.Cause), tt.wantCause)
			}
		})
	}
}

// TestInjectedLambdaErrors: service errors are retried per the Retry policy (without
// sleeping: virtual clock), and exhausted retries reach the Catch.
func TestInjectedLambdaErrors(t *testing.T) {
	tests := []struct {
		name      string
		fault     string
		times     int
		wantState string
		wantCalls int32
		wantErr   string
	}{
		{name: "two service exceptions are retried", fault: "Lambda.ServiceException", times: 2, wantState: StatusSucceeded, wantCalls: 1},
		{name: "throttling is retried", fault: "Lambda.TooManyRequestsException", times: 1, wantState: StatusSucceeded, wantCalls: 1},
		{name: "retries exhausted go to Catch", fault: "Lambda.ServiceException", times: 4, wantState: StatusFailed, wantCalls: 0, wantErr: "Caught"},
		{name: "unmatched error is not retried", fault: "Lambda.Unknown", times: 1, wantState: StatusFailed, wantCalls: 0, wantErr: "Caught"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := newTestEngine(t, true)
			var calls atomic.Int32
			arnFn := fnARN + "flaky"
			e.RegisterFunction(arnFn, lambda.NewHandler(func(ctx context.Context) (string, error) {
				calls.Add(1)
				return "ok", nil
			}))
			if err := e.InjectLambdaError(arnFn, tt.fault, tt.times); err != nil {
				t.Fatal(err)
			}
			def := `{"StartAt":"T","States":{
				"T":{"Type":"Task","Resource":"` + ResourceLambdaInvoke + `","Parameters":{"FunctionName":"` + arnFn + `"},
				"Retry":[{"ErrorEquals":["Lambda.ServiceException","Lambda.TooManyRequestsException"],"IntervalSeconds":5,"MaxAttempts":3,"BackoffRate":2}],
				"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"C"}],"End":true},
				"C":{"Type":"Fail","Error":"Caught","CausePath":"$.err.Error"}}}`
			arn := mustCreate(t, e, fmt.Sprintf("ij%d", i), def)
			d := runToEnd(t, e, arn, "x", `{}`)
			if d.Status != tt.wantState {
				t.Fatalf("status: got %s (%s: %s), want %s", d.Status, str(d.Error), str(d.Cause), tt.wantState)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("handler calls: got %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr != "" && str(d.Error) != tt.wantErr {
				t.Errorf("error: got %s, want %s", str(d.Error), tt.wantErr)
			}
		})
	}
}

// TestRetryBackoffOnVirtualClock: delays follow IntervalSeconds * BackoffRate^n capped at
// MaxDelaySeconds, measured on the virtual clock.
func TestRetryBackoffOnVirtualClock(t *testing.T) {
	e, clk, _ := newTestEngine(t, true)
	var mu sync.Mutex
	var times []time.Time
	e.RegisterFunction(fnARN+"fails", lambda.NewHandler(func(ctx context.Context) (string, error) {
		mu.Lock()
		times = append(times, clk.Now())
		mu.Unlock()
		return "", errors.New("nope")
	}))
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `fails",
		"Retry":[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":2,"MaxAttempts":4,"BackoffRate":3,"MaxDelaySeconds":10,"JitterStrategy":"NONE"}],"End":true}}}`
	d := runToEnd(t, e, mustCreate(t, e, "bo", def), "x", `{}`)
	if d.Status != StatusFailed || str(d.Error) != "errorString" {
		t.Fatalf("got %s %s, want FAILED errorString", d.Status, str(d.Error))
	}
	want := []time.Duration{2 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second}
	if len(times) != len(want)+1 {
		t.Fatalf("attempts: got %d, want %d", len(times), len(want)+1)
	}
	for i, w := range want {
		if got := times[i+1].Sub(times[i]); got != w {
			t.Errorf("delay before retry %d: got %v, want %v", i+1, got, w)
		}
	}
}

// pipeline registers handlers for the project's own state machine. The approval
// handler answers through the real SDK over HTTP from another goroutine, as the approval
// page does on AWS.
type pipeline struct {
	decide   func(c *sfn.Client, token string)
	client   *sfn.Client
	notified chan string
	tokens   chan string
}

func (p *pipeline) register(e *Engine, build map[string]any) {
	ok := func(v any) lambda.Handler {
		return lambda.NewHandler(func(ctx context.Context, in json.RawMessage) (any, error) { return v, nil })
	}
	e.RegisterFunction(workflow.LocalARN(workflow.FnBuild), ok(build))
	e.RegisterFunction(workflow.LocalARN(workflow.FnTest), ok(map[string]any{"passed": 3}))
	e.RegisterFunction(workflow.LocalARN(workflow.FnStage), ok(map[string]any{"digest": "sha256:abc"}))
	e.RegisterFunction(workflow.LocalARN(workflow.FnDeploy), ok(map[string]any{"deployed": true}))
	e.RegisterFunction(workflow.LocalARN(workflow.FnExpire), ok(map[string]any{"expired": true}))
	e.RegisterFunction(workflow.LocalARN(workflow.FnApproval), lambda.NewHandler(func(ctx context.Context, in struct {
		Token string          `json:"token"`
		State json.RawMessage `json:"state"`
	}) (map[string]any, error) {
		if in.Token == "" {
			return nil, errors.New("no token in the payload")
		}
		p.tokens <- in.Token
		if p.decide != nil {
			go p.decide(p.client, in.Token)
		}
		return map[string]any{"pending": true}, nil
	}))
	e.RegisterFunction(workflow.LocalARN(workflow.FnNotify), lambda.NewHandler(func(ctx context.Context, in struct {
		Event string `json:"event"`
	}) (map[string]any, error) {
		p.notified <- in.Event
		return map[string]any{}, nil
	}))
}

func projectDefinition() []byte {
	return workflow.Resolve(workflow.Definition, workflow.LocalARN)
}

func TestProjectDefinitionValidates(t *testing.T) {
	d, err := Parse(projectDefinition())
	if err != nil {
		t.Fatalf("the project's state machine does not validate: %v", err)
	}
	for _, s := range []string{workflow.StateBuild, workflow.StateRequestApproval, workflow.StateDeploy, workflow.StateExpired} {
		if _, ok := d.root.states[s]; !ok {
			t.Errorf("state %q missing", s)
		}
	}
	if d.TimeoutSeconds != 2592000 {
		t.Errorf("TimeoutSeconds: got %d, want 2592000", d.TimeoutSeconds)
	}
	// Unresolved placeholders are not ARNs: the definition must be resolved first.
	if _, err := Parse(workflow.Definition); err == nil || !strings.Contains(err.Error(), "${BuildArn}") {
		t.Errorf("unresolved definition: got %v, want an error naming ${BuildArn}", err)
	}
}

// TestProjectPipeline runs shipgate's own state machine through its approval outcomes.
func TestProjectPipeline(t *testing.T) {
	build := map[string]any{"skipped": false, "approvalTimeoutSeconds": 3600}
	tests := []struct {
		name       string
		build      map[string]any
		decide     func(c *sfn.Client, token string)
		advance    time.Duration
		wantStatus string
		wantErr    string
		wantCause  string
		wantNotify string
		wantOutKey string
	}{
		{name: "approved deploys", build: build, wantStatus: StatusSucceeded, wantNotify: workflow.EventSucceeded, wantOutKey: "deploy",
			decide: func(c *sfn.Client, token string) {
				time.Sleep(10 * time.Millisecond)
				_, _ = c.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: &token, Output: aws.String(`{"decision":"approved","by":"ana"}`)})
			}},
		{name: "rejected fails with ApprovalRejected", build: build, wantStatus: StatusFailed, wantErr: "ApprovalRejected", wantCause: "not today",
			wantNotify: workflow.EventRejected,
			decide: func(c *sfn.Client, token string) {
				_, _ = c.SendTaskFailure(context.Background(), &sfn.SendTaskFailureInput{TaskToken: &token, Error: aws.String("ApprovalRejected"), Cause: aws.String("not today")})
			}},
		{name: "no decision expires", build: build, advance: 3601 * time.Second, wantStatus: StatusFailed, wantErr: "ApprovalExpired",
			wantCause: "no decision before the approval timeout", wantNotify: workflow.EventExpired},
		{name: "filtered push is skipped", build: map[string]any{"skipped": true}, wantStatus: StatusSucceeded, wantOutKey: "build"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, clk, client := newTestEngine(t, false)
			p := &pipeline{decide: tt.decide, client: client, notified: make(chan string, 4), tokens: make(chan string, 4)}
			p.register(e, tt.build)
			arn := mustCreate(t, e, "pipeline", string(projectDefinition()))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := e.StartExecution(ctx, arn, fmt.Sprintf("run-%d", i), []byte(`{"repo":"r","commit":"c0ffee"}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.advance > 0 {
				select {
				case <-p.tokens:
				case <-ctx.Done():
					t.Fatal("the approval was never requested")
				}
				// Give the driver time to park before moving the clock.
				for i := 0; i < 200 && clk.Pending() < 2; i++ {
					time.Sleep(5 * time.Millisecond)
				}
				clk.Advance(tt.advance)
			}
			d, err := e.WaitExecution(ctx, res.ExecutionARN)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tt.wantStatus || (tt.wantErr != "" && str(d.Error) != tt.wantErr) {
				t.Fatalf("got %s %s (%s), want %s %s", d.Status, str(d.Error), str(d.Cause), tt.wantStatus, tt.wantErr)
			}
			if tt.wantCause != "" && str(d.Cause) != tt.wantCause {
				t.Errorf("cause: got %q, want %q", str(d.Cause), tt.wantCause)
			}
			if tt.wantNotify != "" {
				select {
				case got := <-p.notified:
					if got != tt.wantNotify {
						t.Errorf("notify event: got %q, want %q", got, tt.wantNotify)
					}
				default:
					t.Errorf("notify: never called, want %q", tt.wantNotify)
				}
			}
			if tt.wantOutKey != "" && !strings.Contains(str(d.Output), `"`+tt.wantOutKey+`"`) {
				t.Errorf("output: got %s, want a %q key", str(d.Output), tt.wantOutKey)
			}
		})
	}
}

func newServer(t *testing.T, e *Engine) string {
	t.Helper()
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCallbackInsideHandler: a handler that answers its own task token over HTTP before
// returning does not deadlock the engine, and OnEvent sees every event in order.
func TestCallbackInsideHandler(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var names []string
	e, err := Open(Options{Clock: NewVirtualClock(time.Time{}, true), OnEvent: func(arn, name string, ev Event) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev.Type)
		names = append(names, name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	client := sfnClient(newServer(t, e))
	e.RegisterFunction(fnARN+"ask", lambda.NewHandler(func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		_, err := client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &in.Token, Output: aws.String(`"self"`)})
		return "", err
	}))
	arn := mustCreate(t, e, "self", callbackDef)
	d := runToEnd(t, e, arn, "s1", `{"who":"x"}`)
	if d.Status != StatusSucceeded || str(d.Output) != `{"answer":"self","who":"x"}` {
		t.Fatalf("got %s %s %s", d.Status, str(d.Output), str(d.Error))
	}
	mu.Lock()
	defer mu.Unlock()
	h, _ := e.GetExecutionHistory(context.Background(), d.ExecutionARN)
	if got, want := strings.Join(seen, " "), eventTypes(h); got != want {
		t.Errorf("OnEvent saw:\n %s\nhistory:\n %s", got, want)
	}
	for _, n := range names {
		if n != "s1" {
			t.Fatalf("OnEvent execution name: got %q, want s1", n)
		}
	}
}

func TestExecutionNames(t *testing.T) {
	e, _, _ := newTestEngine(t, true)
	arn := mustCreate(t, e, "names", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)
	tests := []struct {
		name string
		ok   bool
	}{
		{"push-octo.app-5f1c0ffee", true},
		{"räksmörgås_1", true},
		{strings.Repeat("a", 80), true},
		{strings.Repeat("a", 81), false},
		{"has space", false},
		{"a/b", false},
		{"a:b", false},
		{"tab\there", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.StartExecution(context.Background(), arn, tt.name, nil)
			if got := err == nil; got != tt.ok {
				t.Errorf("accepted: got %v (%v), want %v", got, err, tt.ok)
			}
			if !tt.ok && ErrorCode(err) != "InvalidName" {
				t.Errorf("error code: got %q, want InvalidName", ErrorCode(err))
			}
		})
	}
}

func TestPanickingObserverIsContained(t *testing.T) {
	e, err := Open(Options{OnEvent: func(arn, name string, ev Event) {
		if ev.Type == "PassStateEntered" {
			panic("observer bug")
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	arn := mustCreate(t, e, "obs", `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"End":true}}}`)
	if d := runToEnd(t, e, arn, "o1", `{}`); d.Status != StatusSucceeded {
		t.Errorf("got %s %s, want SUCCEEDED despite the observer", d.Status, str(d.Cause))
	}
}
