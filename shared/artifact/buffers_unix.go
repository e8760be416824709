//go:build unix

package artifact

import "syscall"

func mapAnon(n int) ([]byte, bool) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	return b, err == nil
}

// release returns b's pages to the OS; the mapping stays valid.
func release(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }
