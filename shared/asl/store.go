package asl

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The database holds state machines, executions (metadata, status, the last top-level
// checkpoint and the variables) and each execution's history. Writes go through
// one writer goroutine that commits whatever is queued as one transaction, so
// concurrent executions share fsyncs.

var (
	bRevisions = []byte("revisions")
	bMachines  = []byte("machines")
	bExecs     = []byte("executions")
	bEvents    = []byte("events")
	bAnswers   = []byte("answers")
)

type store struct {
	db   *bolt.DB
	reqs chan writeReq
	done chan struct{}
	// stopped is closed when the writer has returned: close syncs only after the last
	// commit, which a write picked up just before done closed may still be making.
	stopped chan struct{}
}

type writeReq struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// write runs fn in a read-write transaction and returns once it is on disk (synced, or
// with NoSync handed to the kernel). One writer
// goroutine commits everything queued while the previous commit was syncing as one
// transaction (group commit): the fsync is the cost, so its batch is as large as the
// load makes it, without a timer adding latency.
func (s *store) write(fn func(*bolt.Tx) error) error {
	r := writeReq{fn: fn, err: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return bolt.ErrDatabaseNotOpen
	}
	return <-r.err
}

func (s *store) writer() {
	defer close(s.stopped)
	for {
		var batch []writeReq
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.done:
			return
		}
	more:
		for len(batch) < 4096 {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		errs := make([]error, len(batch))
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				errs[i] = r.fn(tx)
			}
			return nil
		})
		for i, r := range batch {
			if err != nil {
				r.err <- err
			} else {
				r.err <- errs[i]
			}
		}
	}
}

// InitialFileSize is what the database file is grown to at its first write, and mapped
// at from the start. bbolt otherwise grows a young database's file at every doubling,
// with a truncate and an fsync each time (1-4 ms on a small VM's disk, synced even with
// NoSync), which put one in the path of about half of a fresh stack's first twenty
// runs. The file is sparse: what it takes on disk is what was written.
const InitialFileSize = 16 << 20

// DBFile is the database file name under Options.Path.
const DBFile = "states.db"

func openStore(dir string, timeout time.Duration, noSync bool) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("asl: create data directory: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	// The freelist is rebuilt at open instead of written at every commit: fewer pages per
	// fsync, same durability.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
		InitialMmapSize: InitialFileSize})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("asl: %s is in use by another process (another shipgate running on the same data directory?)", path)
		}
		return nil, fmt.Errorf("asl: open %s: %w", path, err)
	}
	db.NoSync = noSync
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMachines, bRevisions, bExecs, bEvents, bAnswers} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("asl: initialise %s: %w", path, err)
	}
	st := &store{db: db, reqs: make(chan writeReq), done: make(chan struct{}), stopped: make(chan struct{})}
	go st.writer()
	return st, nil
}

func (s *store) close() error {
	close(s.done)
	<-s.stopped
	var err error
	if s.db.NoSync {
		err = s.db.Sync()
	}
	return errors.Join(err, s.db.Close())
}

type machineRec struct {
	ARN        string          `json:"arn"`
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
	Created    time.Time       `json:"created"`
}

func (s *store) putMachine(sm *stateMachine) error {
	b, err := json.Marshal(machineRec{ARN: sm.arn, Name: sm.name, Definition: sm.def.raw, Created: sm.created})
	if err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bRevisions).Put([]byte(sm.rev), sm.def.raw); err != nil {
			return err
		}
		return tx.Bucket(bMachines).Put([]byte(sm.arn), b)
	})
}

type execRec struct {
	ARN       string         `json:"arn"`
	Name      string         `json:"name"`
	SM        string         `json:"sm"`
	Rev       string         `json:"rev,omitempty"`
	Input     string         `json:"input"`
	Start     time.Time      `json:"start"`
	Stop      time.Time      `json:"stop,omitempty"`
	Status    string         `json:"status"`
	Output    any            `json:"output,omitempty"`
	Fail      *failure       `json:"fail,omitempty"`
	TimeoutAt time.Time      `json:"timeoutAt,omitempty"`
	Cursor    *cursor        `json:"cursor,omitempty"`
	Vars      map[string]any `json:"vars,omitempty"`
	NextID    int64          `json:"nextId"`
	// Branches is the progress of the top-level Parallel or Map state at Cursor.
	Branches map[string]json.RawMessage `json:"branches,omitempty"`
}

func eventKey(id int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	return k[:]
}

