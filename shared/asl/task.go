package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Task resources the engine runs. Everything else is refused at validation.
const (
	ResourceLambdaInvoke     = "arn:aws:states:::lambda:invoke"
	ResourceLambdaInvokeWait = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

func isLambdaARN(r string) bool {
	return strings.HasPrefix(r, "arn:aws:lambda:") && strings.Contains(r, ":function:")
}

func supportedResource(r string) bool {
	return r == ResourceLambdaInvoke || r == ResourceLambdaInvokeWait || isLambdaARN(r)
}

// lambdaError is a function error as the Lambda runtime reports it.
type lambdaError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// invokeHandler runs fn's handler in process the way the Lambda runtime would and
// classifies the outcome as Step Functions sees it.
func (e *Engine) invokeHandler(ctx context.Context, fn *function, payload []byte, timeout time.Duration, reqID string) ([]byte, *failure) {
	fn.mu.Lock()
	if len(fn.faults) > 0 {
		name := fn.faults[0]
		fn.faults = fn.faults[1:]
		fn.mu.Unlock()
		return nil, fail(name, fmt.Sprintf("%s: injected Lambda service error (Service: Lambda, Status Code: 500)", name))
	}
	fn.mu.Unlock()
	type res struct {
		out []byte
		err *failure
	}
	ch := make(chan res, 1)
	// Lambda always gives a handler a deadline; 15 minutes is its maximum.
	budget := 15 * time.Minute
	if timeout > 0 && timeout < budget {
		budget = timeout
	}
	// Not derived from the execution's context: stopping an execution does not stop a
	// running Lambda invocation on AWS either; the engine just stops waiting for it.
	hctx, cancel := context.WithTimeout(context.Background(), budget)
	// Once the engine stops waiting (result, timeout, stop), the invocation is over.
	defer cancel()
	hctx = lambdacontext.NewContext(hctx, &lambdacontext.LambdaContext{AwsRequestID: reqID, InvokedFunctionArn: fn.arn})
	e.inflight.Add(1)
	e.workers.run(func() {
		defer e.inflight.Done()
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				b, _ := json.Marshal(lambdaError{Message: fmt.Sprint(p), Type: typeName(p)})
				ch <- res{err: fail(typeName(p), string(b))}
			}
		}()
		out, err := fn.h.Invoke(hctx, payload)
		if err != nil {
			le := lambdaError{Message: err.Error(), Type: typeName(err)}
			// The runtime passes its own error type through unchanged.
			switch ive := err.(type) {
			case messages.InvokeResponse_Error:
				le = lambdaError{Message: ive.Message, Type: ive.Type}
			case *messages.InvokeResponse_Error:
				le = lambdaError{Message: ive.Message, Type: ive.Type}
			}
			b, _ := json.Marshal(le)
			ch <- res{err: fail(le.Type, string(b))}
			return
		}
		ch <- res{out: out}
	})
	var timer <-chan struct{}
	if timeout > 0 {
		tc := make(chan struct{})
		stop := e.clock.AfterFunc(timeout, func() { close(tc) })
		defer stop()
		timer = tc
	}
	select {
	case r := <-ch:
		return r.out, r.err
	case <-timer:
		return nil, &failure{Error: "States.Timeout"}
	case <-ctx.Done():
		return nil, &failure{Error: "States.Runtime", Cause: "the execution was stopped", HasCause: true}
	}
}

// typeName is the name the Lambda Go runtime reports as errorType.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "error"
	}
	if t.Kind() == reflect.Ptr {
		return t.Elem().Name()
	}
	return t.Name()
}

func (f *frame) taskTimeouts(s *state, c *cursor) (timeout, heartbeat time.Duration, o outcome) {
	env := f.env(c, c.Input)
	x, ok, o := f.number(s.timeout, c, c.Input, env)
	if o.kind == outFail {
		return 0, 0, o
	}
	if ok {
		if x < 1 {
			return 0, 0, f.stateFail(c, "States.Runtime", fmt.Sprintf("TimeoutSeconds must be a positive integer, got %v", x))
		}
		timeout = time.Duration(x) * time.Second
	}
	x, ok, o = f.number(s.heartbeat, c, c.Input, env)
	if o.kind == outFail {
		return 0, 0, o
	}
	if ok {
		heartbeat = time.Duration(x) * time.Second
	}
	return timeout, heartbeat, outcome{}
}

