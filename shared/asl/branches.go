package asl

import (
	"encoding/json"
	"strconv"
)

// Progress of the branches of a top-level Parallel or Map state, kept with the
// execution's checkpoint so that a task token issued inside a branch survives a
// restart. A branch is recorded when it parks on a task token (its cursor and
// variables, written to disk at once, since the token is now out in the world) and when
// it finishes (its output, written with the next checkpoint). Only the branches of a
// top-level state are tracked: a token deeper down (a Map inside a Parallel branch) is
// still lost with its branch, which runs again.

type branchRec struct {
	Done   bool           `json:"done,omitempty"`
	Output any            `json:"output,omitempty"`
	Cursor *cursor        `json:"cursor,omitempty"`
	Vars   map[string]any `json:"vars,omitempty"`
}

func branchKey(i int) string { return strconv.Itoa(i) }

// tracksBranches says whether f's compound state records its branches' progress.
func (f *frame) tracksBranches() bool { return f.top && f.e.st != nil }

// beginBranches starts tracking the branches of the compound state at c. On a fresh
// start it emits started and puts the state's start on disk, so a crash from here on
// resumes this state rather than an earlier one; it returns nil. After a restart it
// returns the recovered progress instead (started was emitted before the crash).
func (f *frame) beginBranches(c *cursor, started Event) map[string]*branchRec {
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

// endBranches forgets the progress once the compound state has an outcome: the next
// checkpoint is past it, or a retry runs every branch again.
func (f *frame) endBranches() {
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
