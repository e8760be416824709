package asl

import (
	"sync"
)

// waiter is one pending wake-up: a timer (Wait, retry backoff) or a task token. Exactly
// one resumeMsg is delivered, by whichever comes first (answer, timeout, heartbeat
// timeout); the others are cancelled.
type waiter struct {
	mu     sync.Mutex
	done   bool
	ch     chan resumeMsg
	stops  []func() bool
	token  string
	x      *execution // set for the top-level frame: delivery wakes the parked execution
	hbStop func() bool
	hbDur  int64 // heartbeat seconds
	// owner is the execution a task token belongs to (set for token waiters).
	owner *execution
	// claimed says SendTaskSuccess/SendTaskFailure is putting its answer on disk: the
	// answer wins over a timer that fires meanwhile (held in deferred in case the
	// answer cannot be stored after all).
	claimed  bool
	deferred *resumeMsg
}

func newWaiter() *waiter { return &waiter{ch: make(chan resumeMsg, 1)} }

func (f *frame) newWaiter() *waiter {
	w := newWaiter()
	if f.top {
		w.x = f.x
	}
	return w
}

// addStop records how to cancel a timer armed for w. The timer may already have fired
// (a virtual clock fires at once), hence the lock.
func (w *waiter) addStop(stop func() bool) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		stop()
		return
	}
	w.stops = append(w.stops, stop)
	w.mu.Unlock()
}

func (w *waiter) setHeartbeat(secs int64, stop func() bool) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		stop()
		return
	}
	w.hbDur, w.hbStop = secs, stop
	w.mu.Unlock()
}

func (w *waiter) deliver(e *Engine, m resumeMsg) bool { return w.finish(e, m, false) }

// claim reserves w for the answer of a SendTaskSuccess/SendTaskFailure; false when w
// already has an outcome or another answer is on its way.
func (w *waiter) claim() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.claimed {
		return false
	}
	w.claimed = true
	return true
}

// unclaim gives w back when the answer could not be stored, delivering a timeout that
// fired meanwhile.
func (w *waiter) unclaim(e *Engine) {
	w.mu.Lock()
	w.claimed = false
	d := w.deferred
	w.deferred = nil
	w.mu.Unlock()
	if d != nil {
		w.deliver(e, *d)
	}
}

// finish delivers m; byClaimant is the stored answer of the claim (see claim).
func (w *waiter) finish(e *Engine, m resumeMsg, byClaimant bool) bool {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return false
	}
	if w.claimed && !byClaimant {
		if w.deferred == nil {
			w.deferred = &m
		}
		w.mu.Unlock()
		return false
	}
	w.done = true
	stop := w.timers()
	w.mu.Unlock()
	stop()
	if w.token != "" {
		e.dropToken(w.token)
	}
	w.ch <- m
	if w.x != nil {
		e.wake(w.x, w)
	}
	return true
}

// timers returns what stops w's timeout and heartbeat timers: taken with w.mu held and
// run once it is released, so no timer code runs under the waiter's lock.
func (w *waiter) timers() func() {
	stops, hb := w.stops, w.hbStop
	return func() {
		for _, s := range stops {
			s()
		}
		if hb != nil {
			hb()
		}
	}
}

// cancel drops the waiter without delivering (execution stopped or branch cancelled).
func (w *waiter) cancel(e *Engine) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	stop := w.timers()
	w.mu.Unlock()
	stop()
	if w.token != "" {
		e.dropToken(w.token)
	}
}