// invokeTask runs one attempt of a Task state.
func (f *frame) invokeTask(s *state, c *cursor) outcome {
	timeout, heartbeat, o := f.taskTimeouts(s, c)
	if o.kind == outFail {
		return o
	}
	if !supportedResource(s.resource) {
		return f.stateFail(c, "States.Runtime", fmt.Sprintf("not supported: Task resource '%s'", s.resource))
	}
	rtype, rname := taskResourceType(s.resource), taskResourceName(s.resource)
	bare := isLambdaARN(s.resource)
	wait := s.resource == ResourceLambdaInvokeWait
	var fnRef string
	var payload any
	if bare {
		fnRef, payload = s.resource, c.Effective
	} else {
		params, ok := c.Effective.(map[string]any)
		if !ok {
			return f.stateFail(c, "States.Runtime", "The Parameters of a lambda:invoke task must be an object with FunctionName")
		}
		fnRef, _ = params["FunctionName"].(string)
		if fnRef == "" {
			return f.stateFail(c, "States.Runtime", "The field 'FunctionName' is required by lambda:invoke")
		}
		payload = params["Payload"]
		if _, has := params["Payload"]; !has {
			payload = map[string]any{}
		}
	}
	body := encodeJSON(payload)
	if bare {
		f.emit(c, Event{Type: "LambdaFunctionScheduled", Resource: s.resource, Input: payload, HasInput: true, Timeout: int64(timeout / time.Second)})
	} else {
		f.emit(c, Event{Type: "TaskScheduled", Resource: rname, ResourceType: rtype, Parameters: c.Effective, Timeout: int64(timeout / time.Second), Heartbeat: int64(heartbeat / time.Second)})
	}
	var w *waiter
	if wait {
		w = f.newWaiter()
		w.token = c.Token
		w.owner = f.x
		f.e.mu.Lock()
		f.e.tokens[c.Token] = w
		f.e.mu.Unlock()
		c.Deadline = time.Time{}
		if timeout > 0 {
			c.Deadline = f.e.clock.Now().Add(timeout)
		}
		c.Heartbeat = int64(heartbeat / time.Second)
		f.armTokenTimers(w, timeout, heartbeat)
		f.killIfStopped(w)
	}
	c.Phase = phInvoke
	if bare {
		f.emit(c, Event{Type: "LambdaFunctionStarted"})
	} else {
		f.emit(c, Event{Type: "TaskStarted", Resource: rname, ResourceType: rtype})
	}
	if f.top && f.e.st != nil {
		// At-least-once: the attempt is written (synced, unless Options.NoSync) before
		// the handler runs.
		if err := f.e.checkpoint(f.x, c); err != nil {
			f.e.log.Error("asl: checkpoint", "execution", f.x.arn, "err", err)
		}
	}
	fn, ok := f.e.lookupFunction(fnRef)
	reqID := requestID()
	var out []byte
	var ferr *failure
	if !ok {
		ferr = fail("Lambda.ResourceNotFoundException", fmt.Sprintf("Function not found: %s (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException)", fnRef))
	} else {
		invokeTimeout := timeout
		if wait {
			invokeTimeout = 0
		}
		out, ferr = f.e.invokeHandler(f.ctx, fn, []byte(body), invokeTimeout, reqID)
	}
	if f.x.closed() || f.e.isClosing() && ferr != nil {
		if w != nil {
			w.cancel(f.e)
		}
		return outcome{kind: outGone}
	}
	if ferr == nil && len(out) > PayloadLimit {
		ferr = fail("States.DataLimitExceeded", fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", dataLimitName(s.resource)))
	}
	var result any
	if ferr == nil {
		if len(out) == 0 {
			out = []byte("null")
		}
		v, err := decodeJSON(out)
		if err != nil {
			ferr = fail("States.Runtime", fmt.Sprintf("The function returned invalid JSON: %v", err))
		}
		result = v
	}
	if ferr != nil {
		if w != nil {
			w.cancel(f.e)
		}
		switch {
		case bare && ferr.Error == "States.Timeout":
			f.emit(c, Event{Type: "LambdaFunctionTimedOut", Error: ferr.Error, Cause: ferr.Cause, HasCause: ferr.HasCause})
		case bare:
			f.emit(c, Event{Type: "LambdaFunctionFailed", Error: ferr.Error, Cause: ferr.Cause, HasCause: ferr.HasCause})
		case ferr.Error == "States.Timeout":
			f.emit(c, Event{Type: "TaskTimedOut", Resource: rname, ResourceType: rtype, Error: ferr.Error, Cause: ferr.Cause, HasCause: ferr.HasCause})
		default:
			f.emit(c, Event{Type: "TaskFailed", Resource: rname, ResourceType: rtype, Error: ferr.Error, Cause: ferr.Cause, HasCause: ferr.HasCause})
		}
		return outcome{kind: outFail, fail: ferr}
	}
	if bare {
		f.emit(c, Event{Type: "LambdaFunctionSucceeded", Output: result, HasOutput: true})
		return outcome{kind: outNext, output: result}
	}
	wrapped := map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         result,
		"SdkHttpMetadata": map[string]any{"HttpStatusCode": float64(200)},
		"SdkResponseMetadata": map[string]any{
			"RequestId": reqID,
		},
		"StatusCode": float64(200),
	}
	if wait {
		f.emit(c, Event{Type: "TaskSubmitted", Resource: rname, ResourceType: rtype, Output: wrapped, HasOutput: true})
		c.Phase = phToken
		return outcome{kind: outSuspend, wait: &waitReq{w: w}}
	}
	f.emit(c, Event{Type: "TaskSucceeded", Resource: rname, ResourceType: rtype, Output: wrapped, HasOutput: true})
	return outcome{kind: outNext, output: wrapped}
}

