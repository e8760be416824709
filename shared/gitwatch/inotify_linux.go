package gitwatch

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readEvents reads a batch of inotify events: whether a directory appeared, and
// whether anything but a lock file changed. git writes a ref as name.lock and renames
// it into place, so a lock file's creation and writes say nothing yet; scanning on them
// only took CPU from the push being received.
func readEvents(b []byte) (newDir, refChanged bool) {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			return newDir, true // cut short: scan, to be safe
		}
		name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
		b = b[end:]
		if ev.Mask&unix.IN_ISDIR != 0 && ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			newDir = true
		}
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			// Events were lost, a new directory's among them perhaps: walk and scan.
			newDir, refChanged = true, true
		}
		if !strings.HasSuffix(name, ".lock") {
			refChanged = true
		}
	}
	return newDir, refChanged
}

// inotify wakes the loop when anything under refs/ or packed-refs changes. Failure to
// set it up is not fatal: the ticker still rescans.
func (w *Watcher) inotify(ctx context.Context, wake chan<- struct{}) func() {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return func() {}
	}
	const mask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE | unix.IN_DELETE
	add := func(dir string) {
		_, _ = unix.InotifyAddWatch(fd, dir, mask)
	}
	addTree := func() {
		add(w.gitDir)
		for _, top := range []string{"refs", "refs/heads", "refs/tags"} {
			_ = filepath.WalkDir(filepath.Join(w.gitDir, top), func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					add(p)
				}
				return nil
			})
		}
	}
	addTree()
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			default:
			}
			n, err := unix.Poll(fds, 200)
			if err != nil || n == 0 {
				continue
			}
			n, err = unix.Read(fd, buf)
			if err != nil || n <= 0 {
				continue
			}
			newDir, refChanged := readEvents(buf[:n])
			if newDir {
				addTree() // new branch directories (feature/x) need watches too
			}
			if !refChanged {
				continue
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	return func() { close(done); unix.Close(fd) }
}
