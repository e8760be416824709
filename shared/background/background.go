// Package background runs work nobody is waiting for when it does not slow down work
// somebody is waiting for: local mode makes the next stage's scratch directories and
// removes used ones, on a machine whose two cores a run's stages, their commands and the
// stand-ins beside them share.
//
// Work is deferred while the process is busy (Busy: a stage holds a workspace) and until
// it has been quiet for a moment, so that a run's file housekeeping is done between runs
// or while a run waits for its approver, not while the next stage needs the CPU. It is
// deferred at most a second (SetMaxDefer): under a load that never lets up, it runs
// anyway. Whoever comes to wait for a piece of work hurries it (the hurry channel).
//
// The work then runs at a low CPU priority (nice 10, about a tenth of an ordinary
// thread's share of a busy core), unless it was hurried before it started: then
// someone is waiting, and it runs at normal priority.
package background

import (
	"sync"
	"sync/atomic"
	"time"
)

// Quiet is how long the process must have been without Busy work before deferred work
// starts: longer than the engine's steps between one stage and the next, so a run's
// stages follow each other without housekeeping in between.
const Quiet = 15 * time.Millisecond

var state struct {
	mu       sync.Mutex
	busy     int
	lastBusy time.Time
	// idle is closed when busy drops to zero; a new one is made when it rises again.
	idle chan struct{}
	// quiet is closed by watch once the process has been quiet for Quiet; nil: no watch
	// runs.
	quiet chan struct{}
	// maxDefer bounds how long work waits for the process to be quiet.
	maxDefer time.Duration
}

func init() { state.maxDefer = time.Second }

// SetMaxDefer sets how long work waits at most for the process to be quiet (a second
// unless set), and returns what it was.
func SetMaxDefer(d time.Duration) (was time.Duration) {
	state.mu.Lock()
	defer state.mu.Unlock()
	was, state.maxDefer = state.maxDefer, d
	return was
}

// pending counts the work Go was given that has not ended.
var pending atomic.Int64

// Pending reports how much work given to Go has not ended yet: what is waiting for the
// process to be quiet, and what is running.
func Pending() int { return int(pending.Load()) }

// Busy marks foreground work under way, which deferred work waits for, until the
// returned function is called (more than once is the same as once).
func Busy() (done func()) {
	state.mu.Lock()
	if state.busy == 0 {
		state.idle = make(chan struct{})
	}
	state.busy++
	state.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.mu.Lock()
			defer state.mu.Unlock()
			state.busy--
			state.lastBusy = time.Now()
			if state.busy == 0 {
				close(state.idle)
			}
		})
	}
}

// Busies reports how many Busy marks have not ended.
func Busies() int {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.busy
}

// waitQuiet returns once the process has been quiet for Quiet, the longest deferral has
// passed, or hurry is closed (nil never is). It reports whether hurry was closed.
func waitQuiet(hurry <-chan struct{}) (hurried bool) {
	state.mu.Lock()
	longest := state.maxDefer
	state.mu.Unlock()
	deadline := time.NewTimer(longest)
	defer deadline.Stop()
	select {
	case <-quiet():
	case <-deadline.C:
	case <-hurry:
	}
	select {
	case <-hurry:
		return true
	default:
		return false
	}
}

// quiet returns a channel closed once the process has been quiet for Quiet.
func quiet() <-chan struct{} {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.quiet == nil {
		state.quiet = make(chan struct{})
		go watch(state.quiet)
	}
	return state.quiet
}

// watch closes quiet once the process has been quiet for Quiet. It is the one goroutine
// that follows the stages for all the work waiting, so a stage's end wakes one
// goroutine, not one per piece of work, while the next stage may be starting.
func watch(quiet chan struct{}) {
	for {
		state.mu.Lock()
		busy, idle, since := state.busy, state.idle, time.Since(state.lastBusy)
		if busy == 0 && since >= Quiet {
			state.quiet = nil
			state.mu.Unlock()
			close(quiet)
			return
		}
		state.mu.Unlock()
		if busy > 0 {
			<-idle
		} else {
			time.Sleep(Quiet - since)
		}
	}
}

// Go runs f on a goroutine of its own once the process is quiet (or the longest
// deferral has passed), at a low priority where the platform allows it; or at once, at
// normal priority, when hurry is closed before it starts (nil never is).
func Go(f func(), hurry <-chan struct{}) {
	pending.Add(1)
	go func() {
		defer pending.Add(-1)
		if !waitQuiet(hurry) {
			lower()
		}
		f()
	}()
}
