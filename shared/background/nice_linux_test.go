package background

import "golang.org/x/sys/unix"

// niceOfThisThread is the nice value of the thread the caller runs on (Getpriority
// returns 20 - nice on Linux).
func niceOfThisThread() int {
	p, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	return 20 - p
}

// lowNice is what work nobody hurried runs at, normalNice what the process runs at.
var lowNice, normalNice = niceness, func() int {
	p, _ := unix.Getpriority(unix.PRIO_PROCESS, 0)
	return 20 - p
}()
