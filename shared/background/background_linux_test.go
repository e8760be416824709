package background

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestGoRunsAtALowPriorityOnAThreadOfItsOwn: the work sees its thread's nice value
// raised, and the goroutine that called Go keeps its own.
func TestGoRunsAtALowPriorityOnAThreadOfItsOwn(t *testing.T) {
	before, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct{ tid, prio int }
	got := make(chan seen)
	Go(func() {
		tid := unix.Gettid()
		p, _ := unix.Getpriority(unix.PRIO_PROCESS, tid)
		got <- seen{tid, p}
	}, nil)
	s := <-got
	// Getpriority returns 20 - nice on Linux.
	if nice, want := 20-s.prio, lowered(20-before); nice != want {
		t.Errorf("the work ran at nice %d, want %d (the process's %d lowered)", nice, want, 20-before)
	}
	after, _ := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if after != before {
		t.Errorf("the process's own priority changed: %d -> %d", before, after)
	}
	if s.tid == unix.Gettid() {
		t.Error("the work ran on the caller's thread")
	}
}
