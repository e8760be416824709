package asl

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// failure is an error as Step Functions names it: Error plus an optional Cause.
type failure struct {
	Error    string `json:"error"`
	Cause    string `json:"cause,omitempty"`
	HasCause bool   `json:"hasCause,omitempty"`
}

func fail(name, cause string) *failure { return &failure{Error: name, Cause: cause, HasCause: true} }

// cursor is where a run of a machine stands: the current state, its raw input and the
// progress inside it. The top-level cursor is what a checkpoint persists.
type cursor struct {
	State     string    `json:"state"`
	Input     any       `json:"input"`
	Entered   int64     `json:"entered"`
	EnteredAt time.Time `json:"enteredAt"`
	Phase     string    `json:"phase,omitempty"`
	Retries   []int     `json:"retries,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	Effective any       `json:"effective,omitempty"`
	Pending   *failure  `json:"pending,omitempty"`
	Token     string    `json:"token,omitempty"`
	WakeAt    time.Time `json:"wakeAt,omitempty"`
	Deadline  time.Time `json:"deadline,omitempty"`
	Heartbeat int64     `json:"heartbeat,omitempty"`
	Prev      int64     `json:"prev"`

	resume *resumeMsg
}

// Phases of a state in progress.
const (
	phEnter   = ""
	phInvoke  = "invoke"  // about to invoke, or invoking (a crash here means re-run)
	phFailed  = "failed"  // Pending holds the error to route through Retry/Catch
	phBackoff = "backoff" // waiting for a retry
	phToken   = "token"   // waiting for SendTaskSuccess/Failure
	phWait    = "wait"    // Wait state sleeping
)

type resumeMsg struct {
	output    any
	hasOutput bool
	err       *failure
	interrupt bool // the engine restarted while the task ran
}

// waitReq asks the driver to park until a timer fires or a task token is answered.
type waitReq struct {
	w *waiter
}

type outKind int

const (
	outNext outKind = iota
	outEnd
	outFail
	outSuspend
	outGone // execution closed (stopped, timed out) while running
)

type outcome struct {
	kind   outKind
	next   string
	output any
	fail   *failure
	wait   *waitReq
}

// frame runs one machine: the top level of an execution, a Parallel branch or a Map
// iteration. Only the top-level frame parks; nested frames block their goroutine.
type frame struct {
	e        *Engine
	x        *execution
	m        *machine
	sc       *scope
	top      bool
	ctx      context.Context
	inMap    bool
	mapIndex int
	mapValue any
	key      string // branch key when the parent tracks branch progress (branches.go)
	resumed  bool   // resumed at a compound state whose branches' progress is recorded
}

func (f *frame) env(c *cursor, input any) *evalEnv {
	return &evalEnv{x: &f.x.info, state: c.State, entered: c.EnteredAt, retry: c.Attempt,
		token: c.Token, inMap: f.inMap, mapIndex: f.mapIndex, mapValue: f.mapValue, scope: f.sc, input: input}
}

func (f *frame) stateFail(c *cursor, name, msg string) outcome {
	return outcome{kind: outFail, fail: fail(name, fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", c.State, c.Entered, msg))}
}

func (f *frame) evalFail(c *cursor, err error) outcome {
	if ee, ok := err.(*evalError); ok {
		return f.stateFail(c, ee.name, ee.cause)
	}
	if _, ok := err.(*errVarNotFound); ok {
		return f.stateFail(c, "States.Runtime", err.Error())
	}
	return f.stateFail(c, "States.Runtime", err.Error())
}

// enter starts state name with raw input and records the Entered event.
func (f *frame) enter(name string, input any, prev int64) *cursor {
	c := &cursor{State: name, Input: input, Prev: prev, EnteredAt: f.e.clock.Now()}
	s := f.m.states[name]
	c.Entered = f.emit(c, Event{Type: s.typ + "StateEntered", StateName: name, Input: input, HasInput: true})
	return c
}

func (f *frame) emit(c *cursor, ev Event) int64 {
	ev.PreviousID = c.Prev
	id := f.x.appendEvent(f.e, ev)
	c.Prev = id
	return id
}

// run executes the machine from StartAt to an end, blocking on waits (nested frames).
func (f *frame) run(input any, prev int64) (out any, ferr *failure, code int64) {
	defer f.e.recoverInto(f.x, &ferr, &code)
	c := f.enter(f.m.startAt, input, prev)
	return f.loop(c)
}

// loop steps states until the machine ends, fails, or (top level only) parks.
func (f *frame) loop(c *cursor) (any, *failure, int64) {
	for {
		if f.x.closed() || f.ctx.Err() != nil {
			return nil, nil, -1
		}
		if f.e.isClosing() {
			if f.top && f.e.st != nil {
				// Stop at this state boundary; the next Open continues from here, with the
				// results of the states already run kept.
				if err := f.e.checkpoint(f.x, c); err != nil {
					f.e.log.Error("asl: checkpoint at close", "execution", f.x.arn, "err", err)
				}
			}
			return nil, nil, -1
		}
		if f.x.isHistoryFull() {
			return nil, &failure{Error: "States.Runtime", Cause: "The execution reached the maximum number of history events (25000).", HasCause: true}, c.Prev
		}
		o := f.step(c)
		if f.x.isHistoryFull() {
			continue
		}
		if (o.kind == outNext || o.kind == outEnd) && sizeOver(o.output, PayloadLimit) && encodedOver(o.output) {
			o = outcome{kind: outFail, fail: fail("States.DataLimitExceeded", fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", c.State))}
		}
		switch o.kind {
		case outNext:
			f.exit(c, o.output)
			c = f.enter(o.next, o.output, c.Prev)
		case outEnd:
			f.exit(c, o.output)
			return o.output, nil, c.Prev
		case outFail:
			return nil, o.fail, c.Prev
		case outGone:
			return nil, nil, -1
		case outSuspend:
			if f.top {
				m, got := f.e.park(f.x, c, o.wait.w)
				if !got {
					return nil, nil, -2 // parked: the driver goroutine leaves
				}
				c.resume = &m
				continue
			}
			if f.key != "" && c.Phase == phToken {
				f.parkBranch(c)
			}
			select {
			case m := <-o.wait.w.ch:
				if testHookResume != nil {
					testHookResume()
				}
				c.resume = &m
			case <-f.ctx.Done():
				o.wait.w.cancel(f.e)
				return nil, nil, -1
			case <-f.e.closeCh:
				// A branch must not hold Close up until its token is answered: the
				// compound state stops here and the next Open resumes it (branches.go).
				o.wait.w.cancel(f.e)
				return nil, nil, -1
			}
		}
	}
}

// encodedOver confirms an estimate with the exact encoding.
func encodedOver(v any) bool { return len(encodeJSON(v)) > PayloadLimit }

func (f *frame) exit(c *cursor, output any) {
	s := f.m.states[c.State]
	if s.typ == "Fail" {
		return
	}
	f.emit(c, Event{Type: s.typ + "StateExited", StateName: c.State, Output: output, HasOutput: true})
}

func (f *frame) step(c *cursor) outcome {
	s := f.m.states[c.State]
	switch s.typ {
	case "Pass":
		return f.pass(s, c)
	case "Choice":
		return f.choice(s, c)
	case "Wait":
		return f.wait(s, c)
	case "Succeed":
		return f.succeed(s, c)
	case "Fail":
		return f.failState(s, c)
	case "Task":
		return f.task(s, c)
	case "Parallel", "Map":
		return f.compound(s, c)
	}
	return f.stateFail(c, "States.Runtime", "unknown state type "+s.typ)
}

// transition finishes a state with its output.
func (f *frame) transition(s *state, output any) outcome {
	if s.end || s.next == "" {
		return outcome{kind: outEnd, output: output}
	}
	return outcome{kind: outNext, next: s.next, output: output}
}

// ---- JSONPath data flow helpers ----

func (f *frame) inputPath(s *state, c *cursor, env *evalEnv) (any, error) {
	if s.inputNull {
		return map[string]any{}, nil
	}
	if s.inputPath == nil {
		return c.Input, nil
	}
	v, err := s.inputPath.get(c.Input, env)
	if err != nil {
		return nil, &evalError{"States.Runtime", fmt.Sprintf("Invalid path '%s' : %v", s.inputPath.src, err)}
	}
	return v, nil
}

func (f *frame) outputPath(s *state, v any, env *evalEnv) (any, error) {
	if s.outputNull {
		return map[string]any{}, nil
	}
	if s.outputPath == nil {
		return v, nil
	}
	out, err := s.outputPath.get(v, env)
	if err != nil {
		return nil, &evalError{"States.Runtime", fmt.Sprintf("Invalid path '%s' : %v", s.outputPath.src, err)}
	}
	return out, nil
}

func (f *frame) resultPath(s *state, input, result any) (any, error) {
	if s.resultNull {
		return input, nil
	}
	if s.resultPath == nil || len(s.resultPath.segs) == 0 {
		return result, nil
	}
	out, err := s.resultPath.set(input, result)
	if err != nil {
		return nil, &evalError{"States.Runtime", err.Error()}
	}
	return out, nil
}

// evalAssign evaluates Assign against data; the caller applies it after the output is
// computed, so every expression of the state sees the variables as they were.
func (f *frame) evalAssign(t *tmpl, data any, env *evalEnv) (map[string]any, error) {
	if t == nil {
		return nil, nil
	}
	v, err := t.eval(data, env)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// jsonataTail evaluates a JSONata state's Assign and Output (against the state's input;
// out is the output when there is no Output field), then moves on. Assignments take
// effect only after Output is evaluated, as in Step Functions.
func (f *frame) jsonataTail(s *state, c *cursor, out any, env *evalEnv) outcome {
	assigns, err := f.evalAssign(s.assign, c.Input, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	if s.output != nil {
		if out, err = s.output.eval(c.Input, env); err != nil {
			return f.evalFail(c, err)
		}
	}
	f.sc.assign(assigns)
	return f.transition(s, out)
}

// finish applies the JSONPath tail (Assign, ResultPath, OutputPath) or the JSONata tail
// (Assign, Output) to a result.
func (f *frame) finish(s *state, c *cursor, result any, env *evalEnv) outcome {
	if s.ql == JSONata {
		env.result, env.hasResult = result, true
		return f.jsonataTail(s, c, result, env)
	}
	if s.resultSel != nil {
		r, err := s.resultSel.eval(result, env)
		if err != nil {
			return f.evalFail(c, err)
		}
		result = r
	}
	assigns, err := f.evalAssign(s.assign, result, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	out, err := f.resultPath(s, c.Input, result)
	if err != nil {
		return f.evalFail(c, err)
	}
	out, err = f.outputPath(s, out, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	f.sc.assign(assigns)
	return f.transition(s, out)
}

// ---- states ----

func (f *frame) pass(s *state, c *cursor) outcome {
	env := f.env(c, c.Input)
	if s.ql == JSONata {
		return f.jsonataTail(s, c, c.Input, env)
	}
	eff, err := f.inputPath(s, c, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	if s.parameters != nil {
		eff, err = s.parameters.eval(eff, env)
		if err != nil {
			return f.evalFail(c, err)
		}
	}
	result := eff
	if s.hasResult {
		result = s.result
	}
	return f.finish(s, c, result, env)
}

func (f *frame) succeed(s *state, c *cursor) outcome {
	env := f.env(c, c.Input)
	if s.ql == JSONata {
		out := c.Input
		if s.output != nil {
			var err error
			out, err = s.output.eval(c.Input, env)
			if err != nil {
				return f.evalFail(c, err)
			}
		}
		return outcome{kind: outEnd, output: out}
	}
	eff, err := f.inputPath(s, c, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	out, err := f.outputPath(s, eff, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	return outcome{kind: outEnd, output: out}
}

func (f *frame) failState(s *state, c *cursor) outcome {
	env := f.env(c, c.Input)
	res := &failure{}
	get := func(lit, path *tmpl) (string, bool, error) {
		t := lit
		if t == nil {
			t = path
		}
		if t == nil {
			return "", false, nil
		}
		v, err := t.eval(c.Input, env)
		if err != nil {
			if ee, ok := err.(*evalError); ok && t.kind == tPath {
				ee.cause = fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '<json-input:1>'", t.src, t.field)
			}
			return "", false, err
		}
		str, ok := v.(string)
		if !ok {
			return "", false, &evalError{"States.Runtime", fmt.Sprintf("The value of the field '%s' must be a string, but was %s", t.field, jsonType(v))}
		}
		return str, true, nil
	}
	var err error
	if res.Error, _, err = get(s.errorF, s.errorPath); err != nil {
		return f.evalFail(c, err)
	}
	if res.Cause, res.HasCause, err = get(s.causeF, s.causePath); err != nil {
		return f.evalFail(c, err)
	}
	return outcome{kind: outFail, fail: res}
}

func (f *frame) choice(s *state, c *cursor) outcome {
	env := f.env(c, c.Input)
	if s.ql == JSONata {
		for _, r := range s.choices {
			v, err := r.condition.eval(c.Input, env)
			if err != nil {
				return f.evalFail(c, err)
			}
			b, ok := v.(bool)
			if !ok {
				return f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was '%s' for value: %s", r.condition.srcExpr(), jsonType(v), encodeJSON(v)))
			}
			if b {
				return f.choiceTaken(s, c, env, r.next, r.assign, r.output)
			}
		}
		if s.deflt == "" {
			return f.stateFail(c, "States.NoChoiceMatched", "No Matches!")
		}
		return f.choiceTaken(s, c, env, s.deflt, nil, nil)
	}
	eff, err := f.inputPath(s, c, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	for _, r := range s.choices {
		ok, err := r.matches(eff, env)
		if err != nil {
			return f.evalFail(c, err)
		}
		if ok {
			return f.choiceTakenPath(s, c, env, eff, r.next, r.assign)
		}
	}
	if s.deflt == "" {
		return f.stateFail(c, "States.NoChoiceMatched", "No Matches!")
	}
	return f.choiceTakenPath(s, c, env, eff, s.deflt, nil)
}

func (f *frame) choiceTakenPath(s *state, c *cursor, env *evalEnv, eff any, next string, ruleAssign *tmpl) outcome {
	assigns, err := f.evalAssign(s.assign, eff, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	ra, err := f.evalAssign(ruleAssign, eff, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	out, err := f.outputPath(s, eff, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	f.sc.assign(assigns)
	f.sc.assign(ra)
	return outcome{kind: outNext, next: next, output: out}
}

func (f *frame) choiceTaken(s *state, c *cursor, env *evalEnv, next string, ruleAssign, ruleOutput *tmpl) outcome {
	assigns, err := f.evalAssign(s.assign, c.Input, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	ra, err := f.evalAssign(ruleAssign, c.Input, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	out := c.Input
	if ruleOutput != nil {
		out, err = ruleOutput.eval(c.Input, env)
	} else if s.output != nil {
		out, err = s.output.eval(c.Input, env)
	}
	if err != nil {
		return f.evalFail(c, err)
	}
	f.sc.assign(assigns)
	f.sc.assign(ra)
	return outcome{kind: outNext, next: next, output: out}
}

// number evaluates a numeric field (literal, Path or JSONata).
func (f *frame) number(nf numField, c *cursor, data any, env *evalEnv) (float64, bool, outcome) {
	if !nf.set {
		return 0, false, outcome{}
	}
	switch {
	case nf.expr != nil:
		v, err := nf.expr.eval(data, env)
		if err != nil {
			return 0, false, f.evalFail(c, err)
		}
		x, ok := toFloat(v)
		if !ok {
			return 0, false, f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' returned an unexpected result type. Expected 'number', but was '%s' for value: %s", nf.expr.srcExpr(), nf.name, jsonType(v), encodeJSON(v)))
		}
		return x, true, outcome{}
	case nf.path != nil:
		v, err := nf.path.get(data, env)
		if err != nil {
			return 0, false, f.stateFail(c, "States.Runtime", fmt.Sprintf("Invalid path '%s' : %v", nf.path.src, err))
		}
		x, ok := toFloat(v)
		if !ok {
			return 0, false, f.stateFail(c, "States.Runtime", fmt.Sprintf("The %sPath parameter does not reference a valid number: %s == %s", nf.name, nf.path.src, encodeJSON(v)))
		}
		return x, true, outcome{}
	}
	return nf.lit, true, outcome{}
}

func (f *frame) wait(s *state, c *cursor) outcome {
	env := f.env(c, c.Input)
	data := c.Input
	if s.ql != JSONata {
		eff, err := f.inputPath(s, c, env)
		if err != nil {
			return f.evalFail(c, err)
		}
		data = eff
	}
	if c.Phase == phEnter {
		var until time.Time
		now := f.e.clock.Now()
		switch {
		case s.seconds.set:
			if s.seconds.path != nil {
				v, err := s.seconds.path.get(data, env)
				if err != nil {
					return f.stateFail(c, "States.Runtime", fmt.Sprintf("Invalid path '%s' : %v", s.seconds.path.src, err))
				}
				x, ok := toFloat(v)
				if !ok || x != math.Trunc(x) {
					return f.stateFail(c, "States.Runtime", fmt.Sprintf("The SecondsPath parameter cannot be parsed as a long value: %s == %s", s.seconds.path.src, encodeJSON(v)))
				}
				if x < 0 {
					return f.stateFail(c, "States.Runtime", fmt.Sprintf("The SecondsPath parameter references a negative value: %s == %s", s.seconds.path.src, encodeJSON(v)))
				}
				until = now.Add(time.Duration(x) * time.Second)
			} else {
				x, _, o := f.number(s.seconds, c, data, env)
				if o.fail != nil {
					return o
				}
				if x < 0 || x != math.Trunc(x) {
					return f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("The Seconds field must be a non-negative integer, but was %s", encodeJSON(x)))
				}
				until = now.Add(time.Duration(x) * time.Second)
			}
		default:
			var ts string
			switch {
			case s.timestampPath != nil:
				v, err := s.timestampPath.get(data, env)
				if err != nil {
					return f.stateFail(c, "States.Runtime", fmt.Sprintf("Invalid path '%s' : %v", s.timestampPath.src, err))
				}
				str, ok := v.(string)
				if _, perr := parseTimestamp(str); !ok || perr != nil {
					return f.stateFail(c, "States.Runtime", fmt.Sprintf("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s == %s", s.timestampPath.src, encodeJSON(v)))
				}
				ts = str
			case s.timestamp != nil:
				v, err := s.timestamp.eval(data, env)
				if err != nil {
					return f.evalFail(c, err)
				}
				str, _ := v.(string)
				if _, perr := parseTimestamp(str); perr != nil {
					return f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: %s", str))
				}
				ts = str
			default:
				ts = s.timestampLit
			}
			t, err := parseTimestamp(ts)
			if err != nil {
				return f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: %s", ts))
			}
			until = t
		}
		c.Phase = phWait
		c.WakeAt = until
		if d := until.Sub(now); d > 0 {
			return f.suspendTimer(c, d)
		}
	}
	if c.Phase == phWait && c.resume == nil && f.e.clock.Now().Before(c.WakeAt) {
		return f.suspendTimer(c, c.WakeAt.Sub(f.e.clock.Now()))
	}
	c.resume = nil
	c.Phase = phEnter
	if s.ql == JSONata {
		return f.jsonataTail(s, c, c.Input, env)
	}
	assigns, err := f.evalAssign(s.assign, data, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	out, err := f.outputPath(s, data, env)
	if err != nil {
		return f.evalFail(c, err)
	}
	f.sc.assign(assigns)
	return f.transition(s, out)
}

func (f *frame) suspendTimer(c *cursor, d time.Duration) outcome {
	w := f.newWaiter()
	w.addStop(f.e.sleepFunc(d, func() { w.deliver(f.e, resumeMsg{}) }))
	return outcome{kind: outSuspend, wait: &waitReq{w: w}}
}

// ---- errors: Retry and Catch ----

// errMatches applies ErrorEquals. States.ALL and States.TaskFailed never match
// States.Runtime or States.DataLimitExceeded; the latter can still be named explicitly
// (States.Runtime never reaches Retry or Catch at all).
func errMatches(names []string, err string) bool {
	terminal := err == "States.Runtime" || err == "States.DataLimitExceeded"
	for _, n := range names {
		switch {
		case n == err:
			return true
		case n == "States.ALL" && !terminal:
			return true
		case n == "States.TaskFailed" && !terminal && err != "States.Timeout" && err != "States.HeartbeatTimeout":
			return true
		}
	}
	return false
}

// handleError routes a failure of a Task, Parallel or Map state through its retriers
// and catchers. It returns a suspend outcome for a retry.
func (f *frame) handleError(s *state, c *cursor, ferr *failure) outcome {
	if len(c.Retries) != len(s.retry) {
		c.Retries = make([]int, len(s.retry))
	}
	for i, r := range s.retry {
		if !errMatches(r.errors, ferr.Error) {
			continue
		}
		if c.Retries[i] >= r.maxAttempts {
			break
		}
		delay := r.interval * math.Pow(r.backoff, float64(c.Retries[i]))
		if r.maxDelay > 0 && delay > r.maxDelay {
			delay = r.maxDelay
		}
		if r.jitterFull {
			delay = rand.Float64() * delay
		}
		c.Retries[i]++
		c.Attempt++
		c.Phase = phBackoff
		c.Pending = nil
		d := time.Duration(delay * float64(time.Second))
		c.WakeAt = f.e.clock.Now().Add(d)
		return f.suspendTimer(c, d)
	}
	for _, k := range s.catch {
		if !errMatches(k.errors, ferr.Error) {
			continue
		}
		// AWS always gives the error output a Cause, empty when the error has none (a
		// States.Timeout, a Fail state without Cause).
		errOut := map[string]any{"Error": ferr.Error, "Cause": ferr.Cause}
		env := f.env(c, c.Input)
		c.Phase, c.Pending = phEnter, nil
		if s.ql == JSONata {
			env.errOut, env.hasErr = errOut, true
			assigns, err := f.evalAssign(k.assign, c.Input, env)
			if err != nil {
				return f.evalFail(c, err)
			}
			var out any = errOut
			if k.output != nil {
				out, err = k.output.eval(c.Input, env)
				if err != nil {
					return f.evalFail(c, err)
				}
			}
			f.sc.assign(assigns)
			return outcome{kind: outNext, next: k.next, output: out}
		}
		assigns, err := f.evalAssign(k.assign, errOut, env)
		if err != nil {
			return f.evalFail(c, err)
		}
		var out any
		switch {
		case k.discard:
			out = c.Input
		case k.resultPath == nil || len(k.resultPath.segs) == 0:
			out = errOut
		default:
			out, err = k.resultPath.set(c.Input, errOut)
			if err != nil {
				return f.stateFail(c, "States.Runtime", err.Error())
			}
		}
		f.sc.assign(assigns)
		return outcome{kind: outNext, next: k.next, output: out}
	}
	return outcome{kind: outFail, fail: ferr}
}

// ---- Parallel and Map ----

func (f *frame) compound(s *state, c *cursor) outcome {
	if c.Phase == phBackoff {
		if c.resume == nil {
			return f.suspendTimer(c, max(0, c.WakeAt.Sub(f.e.clock.Now())))
		}
		c.resume = nil
		c.Phase = phEnter
	}
	env := f.env(c, c.Input)
	var result any
	var ferr *failure
	var o outcome
	if s.typ == "Parallel" {
		result, ferr, o = f.parallel(s, c, env)
	} else {
		result, ferr, o = f.mapRun(s, c, env)
	}
	if f.tracksBranches() && o.kind != outGone {
		f.endBranches()
	}
	if o.kind == outFail && o.fail != nil {
		if o.fail.Error == "States.Runtime" {
			return o
		}
		ferr = o.fail
	}
	if o.kind == outGone {
		return o
	}
	if ferr != nil {
		return f.handleError(s, c, ferr)
	}
	return f.finish(s, c, result, env)
}

func (f *frame) child(m *machine, ctx context.Context) *frame {
	return &frame{e: f.e, x: f.x, m: m, sc: &scope{parent: f.sc}, ctx: ctx}
}

func (f *frame) parallel(s *state, c *cursor, env *evalEnv) (any, *failure, outcome) {
	var in any
	var err error
	if s.ql == JSONata {
		in = c.Input
		if s.arguments != nil {
			in, err = s.arguments.eval(c.Input, env)
		}
	} else {
		in, err = f.inputPath(s, c, env)
		if err == nil && s.parameters != nil {
			in, err = s.parameters.eval(in, env)
		}
	}
	if err != nil {
		return nil, nil, f.evalFail(c, err)
	}
	track := f.tracksBranches()
	var rec map[string]*branchRec
	if track {
		rec = f.beginBranches(c, Event{Type: "ParallelStateStarted"})
	} else {
		f.emit(c, Event{Type: "ParallelStateStarted"})
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	results := make([]any, len(s.branches))
	var mu sync.Mutex
	var first *failure
	var wg sync.WaitGroup
	prev := c.Prev
	for i, b := range s.branches {
		r := rec[branchKey(i)]
		if r != nil && r.Done {
			results[i] = r.Output
			continue
		}
		wg.Add(1)
		go func(i int, b *machine) {
			defer wg.Done()
			cf := f.child(b, ctx)
			var out any
			var ferr *failure
			var code int64
			if track {
				cf.key = f.childKey(i)
			}
			if r != nil && r.Cursor != nil {
				out, ferr, code = cf.resumeBranch(r, f.takePrearmed(cf.key))
			} else {
				out, ferr, code = cf.run(in, prev)
			}
			if track && ferr == nil && code != -1 && ctx.Err() == nil {
				cf.finishBranch(out)
			}
			mu.Lock()
			defer mu.Unlock()
			if ferr != nil && first == nil {
				first = ferr
				cancel()
			}
			results[i] = out
		}(i, b)
	}
	wg.Wait()
	if f.x.closed() || f.e.isClosing() || f.ctx.Err() != nil {
		// Branches stopped early: this state's result is incomplete, so it is not one.
		return nil, nil, outcome{kind: outGone}
	}
	if first != nil {
		f.emit(c, Event{Type: "ParallelStateFailed", Error: first.Error, Cause: first.Cause, HasCause: first.HasCause})
		return nil, first, outcome{}
	}
	f.emit(c, Event{Type: "ParallelStateSucceeded"})
	return results, nil, outcome{}
}

func (f *frame) mapRun(s *state, c *cursor, env *evalEnv) (any, *failure, outcome) {
	var items any
	var data any
	var err error
	if s.ql == JSONata {
		data = c.Input
		if s.items != nil {
			items, err = s.items.eval(c.Input, env)
			if err != nil {
				if ee, ok := err.(*evalError); ok && strings.Contains(ee.cause, "unsupported result type") {
					return nil, nil, f.stateFail(c, ee.name, ee.cause)
				}
				return nil, nil, f.evalFail(c, err)
			}
			if _, ok := items.([]any); !ok {
				return nil, nil, f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '%s' for value: %s", s.items.srcExpr(), jsonType(items), encodeJSON(items)))
			}
		} else {
			items = c.Input
		}
	} else {
		data, err = f.inputPath(s, c, env)
		if err != nil {
			return nil, nil, f.evalFail(c, err)
		}
		items = data
		if s.itemsPath != nil {
			items, err = s.itemsPath.get(data, env)
			if err != nil {
				return nil, nil, f.stateFail(c, "States.Runtime", fmt.Sprintf("Invalid path '%s' : %v", s.itemsPath.src, err))
			}
		}
	}
	list, ok := items.([]any)
	if !ok {
		return nil, nil, f.stateFail(c, "States.QueryEvaluationError", fmt.Sprintf("Map state input must be an array but was: %s", encodeJSON(items)))
	}
	maxc, _, o := f.number(s.maxConc, c, data, env)
	if o.kind == outFail {
		return nil, nil, o
	}
	tolCount, hasTolCount, o := f.number(s.tolCount, c, data, env)
	if o.kind == outFail {
		return nil, nil, o
	}
	tolPct, hasTolPct, o := f.number(s.tolPct, c, data, env)
	if o.kind == outFail {
		return nil, nil, o
	}
	if hasTolPct && (tolPct < 0 || tolPct > 100) {
		return nil, nil, f.stateFail(c, "States.Runtime", "ToleratedFailurePercentage must be between 0 and 100.")
	}
	if hasTolCount && tolCount < 0 {
		return nil, nil, f.stateFail(c, "States.Runtime", "ToleratedFailureCount cannot be negative.")
	}
	// Item batching groups items before they reach the processor.
	if s.hasBatcher {
		n, _, o := f.number(s.batchMax, c, data, env)
		if o.kind == outFail {
			return nil, nil, o
		}
		if n < 1 {
			n = float64(len(list))
		}
		var bi any
		if s.batchInput != nil {
			bi, err = s.batchInput.eval(data, env)
			if err != nil {
				return nil, nil, f.evalFail(c, err)
			}
		}
		var batches []any
		for i := 0; i < len(list); i += int(n) {
			end := min(i+int(n), len(list))
			b := map[string]any{"Items": append([]any(nil), list[i:end]...)}
			if bi != nil {
				b["BatchInput"] = bi
			}
			batches = append(batches, b)
		}
		list = batches
	}
	track := f.tracksBranches()
	var rec map[string]*branchRec
	if track {
		rec = f.beginBranches(c, Event{Type: "MapStateStarted", Length: len(list)})
	} else {
		f.emit(c, Event{Type: "MapStateStarted", Length: len(list)})
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	results := make([]any, len(list))
	conc := len(list)
	if maxc >= 1 && int(maxc) < conc {
		conc = int(maxc)
	}
	if conc < 1 {
		conc = 1
	}
	// AWS runs at most 40 iterations of an inline Map at once; a distributed Map runs up
	// to 10,000 child executions, which in process are goroutines: 1,000 is plenty.
	if s.processor.mode == "DISTRIBUTED" {
		conc = min(conc, 1000)
	} else {
		conc = min(conc, 40)
	}
	var mu sync.Mutex
	var failures int
	var firstFail *failure
	var aborted bool
	tolerated := func(n int) bool {
		if hasTolCount && float64(n) <= tolCount {
			return true
		}
		if hasTolPct && len(list) > 0 && float64(n)*100/float64(len(list)) <= tolPct {
			return true
		}
		return false
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	prev := c.Prev
	for i, item := range list {
		r := rec[branchKey(i)]
		if r != nil && r.Done {
			results[i] = r.Output
			continue
		}
		sem <- struct{}{}
		mu.Lock()
		stop := aborted
		mu.Unlock()
		if stop || ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func(i int, item any) {
			defer wg.Done()
			defer func() { <-sem }()
			cf := f.child(s.processor, ctx)
			cf.inMap, cf.mapIndex, cf.mapValue = true, i, item
			if track {
				cf.key = f.childKey(i)
			}
			ic := &cursor{Prev: prev}
			var out any
			var ferr *failure
			var code int64
			if r != nil && r.Cursor != nil {
				// Recovered waiting on its token: its input was selected before the crash.
				ic.Prev = r.Cursor.Prev
				out, ferr, code = cf.resumeBranch(r, f.takePrearmed(cf.key))
			} else {
				out, ferr, code = f.startIteration(s, c, cf, ic, data, item, i)
				if code == -3 {
					mu.Lock()
					if firstFail == nil {
						firstFail = ferr
					}
					aborted = true
					mu.Unlock()
					cancel()
					return
				}
			}
			if track && ferr == nil && code != -1 && ctx.Err() == nil {
				cf.finishBranch(out)
			}
			mu.Lock()
			defer mu.Unlock()
			if ferr != nil {
				f.emit(ic, Event{Type: "MapIterationFailed", MapName: c.State, Index: i})
				failures++
				if firstFail == nil {
					firstFail = ferr
				}
				if !tolerated(failures) {
					aborted = true
					cancel()
				}
				return
			}
			if ctx.Err() == nil {
				f.emit(ic, Event{Type: "MapIterationSucceeded", MapName: c.State, Index: i})
			}
			results[i] = out
		}(i, item)
	}
	wg.Wait()
	if f.x.closed() || f.e.isClosing() || f.ctx.Err() != nil {
		return nil, nil, outcome{kind: outGone}
	}
	if aborted || (failures > 0 && !tolerated(failures)) {
		if firstFail != nil && (firstFail.Error == "States.Runtime" || firstFail.Error == "States.QueryEvaluationError") && failures == 0 {
			return nil, nil, outcome{kind: outFail, fail: firstFail}
		}
		ferr := firstFail
		if failures > 0 && (hasTolCount || hasTolPct) {
			ferr = fail("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
		}
		f.emit(c, Event{Type: "MapStateFailed", Error: ferr.Error, Cause: ferr.Cause, HasCause: ferr.HasCause})
		return nil, ferr, outcome{}
	}
	f.emit(c, Event{Type: "MapStateSucceeded"})
	return results, nil, outcome{}
}

// startIteration selects the input of Map iteration i and runs it from the start. An
// ItemSelector error is returned with code -3: it aborts the Map state rather than
// counting as a failed iteration.
func (f *frame) startIteration(s *state, c *cursor, cf *frame, ic *cursor, data, item any, i int) (any, *failure, int64) {
	ienv := cf.env(c, data)
	ienv.state = c.State
	in := item
	if s.itemSelector != nil {
		var err error
		in, err = s.itemSelector.eval(data, ienv)
		if err != nil {
			return nil, f.evalFail(c, err).fail, -3
		}
	}
	f.emit(ic, Event{Type: "MapIterationStarted", MapName: c.State, Index: i})
	return cf.run(in, ic.Prev)
}

func (t *tmpl) srcExpr() string {
	if t.expr != nil {
		return t.expr.src
	}
	return encodeJSON(t.lit)
}

// ---- Task ----

func (f *frame) task(s *state, c *cursor) outcome {
	for {
		switch c.Phase {
		case phEnter:
			// A callback task's Parameters/Arguments read the token ($$.Task.Token,
			// $states.context.Task.Token), so it exists before they are evaluated.
			if strings.HasSuffix(s.resource, ".waitForTaskToken") && c.Token == "" {
				c.Token = f.e.newToken(f.x)
			}
			env := f.env(c, c.Input)
			var eff any
			var err error
			if s.ql == JSONata {
				eff = c.Input
				if s.arguments != nil {
					eff, err = s.arguments.eval(c.Input, env)
				}
			} else {
				eff, err = f.inputPath(s, c, env)
				if err == nil && s.parameters != nil {
					eff, err = s.parameters.eval(eff, env)
				}
			}
			if err != nil {
				return f.evalFail(c, err)
			}
			c.Effective = eff
			c.Phase = phInvoke
		case phInvoke:
			res := f.invokeTask(s, c)
			if res.kind == outSuspend || res.kind == outGone || res.kind == outFail && res.fail == nil {
				return res
			}
			if res.fail != nil {
				c.Pending = res.fail
				c.Phase = phFailed
				continue
			}
			c.Phase = phEnter
			c.Token = ""
			return f.finish(s, c, res.output, f.env(c, c.Input))
		case phToken:
			if c.resume == nil {
				// Re-armed after a restart: keep waiting.
				return f.rearmToken(s, c)
			}
			m := c.resume
			c.resume = nil
			if m.err != nil {
				if m.err.Error == "States.Timeout" || m.err.Error == "States.HeartbeatTimeout" {
					f.emit(c, Event{Type: "TaskTimedOut", Resource: taskResourceName(s.resource), ResourceType: taskResourceType(s.resource), Error: m.err.Error, Cause: m.err.Cause, HasCause: m.err.HasCause})
				} else {
					f.emit(c, Event{Type: "TaskFailed", Resource: taskResourceName(s.resource), ResourceType: taskResourceType(s.resource), Error: m.err.Error, Cause: m.err.Cause, HasCause: m.err.HasCause})
				}
				c.Pending = m.err
				c.Phase = phFailed
				c.Token = ""
				continue
			}
			f.emit(c, Event{Type: "TaskSucceeded", Resource: taskResourceName(s.resource), ResourceType: taskResourceType(s.resource), Output: m.output, HasOutput: true})
			c.Phase = phEnter
			c.Token = ""
			return f.finish(s, c, m.output, f.env(c, c.Input))
		case phFailed:
			ferr := c.Pending
			if ferr.Error == "States.Runtime" {
				return outcome{kind: outFail, fail: ferr}
			}
			return f.handleError(s, c, ferr)
		case phBackoff:
			if c.resume == nil && f.e.clock.Now().Before(c.WakeAt) {
				return f.suspendTimer(c, c.WakeAt.Sub(f.e.clock.Now()))
			}
			c.resume = nil
			c.Phase = phEnter
			c.Token = ""
		default:
			return f.stateFail(c, "States.Runtime", "unknown task phase "+c.Phase)
		}
	}
}

func taskResourceType(r string) string {
	if strings.HasPrefix(r, "arn:aws:states:::") {
		rest := strings.TrimPrefix(r, "arn:aws:states:::")
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			return rest[:i]
		}
		return rest
	}
	return "lambda"
}

func taskResourceName(r string) string {
	if strings.HasPrefix(r, "arn:aws:states:::") {
		rest := strings.TrimPrefix(r, "arn:aws:states:::")
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			return rest[i+1:]
		}
	}
	return r
}
