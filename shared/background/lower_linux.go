package background

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// niceness is how much lower the low priority is than the thread's own: enough that an
// ordinary thread wins a shared core about nine times in ten, not so much that the work
// is ever starved.
const niceness = 10

// lowered is the nice value a thread at nice n is lowered to (19 is the lowest).
func lowered(n int) int { return min(n+niceness, 19) }

// lower moves the calling goroutine to a thread of its own and lowers that thread's
// priority by niceness, from whatever the process runs at (`nice shipgate ...` included).
// The goroutine never unlocks the thread, so when it ends Go's runtime ends the thread
// too: no lowered thread goes back to run other goroutines.
func lower() {
	runtime.LockOSThread()
	tid := unix.Gettid()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid) // 20 - nice on Linux
	if err != nil {
		return // at worst, normal priority
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, lowered(20-p))
}
