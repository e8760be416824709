package asl

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Progress of the branches of Parallel and Map states, kept with the execution's
// checkpoint so that a task token issued inside a branch survives a restart, at any
// nesting depth. A branch is recorded when it parks on a task token (its cursor and
// variables, written to disk at once, since the token is now out in the world), when it
// enters a Parallel or Map state of its own (its cursor at that state and its
// variables, so that a restart resumes it there and the inner state finds its own
// branches' progress) and when it finishes (its output, written with the next
// checkpoint).
//
// Records live in one flat map keyed by the branch's path: "2" is branch (or
// iteration) 2 of the top-level state, "2/0" is branch 0 of the compound state that
// branch 2 is in, and so on.

type branchRec struct {
	Done   bool           `json:"done,omitempty"`
	Output any            `json:"output,omitempty"`
	Cursor *cursor        `json:"cursor,omitempty"`
	Vars   map[string]any `json:"vars,omitempty"`
	// Compound says Cursor is a Parallel or Map state the branch is running, whose
	// own branches are recorded under this branch's key.
	Compound bool `json:"compound,omitempty"`
}

func branchKey(i int) string { return strconv.Itoa(i) }

// childKey is the key of branch i of the compound state f is running.
func (f *frame) childKey(i int) string {
	if f.key == "" {
		return branchKey(i)
	}
	return f.key + "/" + branchKey(i)
}

// tracksBranches says whether f's compound state records its branches' progress: the
// top level does, and so does every branch of a tracked state.
func (f *frame) tracksBranches() bool { return (f.top || f.key != "") && f.e.st != nil }

// beginBranches starts tracking the branches of the compound state at c. On a fresh
// start it emits started and puts the state's start on disk, so a crash from here on
// resumes this state rather than an earlier one; it returns nil. After a restart it
// returns the recovered progress instead (started was emitted before the crash).
func (f *frame) beginBranches(c *cursor, started Event) map[string]*branchRec {
	if !f.top {
		return f.beginNested(c, started)
	}
	x := f.x
	x.mu.Lock()
	raw := x.nested
	fresh := raw == nil
	if fresh {
		x.nested = map[string]json.RawMessage{}
	}
	x.mu.Unlock()
	if fresh {
		f.emit(c, started)
		if err := f.e.checkpoint(x, c); err != nil {
			f.e.log.Error("asl: checkpoint", "execution", x.arn, "err", err)
		}
		return nil
	}
	out := make(map[string]*branchRec, len(raw))
	for k, v := range raw {
		var r branchRec
		if err := json.Unmarshal(v, &r); err == nil {
			out[k] = &r
		}
	}
	return out
}

// beginNested is beginBranches for a compound state inside a tracked branch. The branch
// is recorded at this state, so that a restart resumes it here; if it was resumed here
// (resumeBranch), the state's branches' progress is what was recorded under its key.
func (f *frame) beginNested(c *cursor, started Event) map[string]*branchRec {
	if !f.resumed {
		f.emit(c, started)
		cc := *c
		cc.resume = nil
		f.saveBranch(f.key, branchRec{Cursor: &cc, Vars: f.sc.vars, Compound: true})
		return nil
	}
	f.resumed = false
	prefix := f.key + "/"
	out := map[string]*branchRec{}
	f.x.mu.Lock()
	defer f.x.mu.Unlock()
	for k, v := range f.x.nested {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || strings.Contains(rest, "/") {
			continue
		}
		var r branchRec
		if err := json.Unmarshal(v, &r); err == nil {
			out[rest] = &r
		}
	}
	return out
}

// endBranches forgets the progress once the compound state has an outcome: the next
// checkpoint is past it, or a retry runs every branch again. Inside a branch, the
// branch's own record at this state goes too: a crash from here on runs the branch
// again from its start (or from its next token).
func (f *frame) endBranches() {
	f.resumed = false
	if !f.top {
		f.endNested()
		return
	}
	x := f.x
	x.mu.Lock()
	x.nested = nil
	left := x.prearmed
	x.prearmed = nil
	x.mu.Unlock()
	for _, w := range left {
		w.cancel(f.e)
	}
}

func (f *frame) endNested() {
	prefix := f.key + "/"
	var left []*waiter
	f.x.mu.Lock()
	if f.x.nested != nil {
		delete(f.x.nested, f.key)
		for k := range f.x.nested {
			if strings.HasPrefix(k, prefix) {
				delete(f.x.nested, k)
			}
		}
	}
	for k, w := range f.x.prearmed {
		if strings.HasPrefix(k, prefix) {
			left = append(left, w)
			delete(f.x.prearmed, k)
		}
	}
	f.x.mu.Unlock()
	for _, w := range left {
		w.cancel(f.e)
	}
}

func (f *frame) saveBranch(key string, r branchRec) {
	b, err := json.Marshal(r)
	if err != nil {
		f.e.log.Error("asl: encode branch progress", "execution", f.x.arn, "err", err)
		return
	}
	f.x.mu.Lock()
	if f.x.nested != nil {
		f.x.nested[key] = b
	}
	f.x.mu.Unlock()
}

// parkBranch records a tracked branch waiting on its task token and puts it on disk.
func (f *frame) parkBranch(c *cursor) {
	cc := *c
	cc.resume = nil
	f.saveBranch(f.key, branchRec{Cursor: &cc, Vars: f.sc.vars})
	if err := f.e.checkpoint(f.x, nil); err != nil {
		f.e.log.Error("asl: checkpoint", "execution", f.x.arn, "err", err)
	}
}

// finishBranch records a tracked branch's output; it reaches the disk with the next
// checkpoint (until then a crash runs the branch again: at-least-once).
func (f *frame) finishBranch(out any) {
	f.saveBranch(f.key, branchRec{Done: true, Output: out})
}

// prearmBranches registers again, synchronously at Open, the tokens that branches of
// the recovered compound state were waiting on, so a callback arriving right after
// Open finds them.
func (e *Engine) prearmBranches(x *execution) {
	x.mu.Lock()
	raw := x.nested
	x.mu.Unlock()
	pre := map[string]*waiter{}
	for k, v := range raw {
		var r branchRec
		if json.Unmarshal(v, &r) != nil || r.Cursor == nil || r.Cursor.Phase != phToken || r.Cursor.Token == "" {
			continue
		}
		if m, ok := e.takeStored(x, r.Cursor.Token); ok {
			// Answered and acknowledged before the crash: the branch continues with it.
			w := newWaiter()
			w.done = true
			w.ch <- m
			pre[k] = w
			continue
		}
		o := (&frame{e: e, x: x}).rearmToken(nil, r.Cursor)
		pre[k] = o.wait.w
	}
	x.mu.Lock()
	x.prearmed = pre
	x.mu.Unlock()
}

func (f *frame) takePrearmed(key string) *waiter {
	f.x.mu.Lock()
	defer f.x.mu.Unlock()
	w := f.x.prearmed[key]
	delete(f.x.prearmed, key)
	return w
}

// resumeBranch continues a branch recovered waiting on its token.
func (f *frame) resumeBranch(r *branchRec, w *waiter) (out any, ferr *failure, code int64) {
	defer f.e.recoverInto(f.x, &ferr, &code)
	f.sc.vars = r.Vars
	c := r.Cursor
	f.resumed = r.Compound
	if w != nil {
		select {
		case m := <-w.ch:
			c.resume = &m
		case <-f.ctx.Done():
			w.cancel(f.e)
			return nil, nil, -1
		case <-f.e.closeCh:
			w.cancel(f.e)
			return nil, nil, -1
		}
	}
	return f.loop(c)
}
