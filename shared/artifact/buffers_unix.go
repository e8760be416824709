//go:build unix

package artifact

import "golang.org/x/sys/unix"

func mapAnon(n int) ([]byte, bool) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	return b, err == nil
}

// release returns b's pages to the OS; the mapping stays valid.
func release(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
