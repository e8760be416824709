package background

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// niceness is the low priority's nice value: low enough that an ordinary thread wins a
// shared core about nine times in ten, high enough that the work is never starved.
const niceness = 10

// lower moves the calling goroutine to a thread of its own and lowers that thread's
// priority. The goroutine never unlocks the thread, so when it ends Go's runtime ends
// the thread too: no lowered thread goes back to run other goroutines.
func lower() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), niceness) // at worst, normal priority
}
