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
