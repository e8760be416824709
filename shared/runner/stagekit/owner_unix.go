//go:build unix

package stagekit

import (
	"os"
	"syscall"
)

// ownDir reports whether fi belongs to this process's user.
func ownDir(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// openFileLimit is the process's soft limit on open descriptors, or 0 if unknown.
func openFileLimit() int {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}