// checkpoint persists the execution record with cursor c (nil keeps the previous one)
// and the events not yet written. It returns once the data is on disk (see store.write).
func (e *Engine) checkpoint(x *execution, c *cursor) error {
	if e.st == nil {
		return nil
	}
	x.persistMu.Lock()
	defer x.persistMu.Unlock()
	x.mu.Lock()
	if c != nil {
		x.cur = c
	}
	rec := execRec{ARN: x.arn, Name: x.name, SM: x.sm.arn, Rev: x.sm.rev, Input: x.input, Start: x.info.Start, Stop: x.stop,
		Status: x.status, Output: x.output, Fail: x.ferr, TimeoutAt: x.timeoutAt, NextID: x.nextID}
	if x.status == StatusRunning && x.cur != nil {
		cc := *x.cur
		rec.Cursor = &cc
		rec.Vars = x.root.vars
		if len(x.nested) > 0 {
			rec.Branches = make(map[string]json.RawMessage, len(x.nested))
			for k, v := range x.nested {
				rec.Branches[k] = v
			}
		}
	}
	evs := x.events[x.flushed:]
	flushed := len(x.events)
	consumed := x.consumedAnswers(&rec)
	x.mu.Unlock()
	recB, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("asl: encode execution: %w", err)
	}
	evB := make([][]byte, len(evs))
	for i := range evs {
		ev := evs[i].unpack()
		evB[i] = appendEventJSON(nil, &ev)
	}
	err = e.st.write(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bExecs).Put([]byte(x.arn), recB); err != nil {
			return err
		}
		for _, t := range consumed {
			if err := tx.Bucket(bAnswers).Delete([]byte(t)); err != nil {
				return err
			}
		}
		if len(evs) == 0 {
			return nil
		}
		eb, err := tx.Bucket(bEvents).CreateBucketIfNotExists([]byte(x.arn))
		if err != nil {
			return err
		}
		for i := range evs {
			if err := eb.Put(eventKey(evs[i].id), evB[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		x.mu.Lock()
		for _, t := range consumed {
			x.answered[t] = struct{}{}
		}
		x.mu.Unlock()
		return fmt.Errorf("asl: persist execution %s: %w", x.arn, err)
	}
	x.mu.Lock()
	if flushed > x.flushed {
		x.flushed = flushed
	}
	x.mu.Unlock()
	return nil
}

// recover loads state machines and executions and resumes the running ones.
func (e *Engine) recover() error {
	var recs []execRec
	var evs = map[string][]Event{}
	revs := map[string][]byte{}
	err := e.st.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bMachines).ForEach(func(k, v []byte) error {
			var r machineRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("state machine %s: %w", k, err)
			}
			def, err := Parse(r.Definition)
			if err != nil {
				return fmt.Errorf("state machine %s: %w", k, err)
			}
			e.machines[r.ARN] = &stateMachine{arn: r.ARN, name: r.Name, def: def, created: r.Created, rev: revision(r.Definition)}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bRevisions).ForEach(func(k, v []byte) error {
			revs[string(k)] = append([]byte(nil), v...)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bExecs).ForEach(func(k, v []byte) error {
			var r execRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("execution %s: %w", k, err)
			}
			recs = append(recs, r)
			if eb := tx.Bucket(bEvents).Bucket(k); eb != nil {
				var list []Event
				err := eb.ForEach(func(_, ev []byte) error {
					var x Event
					if err := json.Unmarshal(ev, &x); err != nil {
						return err
					}
					list = append(list, x)
					return nil
				})
				if err != nil {
					return fmt.Errorf("history of %s: %w", k, err)
				}
				evs[r.ARN] = list
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("asl: reading the database: %w", err)
	}
	if err := e.loadAnswers(); err != nil {
		return fmt.Errorf("asl: reading the database: %w", err)
	}
	for _, r := range recs {
		sm, ok := e.machines[r.SM]
		if !ok {
			e.log.Warn("asl: execution of an unknown state machine skipped", "execution", r.ARN)
			continue
		}
		if r.Rev != "" && r.Rev != sm.rev {
			// Started before an UpdateStateMachine: it keeps its own definition.
			raw, ok := revs[r.Rev]
			def, err := Parse(raw)
			if !ok || err != nil {
				e.log.Warn("asl: the definition revision of an execution is missing or invalid; skipped", "execution", r.ARN, "err", err)
				continue
			}
			sm = &stateMachine{arn: sm.arn, name: sm.name, def: def, created: sm.created, rev: r.Rev}
		}
		in, _ := decodeJSON([]byte(r.Input))
		x := &execution{arn: r.ARN, name: r.Name, sm: sm, input: r.Input, status: r.Status, output: r.Output,
			ferr: r.Fail, stop: r.Stop, done: make(chan struct{}), root: &scope{vars: r.Vars}, timeoutAt: r.TimeoutAt, nested: r.Branches}
		x.info = execInfo{ID: r.ARN, Name: r.Name, SMID: sm.arn, SMName: sm.name, Input: in, Start: r.Start,
			RoleArn: fmt.Sprintf("arn:aws:iam::%s:role/shipgate-local", e.opts.Account)}
		list := evs[r.ARN]
		x.events = make([]hevent, len(list))
		for i := range list {
			x.events[i] = pack(&list[i])
		}
		x.flushed = len(x.events)
		x.nextID = int64(len(x.events))
		if n := len(x.events); n > 0 {
			x.nextID = x.events[n-1].id
		}
		x.ctx, x.cancel = contextPair()
		e.execs[r.ARN] = x
		if r.Status != StatusRunning {
			x.cancel()
			close(x.done)
			continue
		}
		e.resume(x, r.Cursor)
	}
	e.dropUnclaimedAnswers()
	return nil
}

// resume restarts a running execution from its last checkpoint.
func (e *Engine) resume(x *execution, c *cursor) {
	e.armExecTimeout(x)
	if c == nil {
		// Started but never checkpointed past the start: run from the beginning.
		c = &cursor{State: x.sm.def.root.startAt, Input: x.info.Input, Prev: 1}
		e.drivers.Add(1)
		go func() {
			defer e.drivers.Done()
			e.runFrom(x, c, true)
		}()
		return
	}
	x.cur = c
	if x.nested != nil {
		e.prearmBranches(x)
	}
	switch c.Phase {
	case phInvoke:
		// The handler may or may not have run: the attempt counts as failed and the
		// state's Retry policy decides (at-least-once).
		c.Pending = fail("Lambda.ServiceException", "shipgate stopped while this task was running; the outcome of the invocation is unknown, so the attempt is treated as failed")
		c.Phase = phFailed
		if c.Token != "" {
			e.dropToken(c.Token)
			c.Token = ""
		}
		if s := x.sm.def.root.states[c.State]; s != nil {
			ev := Event{Type: "TaskFailed", Resource: taskResourceName(s.resource), ResourceType: taskResourceType(s.resource),
				Error: c.Pending.Error, Cause: c.Pending.Cause, HasCause: true}
			if isLambdaARN(s.resource) {
				ev = Event{Type: "LambdaFunctionFailed", Error: c.Pending.Error, Cause: c.Pending.Cause, HasCause: true}
			}
			e.rootFrame(x).emit(c, ev)
		}
	case phToken:
		if m, ok := e.takeStored(x, c.Token); ok {
			// Answered and acknowledged before the crash: continue with that answer.
			c.resume = &m
			break
		}
		// Register the token synchronously, so a callback arriving right after Open
		// finds it.
		f := e.rootFrame(x)
		o := f.rearmToken(x.sm.def.root.states[c.State], c)
		x.mu.Lock()
		x.parked = &parkRec{w: o.wait.w, c: c}
		x.mu.Unlock()
		return
	}
	e.drivers.Add(1)
	go func() {
		defer e.drivers.Done()
		e.runFrom(x, c, false)
	}()
}

// appendEventJSON encodes an event for the database with the same keys its struct tags
// give (recovery decodes it with encoding/json), without reflection: events are most of
// what a checkpoint writes.
func appendEventJSON(b []byte, ev *Event) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, ev.ID, 10)
	if ev.PreviousID != 0 {
		b = append(b, `,"prev":`...)
		b = strconv.AppendInt(b, ev.PreviousID, 10)
	}
	b = append(b, `,"ts":"`...)
	b = ev.Timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = appendString(b, ev.Type)
	str := func(k, v string) {
		if v != "" {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
	}
	val := func(k string, v any, has bool) {
		if has || v != nil {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, v)
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			b = strconv.AppendInt(b, v, 10)
		}
	}
	flag := func(k string, v bool) {
		if v {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ":true"...)
		}
	}
	str("state", ev.StateName)
	val("input", ev.Input, ev.HasInput)
	flag("hasInput", ev.HasInput)
	val("output", ev.Output, ev.HasOutput)
	flag("hasOutput", ev.HasOutput)
	str("error", ev.Error)
	str("cause", ev.Cause)
	flag("hasCause", ev.HasCause)
	str("resource", ev.Resource)
	str("resourceType", ev.ResourceType)
	val("parameters", ev.Parameters, false)
	num("timeout", ev.Timeout)
	num("heartbeat", ev.Heartbeat)
	num("index", int64(ev.Index))
	num("length", int64(ev.Length))
	str("mapName", ev.MapName)
	return append(b, '}')
}
