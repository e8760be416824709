package asl

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/lambda"
)

// Options configure an Engine.
type Options struct {
	// Path is the directory holding the engine's database; "" keeps everything in memory.
	Path string
	// Clock defaults to RealClock. Tests pass a *VirtualClock.
	Clock Clock
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// OnEvent, when set, is called for every history event, in order per execution. It
	// runs on the engine's goroutines: keep it quick and do not call back into the engine
	// from it synchronously.
	OnEvent func(executionARN, executionName string, ev Event)
	// Region and Account shape the ARNs (defaults us-east-1, 000000000000).
	Region, Account string
	// CloseTimeout bounds how long Close waits for running handler invocations (default 10s).
	CloseTimeout time.Duration
	// OpenTimeout bounds how long Open waits for another process's lock on Path (default 1s).
	OpenTimeout time.Duration
	// Functions are registered (as by RegisterFunction) before Open resumes the executions
	// that were running, so a resumed Task finds its handler.
	Functions map[string]lambda.Handler
	// NoSync leaves putting the database's writes on disk to the kernel instead of
	// syncing every commit (Close syncs). Every write still reaches the kernel before the
	// engine acts on it, so the engine's state survives its process being killed
	// (kill -9) exactly as with syncing, but not a power loss or a kernel crash, after
	// which the database may not open. A sync per commit costs 1-3 ms on a small VM's
	// disk, and a run commits at every Task.
	NoSync bool
}

// Execution statuses, as AWS names them.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// APIError is an error the Step Functions API would return; Code is AWS's exception name.
type APIError struct {
	Code    string
	Message string
	// Err is the underlying error when there is one (ValidationErrors for
	// InvalidDefinition), for errors.As.
	Err error
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func (e *APIError) Unwrap() error { return e.Err }

func apiErr(code, format string, a ...any) error {
	return &APIError{Code: code, Message: fmt.Sprintf(format, a...)}
}

// ErrorCode returns the AWS exception name of err, or "" when it is not an API error.
func ErrorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

type stateMachine struct {
	arn, name string
	def       *Definition
	created   time.Time
	rev       string // digest of the definition: executions remember which one they run
}

func revision(def []byte) string {
	var c bytes.Buffer
	if json.Compact(&c, def) != nil {
		c.Reset()
		c.Write(def)
	}
	sum := sha256.Sum256(c.Bytes())
	return hex.EncodeToString(sum[:16])
}

// Engine runs state machines. It is safe for concurrent use.
type Engine struct {
	opts  Options
	clock Clock
	log   *slog.Logger
	st    *store

	mu       sync.RWMutex
	machines map[string]*stateMachine // by ARN
	execs    map[string]*execution    // by ARN
	tokens   map[string]*waiter
	funcs    map[string]*function

	closing  atomic.Bool
	closeCh  chan struct{} // closed by Close: nested frames stop waiting on tokens and timers
	workers  pool
	inflight sync.WaitGroup
	drivers  sync.WaitGroup
	// stored holds, during recovery only, the answers found in the database.
	stored map[string]answerRec
}

// Open starts an engine. With a Path it reopens the database there and resumes every
// execution that was running (see the package doc for what "resume" guarantees).
func Open(opts Options) (*Engine, error) {
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if opts.CloseTimeout == 0 {
		opts.CloseTimeout = 10 * time.Second
	}
	if opts.OpenTimeout == 0 {
		opts.OpenTimeout = time.Second
	}
	e := &Engine{opts: opts, clock: opts.Clock, log: opts.Logger,
		machines: map[string]*stateMachine{}, execs: map[string]*execution{},
		tokens: map[string]*waiter{}, funcs: map[string]*function{}, closeCh: make(chan struct{})}
	for arn, h := range opts.Functions {
		e.RegisterFunction(arn, h)
	}
	if opts.Path != "" {
		st, err := openStore(opts.Path, opts.OpenTimeout, opts.NoSync)
		if err != nil {
			return nil, err
		}
		e.st = st
		if err := e.recover(); err != nil {
			st.close()
			return nil, err
		}
	}
	return e, nil
}

func (e *Engine) sleepFunc(d time.Duration, f func()) func() bool {
	if s, ok := e.clock.(Sleeper); ok {
		return s.SleepFunc(d, f)
	}
	return e.clock.AfterFunc(d, f)
}

func (e *Engine) isClosing() bool { return e.closing.Load() }

// Close stops accepting work, waits (bounded by CloseTimeout) for handler invocations in
// flight and for executions to reach a safe point, and closes the database. Executions
// still running are resumed by the next Open on the same Path.
func (e *Engine) Close() error {
	if e.closing.Swap(true) {
		return nil
	}
	close(e.closeCh)
	e.mu.Lock()
	execs := make([]*execution, 0, len(e.execs))
	for _, x := range e.execs {
		execs = append(execs, x)
	}
	e.mu.Unlock()
	for _, x := range execs {
		x.mu.Lock()
		if x.parked != nil {
			x.parked.w.cancelTimersOnly()
		}
		if x.timeoutStop != nil {
			x.timeoutStop()
		}
		x.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		e.inflight.Wait()
		e.drivers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(e.opts.CloseTimeout):
		e.log.Warn("asl: closing with handler invocations still running", "timeout", e.opts.CloseTimeout)
	}
	e.workers.close()
	if e.st != nil {
		return e.st.close()
	}
	return nil
}

func (w *waiter) cancelTimersOnly() {
	w.mu.Lock()
	stop := w.timers()
	w.mu.Unlock()
	stop()
}

// ---- state machines ----

// validName applies AWS's naming rule for state machines and executions: 1 to 80
// characters, no whitespace, brackets, wildcards, the punctuation listed below, or
// control characters.
func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 80 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r < 0x20 || (r >= 0x7f && r <= 0x9f) || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) {
			return false
		}
	}
	return true
}

// StateMachineARN returns the ARN a state machine called name gets.
func (e *Engine) StateMachineARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", e.opts.Region, e.opts.Account, name)
}

// CreateStateMachine validates and registers a definition. Creating the same name with
// the same definition again returns the same ARN; a different definition under an
// existing name is StateMachineAlreadyExists, as in AWS.
func (e *Engine) CreateStateMachine(ctx context.Context, name string, definition []byte) (string, error) {
	if !validName(name) {
		return "", apiErr("InvalidName", "Invalid Name: '%s' (1 to 80 characters; no whitespace, brackets, wildcards or special characters)", name)
	}
	def, err := Parse(definition)
	if err != nil {
		return "", &APIError{Code: "InvalidDefinition", Message: err.Error(), Err: err}
	}
	arn := e.StateMachineARN(name)
	e.mu.Lock()
	if old, ok := e.machines[arn]; ok {
		e.mu.Unlock()
		if sameJSON(old.def.raw, definition) {
			return arn, nil
		}
		return "", apiErr("StateMachineAlreadyExists", "State Machine Already Exists: '%s'", arn)
	}
	sm := &stateMachine{arn: arn, name: name, def: def, created: e.clock.Now(), rev: revision(definition)}
	e.machines[arn] = sm
	e.mu.Unlock()
	if e.st != nil {
		if err := e.st.putMachine(sm); err != nil {
			return "", err
		}
	}
	return arn, nil
}

// PutStateMachine creates the state machine, or updates its definition when it exists
// with another one: what a process that embeds its definition wants at every start.
func (e *Engine) PutStateMachine(ctx context.Context, name string, definition []byte) (string, error) {
	arn, err := e.CreateStateMachine(ctx, name, definition)
	if ErrorCode(err) != "StateMachineAlreadyExists" {
		return arn, err
	}
	arn = e.StateMachineARN(name)
	if _, err := e.UpdateStateMachine(ctx, arn, definition); err != nil {
		return "", err
	}
	return arn, nil
}

