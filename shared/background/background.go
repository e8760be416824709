// Package background runs work nobody is waiting for when it does not slow down work
// somebody is waiting for: local mode makes the next stage's scratch directories and
// removes used ones, on a machine whose two cores a run's stages, their commands and the
// stand-ins beside them share.
//
// Work is deferred while the process is busy (Busy: a stage is running) and until it has
// been quiet for a moment, so that a run's file housekeeping is done between runs or
// while a run waits for its approver, not while the next stage needs the CPU. It is
// deferred at most MaxDefer: under a load that never lets up, it runs anyway.
//
// Go's work then runs at a low CPU priority (nice 10, about a tenth of an ordinary
// thread's share of a busy core), so nothing anyone waits on must run there. Later's work
// runs at normal priority and can be hurried by whoever comes to wait for it.
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

// MaxDefer bounds how long work waits for the process to be quiet.
var MaxDefer = time.Second

var state struct {
	mu       sync.Mutex
	busy     int
	lastBusy time.Time
	// idle is closed when busy drops to zero; a new one is made when it rises again.
	idle chan struct{}
}

// pending counts the work Go and Later were given that has not ended.
var pending atomic.Int64

// Pending reports how much work given to Go and Later has not ended yet: what is waiting
// for the process to be quiet, and what is running.
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

// waitQuiet returns once the process has been quiet for Quiet, MaxDefer has passed, or
// hurry is closed (nil never is).
func waitQuiet(hurry <-chan struct{}) {
	deadline := time.NewTimer(MaxDefer)
	defer deadline.Stop()
	for {
		state.mu.Lock()
		busy, idle, since := state.busy, state.idle, time.Since(state.lastBusy)
		state.mu.Unlock()
		var wake <-chan struct{}
		var pause *time.Timer
		switch {
		case busy > 0:
			wake = idle
		case since >= Quiet:
			return
		default:
			pause = time.NewTimer(Quiet - since)
		}
		var paused <-chan time.Time
		if pause != nil {
			paused = pause.C
		}
		select {
		case <-wake:
		case <-paused:
		case <-hurry:
			return
		case <-deadline.C:
			return
		}
		if pause != nil {
			pause.Stop()
		}
	}
}

// Go runs f on a goroutine of its own once the process is quiet, or at once when hurry is
// closed (nil never is), at a low priority where the platform allows it.
func Go(f func(), hurry <-chan struct{}) {
	pending.Add(1)
	go func() {
		defer pending.Add(-1)
		waitQuiet(hurry)
		lower()
		f()
	}()
}

// Later is Go at normal priority: for work that someone may come to wait for, and then
// hurries.
func Later(f func(), hurry <-chan struct{}) {
	pending.Add(1)
	go func() {
		defer pending.Add(-1)
		waitQuiet(hurry)
		f()
	}()
}
