//go:build linux

package gitwatch

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// event encodes one inotify event as the kernel hands it over.
func event(mask uint32, name string) []byte {
	padded := len(name) + 1
	padded += (16 - padded%16) % 16
	b := make([]byte, unix.SizeofInotifyEvent+padded)
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(padded))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

func TestReadEvents(t *testing.T) {
	cat := func(evs ...[]byte) (b []byte) {
		for _, e := range evs {
			b = append(b, e...)
		}
		return b
	}
	for _, tc := range []struct {
		name            string
		b               []byte
		newDir, changed bool
	}{
		{"a lock file written", cat(event(unix.IN_CREATE, "main.lock"), event(unix.IN_CLOSE_WRITE, "main.lock")), false, false},
		{"the lock renamed into place", cat(event(unix.IN_CREATE, "main.lock"), event(unix.IN_MOVED_TO, "main")), false, true},
		{"packed-refs replaced", event(unix.IN_MOVED_TO, "packed-refs"), false, true},
		{"a ref deleted", event(unix.IN_DELETE, "old"), false, true},
		{"a branch directory made", event(unix.IN_CREATE|unix.IN_ISDIR, "feature"), true, true},
		{"events lost", event(unix.IN_Q_OVERFLOW, ""), true, true},
		{"cut short", event(unix.IN_MOVED_TO, "main")[:unix.SizeofInotifyEvent+2], false, true},
	} {
		newDir, changed := readEvents(tc.b)
		if newDir != tc.newDir || changed != tc.changed {
			t.Errorf("%s: readEvents = %v, %v; want %v, %v", tc.name, newDir, changed, tc.newDir, tc.changed)
		}
	}
}