// UpdateStateMachine replaces the definition of an existing state machine. New
// executions use the new definition; running ones finish on the one they started with,
// as in AWS (also across a restart: each execution records its definition's revision).
func (e *Engine) UpdateStateMachine(ctx context.Context, arn string, definition []byte) (time.Time, error) {
	def, err := Parse(definition)
	if err != nil {
		return time.Time{}, &APIError{Code: "InvalidDefinition", Message: err.Error(), Err: err}
	}
	now := e.clock.Now()
	e.mu.Lock()
	old, ok := e.machines[arn]
	if !ok {
		e.mu.Unlock()
		return time.Time{}, apiErr("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn)
	}
	sm := &stateMachine{arn: arn, name: old.name, def: def, created: old.created, rev: revision(definition)}
	e.machines[arn] = sm
	e.mu.Unlock()
	if e.st != nil {
		if err := e.st.putMachine(sm); err != nil {
			return time.Time{}, err
		}
	}
	return now, nil
}

// StateMachineInfo describes a registered state machine.
type StateMachineInfo struct {
	ARN, Name  string
	Definition string
	Created    time.Time
}

// DescribeStateMachine returns a registered state machine.
func (e *Engine) DescribeStateMachine(ctx context.Context, arn string) (*StateMachineInfo, error) {
	e.mu.RLock()
	sm, ok := e.machines[arn]
	e.mu.RUnlock()
	if !ok {
		return nil, apiErr("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn)
	}
	return &StateMachineInfo{ARN: sm.arn, Name: sm.name, Definition: string(sm.def.raw), Created: sm.created}, nil
}

// DescribeStateMachineForExecution returns the definition an execution runs (the one it
// started with, even after an UpdateStateMachine).
func (e *Engine) DescribeStateMachineForExecution(ctx context.Context, executionARN string) (*StateMachineInfo, error) {
	x, err := e.getExec(executionARN)
	if err != nil {
		return nil, err
	}
	return &StateMachineInfo{ARN: x.sm.arn, Name: x.sm.name, Definition: string(x.sm.def.raw), Created: x.sm.created}, nil
}

// ListStateMachines lists registered state machines by name.
func (e *Engine) ListStateMachines(ctx context.Context) []StateMachineInfo {
	e.mu.RLock()
	out := make([]StateMachineInfo, 0, len(e.machines))
	for _, sm := range e.machines {
		out = append(out, StateMachineInfo{ARN: sm.arn, Name: sm.name, Created: sm.created})
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ---- executions ----

type execution struct {
	mu     sync.Mutex
	arn    string
	name   string
	sm     *stateMachine
	info   execInfo
	input  string
	status string
	output any
	ferr   *failure
	stop   time.Time
	events []hevent
	nextID int64
	done   chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	root   *scope

	parked      *parkRec
	historyFull bool
	timeoutAt   time.Time
	timeoutStop func() bool

	persistMu sync.Mutex
	flushed   int
	cur       *cursor // last checkpointed cursor (for persistence)

	// nested is the progress of the branches of the top-level Parallel or Map state in
	// progress (see branches.go); prearmed holds their tokens re-registered at Open.
	nested   map[string]json.RawMessage
	prearmed map[string]*waiter
	// answered holds the tokens whose answer is stored in the database (answers.go).
	answered map[string]struct{}
}

type parkRec struct {
	w *waiter
	c *cursor
}

func (x *execution) closed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.status != StatusRunning
}

func (x *execution) isHistoryFull() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.historyFull
}

func (x *execution) appendEvent(e *Engine, ev Event) int64 {
	x.mu.Lock()
	if x.nextID >= HistoryLimit-1 && !strings.HasPrefix(ev.Type, "Execution") {
		// Event 25,000 can only be the execution's end: the driver fails it (AWS's rule).
		x.historyFull = true
		id := x.nextID
		x.mu.Unlock()
		return id
	}
	x.nextID++
	ev.ID = x.nextID
	if ev.Timestamp.IsZero() {
		ev.Timestamp = e.clock.Now()
	}
	x.events = append(x.events, pack(&ev))
	x.mu.Unlock()
	if e.opts.OnEvent != nil {
		e.observe(x, ev)
	}
	return ev.ID
}

// observe calls OnEvent; an observer that panics is logged, not fatal to the execution.
func (e *Engine) observe(x *execution, ev Event) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("asl: OnEvent panicked", "execution", x.arn, "event", ev.Type, "panic", p)
		}
	}()
	e.opts.OnEvent(x.arn, x.name, ev)
}

// StartResult is what StartExecution returns.
type StartResult struct {
	ExecutionARN string
	StartDate    time.Time
}

