package background

import (
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

// deferFor sets MaxDefer for one test.
func deferFor(t *testing.T, d time.Duration) {
	was := MaxDefer
	MaxDefer = d
	t.Cleanup(func() { MaxDefer = was })
}

// TestWorkWaitsWhileBusyAndRunsOnceQuiet: neither Go's nor Later's work starts while
// something is busy; both start once it is done and the process has been quiet.
func TestWorkWaitsWhileBusyAndRunsOnceQuiet(t *testing.T) {
	deferFor(t, time.Hour)
	for name, start := range map[string]func(func(), <-chan struct{}){"Go": Go, "Later": Later} {
		t.Run(name, func(t *testing.T) {
			done := Busy()
			other := Busy()
			finished := make(chan struct{})
			start(func() { close(finished) }, nil)
			if ran(finished, 100*time.Millisecond) {
				t.Fatal("the work ran while two stages were busy")
			}
			if n := Pending(); n != 1 {
				t.Errorf("Pending is %d while the work waits, want 1", n)
			}
			done()
			done() // a second call changes nothing: the other is still busy
			if ran(finished, 100*time.Millisecond) {
				t.Fatal("the work ran while a stage was still busy")
			}
			ended := time.Now()
			other()
			if !ran(finished, 10*time.Second) {
				t.Fatal("the work did not run once nothing was busy")
			}
			if waited := time.Since(ended); waited < Quiet {
				t.Errorf("the work ran %v after the last stage ended, before the quiet period of %v", waited, Quiet)
			}
			for deadline := time.Now().Add(10 * time.Second); Pending() != 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("Pending is still %d after the work ended", Pending())
				}
			}
		})
	}
}

// TestHurriedWorkRunsAtOnce: closing hurry starts work that is waiting for a busy
// process to be quiet.
func TestHurriedWorkRunsAtOnce(t *testing.T) {
	deferFor(t, time.Hour)
	done := Busy()
	defer done()
	hurry := make(chan struct{})
	finished := make(chan struct{})
	Later(func() { close(finished) }, hurry)
	if ran(finished, 50*time.Millisecond) {
		t.Fatal("the work ran while a stage was busy")
	}
	close(hurry)
	if !ran(finished, 10*time.Second) {
		t.Fatal("hurried work did not run")
	}
}

// TestWorkIsDeferredAtMostMaxDefer: under a load that never lets up, the work runs
// anyway.
func TestWorkIsDeferredAtMostMaxDefer(t *testing.T) {
	deferFor(t, 50*time.Millisecond)
	done := Busy()
	defer done()
	finished := make(chan struct{})
	Go(func() { close(finished) }, nil)
	if !ran(finished, 10*time.Second) {
		t.Fatal("the work waited for the busy stage beyond MaxDefer")
	}
}
