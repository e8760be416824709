package asl

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is the engine's source of time. Wait states, retry backoff and timeouts all go
// through it, so tests can run them without sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is wall-clock time.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) AfterFunc(d time.Duration, f func()) func() bool {
	t := time.AfterFunc(d, f)
	return t.Stop
}

// Sleeper is implemented by clocks that treat the engine's deliberate pauses (Wait
// states, retry backoff) differently from its deadlines (timeouts).
type Sleeper interface {
	SleepFunc(d time.Duration, f func()) (stop func() bool)
}

// VirtualClock is a manual clock for tests. Timers fire only when Advance moves time past
// their deadline. With AutoAdvance set, a pause (Wait state, retry backoff) moves time
// straight to its end, firing every timer due by then, so a Wait of a day completes at
// once while a task token's timeout still waits for Advance.
type VirtualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers timerHeap
	seq    int64
	// AutoAdvance makes pauses (SleepFunc) complete at once, advancing the clock.
	AutoAdvance bool
}

// VirtualStart is where a virtual clock started at the zero time begins.
var VirtualStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewVirtualClock starts a virtual clock at start (zero means VirtualStart).
func NewVirtualClock(start time.Time, autoAdvance bool) *VirtualClock {
	if start.IsZero() {
		start = VirtualStart
	}
	return &VirtualClock{now: start, AutoAdvance: autoAdvance}
}

func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type vtimer struct {
	at      time.Time
	seq     int64
	f       func()
	stopped bool
	idx     int
}

type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *timerHeap) Push(x any)   { t := x.(*vtimer); t.idx = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

func (c *VirtualClock) AfterFunc(d time.Duration, f func()) func() bool {
	return c.schedule(d, f, false)
}

// SleepFunc is AfterFunc for a pause: with AutoAdvance it fires at once, moving time.
func (c *VirtualClock) SleepFunc(d time.Duration, f func()) func() bool {
	return c.schedule(d, f, true)
}

func (c *VirtualClock) schedule(d time.Duration, f func(), sleep bool) func() bool {
	c.mu.Lock()
	c.seq++
	t := &vtimer{at: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.timers, t)
	auto := c.AutoAdvance && sleep
	c.mu.Unlock()
	stop := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.stopped || t.idx < 0 {
			return false
		}
		t.stopped = true
		heap.Remove(&c.timers, t.idx)
		return true
	}
	if auto {
		go c.advanceTo(t.at)
	}
	return stop
}

// Advance moves time forward by d, firing due timers in deadline order.
func (c *VirtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.advanceTo(target)
}

func (c *VirtualClock) advanceTo(target time.Time) {
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].at.After(target) {
			if target.After(c.now) {
				c.now = target
			}
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.timers).(*vtimer)
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		go t.f()
	}
}

// Pending reports how many timers are waiting (tests use it to know a Wait has begun).
func (c *VirtualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