// StartExecution starts an execution of the state machine. name "" gets a UUID. The
// same name with the same input while the execution is open returns that execution;
// otherwise a reused name is ExecutionAlreadyExists.
func (e *Engine) StartExecution(ctx context.Context, smARN, name string, input []byte) (StartResult, error) {
	if e.isClosing() {
		return StartResult{}, apiErr("ServiceUnavailable", "the engine is shutting down")
	}
	e.mu.RLock()
	sm, ok := e.machines[smARN]
	e.mu.RUnlock()
	if !ok {
		return StartResult{}, apiErr("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", smARN)
	}
	if name == "" {
		name = newUUID()
	}
	if !validName(name) {
		return StartResult{}, apiErr("InvalidName", "Invalid Name: '%s' (1 to 80 characters; no whitespace, brackets, wildcards or special characters)", name)
	}
	if len(input) == 0 {
		input = []byte("{}")
	}
	if len(input) > PayloadLimit {
		return StartResult{}, apiErr("InvalidExecutionInput", "The input exceeds the maximum size of %d bytes (got %d).", PayloadLimit, len(input))
	}
	in, err := decodeJSON(input)
	if err != nil {
		return StartResult{}, apiErr("InvalidExecutionInput", "Invalid State Machine Execution Input: '%v'", err)
	}
	arn := fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", e.opts.Region, e.opts.Account, sm.name, name)
	inStr := encodeJSON(in)
	now := e.clock.Now()
	e.mu.Lock()
	if old, ok := e.execs[arn]; ok {
		e.mu.Unlock()
		old.mu.Lock()
		same := old.status == StatusRunning && old.input == inStr
		start := old.info.Start
		old.mu.Unlock()
		if same {
			return StartResult{ExecutionARN: arn, StartDate: start}, nil
		}
		return StartResult{}, apiErr("ExecutionAlreadyExists", "Execution Already Exists: '%s'", arn)
	}
	x := &execution{arn: arn, name: name, sm: sm, input: inStr, status: StatusRunning, done: make(chan struct{}), root: &scope{}}
	// Most executions walk each state about once: size the history for that.
	x.events = make([]hevent, 0, min(2*len(sm.def.root.states)+4, 64))
	x.info = execInfo{ID: arn, Name: name, SMID: sm.arn, SMName: sm.name, Input: in, Start: now,
		RoleArn: fmt.Sprintf("arn:aws:iam::%s:role/shipgate-local", e.opts.Account)}
	x.ctx, x.cancel = context.WithCancel(context.Background())
	e.execs[arn] = x
	e.mu.Unlock()

	x.appendEvent(e, Event{Type: "ExecutionStarted", Input: in, HasInput: true, Resource: x.info.RoleArn, Timestamp: now})
	if to := sm.def.TimeoutSeconds; to > 0 {
		x.timeoutAt = now.Add(time.Duration(to) * time.Second)
	}
	c := &cursor{State: sm.def.root.startAt, Input: in, Prev: 1}
	if e.st != nil {
		// The start is durable before the caller hears about it.
		if err := e.checkpoint(x, nil); err != nil {
			e.mu.Lock()
			delete(e.execs, arn)
			e.mu.Unlock()
			return StartResult{}, err
		}
	}
	e.armExecTimeout(x)
	e.drivers.Add(1)
	e.workers.run(func() {
		defer e.drivers.Done()
		e.runFrom(x, c, true)
	})
	return StartResult{ExecutionARN: arn, StartDate: now}, nil
}

func (e *Engine) armExecTimeout(x *execution) {
	if x.timeoutAt.IsZero() {
		return
	}
	d := x.timeoutAt.Sub(e.clock.Now())
	stop := e.clock.AfterFunc(max(d, 0), func() {
		e.closeExecution(x, StatusTimedOut, &failure{Error: "States.Timeout", Cause: "The execution timed out.", HasCause: false})
	})
	x.mu.Lock()
	x.timeoutStop = stop
	x.mu.Unlock()
}

func (e *Engine) rootFrame(x *execution) *frame {
	return &frame{e: e, x: x, m: x.sm.def.root, sc: x.root, top: true, ctx: x.ctx}
}

// runFrom drives the top level from cursor c; fresh means c has not been entered yet.
func (e *Engine) runFrom(x *execution, c *cursor, fresh bool) {
	f := e.rootFrame(x)
	var out any
	var ferr *failure
	var code int64
	if fresh {
		out, ferr, code = f.run(c.Input, c.Prev)
	} else {
		func() {
			defer e.recoverInto(x, &ferr, &code)
			out, ferr, code = f.loop(c)
		}()
	}
	e.settle(x, out, ferr, code)
}

