package background

import "golang.org/x/sys/unix"

// niceOfThisThread is the nice value of the thread the caller runs on (Getpriority
// returns 20 - nice on Linux).
func niceOfThisThread() int {
	p, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	return 20 - p
}

// normalNice is what the process runs at, lowNice what work nobody hurried runs at.
var normalNice = func() int {
	p, _ := unix.Getpriority(unix.PRIO_PROCESS, 0)
	return 20 - p
}()

var lowNice = lowered(normalNice)
