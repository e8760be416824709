package background

import (
	"sync"
	"testing"
	"time"
)

// ran reports whether done is closed within d.
func ran(done <-chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// deferFor sets the longest deferral for one test.
func deferFor(t *testing.T, d time.Duration) {
	was := SetMaxDefer(d)
	t.Cleanup(func() { SetMaxDefer(was) })
}

// settled waits for Pending to reach zero.
func settled(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); Pending() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Pending is still %d after the work ended", Pending())
		}
	}
}

// TestWorkWaitsWhileBusyAndRunsOnceQuiet: work does not start while something is busy,
// starts once it is done and the process has been quiet, counts as pending until it
// has ended, and runs at the low priority.
func TestWorkWaitsWhileBusyAndRunsOnceQuiet(t *testing.T) {
	deferFor(t, time.Hour)
	done := Busy()
	other := Busy()
	// A failure below must not leave the process busy, nor the work blocked, for the
	// tests after it.
	t.Cleanup(done)
	t.Cleanup(other)
	if n := Busies(); n != 2 {
		t.Fatalf("Busies is %d, want 2", n)
	}
	started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	nice := make(chan int, 1)
	Go(func() {
		nice <- niceOfThisThread()
		close(started)
		<-release
		close(finished)
	}, nil)
	if ran(started, 100*time.Millisecond) {
		t.Fatal("the work ran while two stages were busy")
	}
	if n := Pending(); n != 1 {
		t.Errorf("Pending is %d while the work waits, want 1", n)
	}
	done()
	done() // a second call changes nothing: the other is still busy
	if n := Busies(); n != 1 {
		t.Fatalf("Busies is %d after one of two ended (twice), want 1", n)
	}
	if ran(started, 100*time.Millisecond) {
		t.Fatal("the work ran while a stage was still busy")
	}
	ended := time.Now()
	other()
	if !ran(started, 10*time.Second) {
		t.Fatal("the work did not run once nothing was busy")
	}
	if waited := time.Since(ended); waited < Quiet {
		t.Errorf("the work ran %v after the last stage ended, before the quiet period of %v", waited, Quiet)
	}
	if n := Pending(); n != 1 {
		t.Errorf("Pending is %d while the work runs, want 1", n)
	}
	if got := <-nice; got != lowNice {
		t.Errorf("work that nobody hurried ran at nice %d, want %d", got, lowNice)
	}
	unblock()
	<-finished
	settled(t)
}

// TestHurriedWorkRunsAtOnceAtNormalPriority: closing hurry starts work that is waiting
// for a busy process to be quiet, and someone waiting for it gets it at the priority
// it would have had.
func TestHurriedWorkRunsAtOnceAtNormalPriority(t *testing.T) {
	deferFor(t, 30*time.Second) // a hurry that does nothing fails below, not in an hour
	done := Busy()
	defer done()
	hurry := make(chan struct{})
	finished := make(chan int, 1)
	Go(func() { finished <- niceOfThisThread() }, hurry)
	select {
	case <-finished:
		t.Fatal("the work ran while a stage was busy")
	case <-time.After(50 * time.Millisecond):
	}
	close(hurry)
	select {
	case got := <-finished:
		if got != normalNice {
			t.Errorf("hurried work ran at nice %d, want %d", got, normalNice)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hurried work did not run")
	}
	settled(t)
}

// TestWorkIsDeferredAtMostTheLongestDeferral: under a load that never lets up, the work
// runs anyway, once the longest deferral has passed.
func TestWorkIsDeferredAtMostTheLongestDeferral(t *testing.T) {
	const longest = 100 * time.Millisecond
	deferFor(t, longest)
	done := Busy()
	defer done()
	finished := make(chan struct{})
	start := time.Now()
	Go(func() { close(finished) }, nil)
	if !ran(finished, 10*time.Second) {
		t.Fatal("the work waited for the busy stage beyond the longest deferral")
	}
	if waited := time.Since(start); waited < longest {
		t.Errorf("the work ran after %v, before the longest deferral of %v, while a stage was busy", waited, longest)
	}
	settled(t)
}