// recoverInto turns a panic in the engine's own code into a failed execution, so one
// bad execution cannot take the process (and every other execution) down.
func (e *Engine) recoverInto(x *execution, ferr **failure, code *int64) {
	if p := recover(); p != nil {
		e.log.Error("asl: internal error", "execution", x.arn, "panic", p, "stack", string(debug.Stack()))
		*ferr = fail("States.Runtime", fmt.Sprintf("internal error in shipgate's engine: %v", p))
		*code = 0
	}
}

func (e *Engine) settle(x *execution, out any, ferr *failure, code int64) {
	switch {
	case code == -2, code == -1 && ferr == nil:
		return
	case ferr != nil:
		e.finish(x, StatusFailed, nil, ferr)
	default:
		e.finish(x, StatusSucceeded, out, nil)
	}
}

// finish records the execution's end from its own driver.
func (e *Engine) finish(x *execution, status string, out any, ferr *failure) {
	x.mu.Lock()
	if x.status != StatusRunning {
		x.mu.Unlock()
		return
	}
	x.status = status
	x.output = out
	x.ferr = ferr
	x.stop = e.clock.Now()
	stop := x.timeoutStop
	x.mu.Unlock()
	if stop != nil {
		stop()
	}
	if status == StatusSucceeded {
		x.appendEvent(e, Event{Type: "ExecutionSucceeded", Output: out, HasOutput: true, PreviousID: x.lastID()})
	} else {
		x.appendEvent(e, Event{Type: "ExecutionFailed", Error: ferr.Error, Cause: ferr.Cause, HasCause: ferr.HasCause, PreviousID: x.lastID()})
	}
	e.endCommon(x)
}

func (x *execution) lastID() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.nextID
}

func (e *Engine) endCommon(x *execution) {
	x.cancel()
	if e.st != nil {
		if err := e.checkpoint(x, nil); err != nil {
			e.log.Error("asl: persisting the end of an execution", "execution", x.arn, "err", err)
		}
	}
	close(x.done)
}

// closeExecution ends an execution from outside its driver: StopExecution or the
// execution timeout.
func (e *Engine) closeExecution(x *execution, status string, ferr *failure) bool {
	x.mu.Lock()
	if x.status != StatusRunning {
		x.mu.Unlock()
		return false
	}
	x.status = status
	x.ferr = ferr
	x.stop = e.clock.Now()
	p := x.parked
	x.parked = nil
	stop := x.timeoutStop
	x.mu.Unlock()
	if p != nil {
		p.w.cancel(e)
	}
	// Every task token of the execution dies with it, parked on or not yet (its handler
	// has not returned), so answers and heartbeats to it are TaskTimedOut from now on.
	var owned []*waiter
	e.mu.RLock()
	for _, w := range e.tokens {
		if w.owner == x {
			owned = append(owned, w)
		}
	}
	e.mu.RUnlock()
	for _, w := range owned {
		w.cancel(e)
	}
	if stop != nil && status != StatusTimedOut {
		stop()
	}
	typ := "ExecutionAborted"
	if status == StatusTimedOut {
		typ = "ExecutionTimedOut"
	}
	ev := Event{Type: typ, PreviousID: x.lastID()}
	if ferr != nil {
		ev.Error, ev.Cause, ev.HasCause = ferr.Error, ferr.Cause, ferr.HasCause
	}
	x.appendEvent(e, ev)
	e.endCommon(x)
	return true
}