func (f *frame) armTokenTimers(w *waiter, timeout, heartbeat time.Duration) {
	if timeout > 0 {
		w.addStop(f.e.clock.AfterFunc(timeout, func() {
			w.deliver(f.e, resumeMsg{err: &failure{Error: "States.Timeout"}})
		}))
	}
	if heartbeat > 0 {
		w.setHeartbeat(int64(heartbeat/time.Second), f.e.clock.AfterFunc(heartbeat, func() {
			w.deliver(f.e, resumeMsg{err: &failure{Error: "States.HeartbeatTimeout"}})
		}))
	}
}

// rearmToken waits again on a token issued before a restart.
func (f *frame) rearmToken(s *state, c *cursor) outcome {
	w := f.newWaiter()
	w.token = c.Token
	w.owner = f.x
	f.e.mu.Lock()
	f.e.tokens[c.Token] = w
	f.e.mu.Unlock()
	var timeout time.Duration
	if !c.Deadline.IsZero() {
		timeout = max(c.Deadline.Sub(f.e.clock.Now()), time.Millisecond)
	}
	f.armTokenTimers(w, timeout, time.Duration(c.Heartbeat)*time.Second)
	f.killIfStopped(w)
	return outcome{kind: outSuspend, wait: &waitReq{w: w}}
}

// killIfStopped cancels a token waiter registered after its execution stopped: stopping
// cancels the tokens it finds, and sets the status before it looks, so a token is either
// found there or sees the status here. (On Open, an execution's timeout can fire before
// its token is registered again.)
func (f *frame) killIfStopped(w *waiter) {
	if f.x.closed() {
		w.cancel(f.e)
	}
}

// dataLimitName is how AWS names a task in its DataLimitExceeded message: the function
// ARN for a bare Lambda resource, "lambda:invoke" for the integration.
func dataLimitName(resource string) string {
	if isLambdaARN(resource) {
		return resource
	}
	return taskResourceType(resource) + ":" + strings.SplitN(taskResourceName(resource), ".", 2)[0]
}