// park suspends the top-level frame on w. It returns the message at once when the wait
// was already answered (a callback that came back before the driver parked).
func (e *Engine) park(x *execution, c *cursor, w *waiter) (resumeMsg, bool) {
	if e.st != nil {
		if err := e.checkpoint(x, c); err != nil {
			e.log.Error("asl: checkpoint", "execution", x.arn, "err", err)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	select {
	case m := <-w.ch:
		return m, true
	default:
	}
	if x.status != StatusRunning {
		w.cancel(e)
		return resumeMsg{}, false
	}
	if spare := cap(x.events) - len(x.events); spare > 4 {
		// A parked execution may wait for days: keep its history without spare room.
		x.events = append(make([]hevent, 0, len(x.events)), x.events...)
	}
	x.parked = &parkRec{w: w, c: c}
	return resumeMsg{}, false
}

// wake resumes a parked execution whose waiter was answered.
func (e *Engine) wake(x *execution, w *waiter) {
	x.mu.Lock()
	p := x.parked
	if p == nil || p.w != w || e.isClosing() {
		x.mu.Unlock()
		return
	}
	x.parked = nil
	x.mu.Unlock()
	e.drivers.Add(1)
	e.workers.run(func() {
		defer e.drivers.Done()
		m := <-w.ch
		if testHookResume != nil {
			testHookResume()
		}
		p.c.resume = &m
		e.runFrom(x, p.c, false)
	})
}

// ---- tokens ----

func (e *Engine) newToken(x *execution) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "SGT1" + hex.EncodeToString(b[:]) + "." + base64.RawURLEncoding.EncodeToString([]byte(x.arn))
}

var tokenRE = regexp.MustCompile(`^SGT1[0-9a-f]{48}\.[A-Za-z0-9_\-]+$`)

func (e *Engine) dropToken(t string) {
	e.mu.Lock()
	delete(e.tokens, t)
	e.mu.Unlock()
}

func (e *Engine) tokenWaiter(token string) (*waiter, error) {
	if len(token) > 1024 || !tokenRE.MatchString(token) {
		return nil, apiErr("InvalidToken", "Invalid Token: '%s'", truncate(token, 64))
	}
	e.mu.RLock()
	w, ok := e.tokens[token]
	e.mu.RUnlock()
	if !ok {
		return nil, apiErr("TaskTimedOut", "Task Timed Out: '%s'", truncate(token, 64))
	}
	return w, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// SendTaskSuccess completes the task waiting on token with output (JSON).
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	w, err := e.tokenWaiter(token)
	if err != nil {
		return err
	}
	if len(output) > PayloadLimit {
		return apiErr("InvalidOutput", "The output exceeds the maximum size of %d bytes.", PayloadLimit)
	}
	v, err := decodeJSON(output)
	if err != nil {
		return apiErr("InvalidOutput", "Invalid Output: '%v'", err)
	}
	return e.answer(w, token, resumeMsg{output: v, hasOutput: true})
}

// SendTaskFailure fails the task waiting on token.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	w, err := e.tokenWaiter(token)
	if err != nil {
		return err
	}
	return e.answer(w, token, resumeMsg{err: &failure{Error: errName, Cause: cause, HasCause: cause != ""}})
}

// SendTaskHeartbeat restarts the heartbeat timeout of the task waiting on token.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	w, err := e.tokenWaiter(token)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return apiErr("TaskTimedOut", "Task Timed Out: '%s'", truncate(token, 64))
	}
	if w.hbStop != nil && w.hbDur > 0 {
		w.hbStop()
		w.hbStop = e.clock.AfterFunc(time.Duration(w.hbDur)*time.Second, func() {
			w.deliver(e, resumeMsg{err: &failure{Error: "States.HeartbeatTimeout"}})
		})
	}
	return nil
}

// ---- queries ----

// ExecutionDescription mirrors DescribeExecution's output.
type ExecutionDescription struct {
	ExecutionARN    string
	StateMachineARN string
	Name            string
	Status          string
	StartDate       time.Time
	StopDate        time.Time // zero while running
	Input           string
	Output          *string // set when SUCCEEDED
	Error           *string
	Cause           *string
}

func (e *Engine) getExec(arn string) (*execution, error) {
	e.mu.RLock()
	x, ok := e.execs[arn]
	e.mu.RUnlock()
	if !ok {
		return nil, apiErr("ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	return x, nil
}

func (x *execution) describe() *ExecutionDescription {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := &ExecutionDescription{ExecutionARN: x.arn, StateMachineARN: x.sm.arn, Name: x.name, Status: x.status,
		StartDate: x.info.Start, StopDate: x.stop, Input: x.input}
	if x.status == StatusSucceeded {
		s := encodeJSON(x.output)
		d.Output = &s
	}
	if x.ferr != nil {
		if x.ferr.Error != "" {
			s := x.ferr.Error
			d.Error = &s
		}
		if x.ferr.HasCause {
			s := x.ferr.Cause
			d.Cause = &s
		}
	}
	return d
}

// DescribeExecution reports an execution's status, input and result.
func (e *Engine) DescribeExecution(ctx context.Context, arn string) (*ExecutionDescription, error) {
	x, err := e.getExec(arn)
	if err != nil {
		return nil, err
	}
	return x.describe(), nil
}

// WaitExecution blocks until the execution ends (or ctx is done) and describes it.
func (e *Engine) WaitExecution(ctx context.Context, arn string) (*ExecutionDescription, error) {
	x, err := e.getExec(arn)
	if err != nil {
		return nil, err
	}
	select {
	case <-x.done:
		return x.describe(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ListExecutions lists executions of a state machine, newest first; status "" means all.
func (e *Engine) ListExecutions(ctx context.Context, smARN, status string) ([]ExecutionDescription, error) {
	e.mu.RLock()
	if _, ok := e.machines[smARN]; !ok && smARN != "" {
		e.mu.RUnlock()
		return nil, apiErr("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", smARN)
	}
	var xs []*execution
	for _, x := range e.execs {
		if smARN == "" || x.sm.arn == smARN {
			xs = append(xs, x)
		}
	}
	e.mu.RUnlock()
	out := make([]ExecutionDescription, 0, len(xs))
	for _, x := range xs {
		d := x.describe()
		if status == "" || d.Status == status {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].StartDate.Equal(out[j].StartDate) {
			return out[i].ExecutionARN > out[j].ExecutionARN
		}
		return out[i].StartDate.After(out[j].StartDate)
	})
	return out, nil
}

// GetExecutionHistory returns the execution's events in order.
func (e *Engine) GetExecutionHistory(ctx context.Context, arn string) ([]Event, error) {
	x, err := e.getExec(arn)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Event, len(x.events))
	for i := range x.events {
		out[i] = x.events[i].unpack()
	}
	return out, nil
}

// StopExecution aborts a running execution. Stopping an execution that already ended
// changes nothing and is not an error.
func (e *Engine) StopExecution(ctx context.Context, arn, errName, cause string) (time.Time, error) {
	x, err := e.getExec(arn)
	if err != nil {
		return time.Time{}, err
	}
	var ferr *failure
	if errName != "" || cause != "" {
		ferr = &failure{Error: errName, Cause: cause, HasCause: cause != ""}
	}
	e.closeExecution(x, StatusAborted, ferr)
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stop, nil
}

// ExecutionARNFor builds an execution ARN from the state machine and execution names.
func (e *Engine) ExecutionARNFor(stateMachineName, executionName string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", e.opts.Region, e.opts.Account, stateMachineName, executionName)
}

func splitExecARN(arn string) (sm, name string, ok bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 8 || parts[5] != "execution" {
		return "", "", false
	}
	return parts[6], parts[7], true
}

// ---- functions ----

type function struct {
	arn    string
	h      lambda.Handler
	mu     sync.Mutex
	faults []string // Lambda service errors to return before calling the handler
}

// RegisterFunction makes h the handler of the Lambda function arn (also reachable by its
// bare function name, as Step Functions accepts either).
func (e *Engine) RegisterFunction(arn string, h lambda.Handler) {
	fn := &function{arn: arn, h: h}
	e.mu.Lock()
	e.funcs[arn] = fn
	if name := functionName(arn); name != arn {
		e.funcs[name] = fn
	}
	e.mu.Unlock()
}

// InjectLambdaError makes the next times invocations of the function fail with the
// Lambda service error errName (e.g. "Lambda.ServiceException",
// "Lambda.TooManyRequestsException") without running the handler.
func (e *Engine) InjectLambdaError(arn, errName string, times int) error {
	e.mu.RLock()
	fn, ok := e.funcs[arn]
	e.mu.RUnlock()
	if !ok {
		return fmt.Errorf("asl: no function registered as %q", arn)
	}
	fn.mu.Lock()
	for i := 0; i < times; i++ {
		fn.faults = append(fn.faults, errName)
	}
	fn.mu.Unlock()
	return nil
}

func functionName(arn string) string {
	if i := strings.Index(arn, ":function:"); i >= 0 {
		n := arn[i+len(":function:"):]
		if j := strings.IndexByte(n, ':'); j >= 0 {
			n = n[:j]
		}
		return n
	}
	return arn
}

func (e *Engine) lookupFunction(ref string) (*function, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if fn, ok := e.funcs[ref]; ok {
		return fn, true
	}
	fn, ok := e.funcs[functionName(ref)]
	return fn, ok
}

func contextPair() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// sameJSON compares two JSON texts ignoring insignificant whitespace: a definition read
// back from the database is compacted, the one a caller passes may be indented.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return string(a) == string(b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
