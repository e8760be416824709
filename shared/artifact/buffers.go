package artifact

import "sync"

// partBuf is one upload part buffer. Buffers live outside the Go heap where the platform
// allows (anonymous mmap): 40 MiB of long-lived part buffers on the heap would let the
// garbage collector's target grow to twice that, and a 1 GiB upload's small garbage
// would then push the process well past the 64 MiB budget before a collection.
type partBuf struct {
	b      []byte
	mapped bool
}

// bufPool recycles part buffers between uploads of one store (a warm Lambda stages file
// after file). Mapped buffers are never unmapped: the HTTP transport may still read a
// request body briefly after the call returned, so a mapping must stay valid. Buffers
// beyond keep give their memory back to the OS instead (MADV_DONTNEED) and refault
// as zero pages when reused.
type bufPool struct {
	size int
	keep int
	mu   sync.Mutex
	hot  []*partBuf
	cold []*partBuf
}

func newBufPool(size, keep int) *bufPool {
	return &bufPool{size: size, keep: keep}
}

func (p *bufPool) get() *partBuf {
	p.mu.Lock()
	var b *partBuf
	switch {
	case len(p.hot) > 0:
		b, p.hot = p.hot[len(p.hot)-1], p.hot[:len(p.hot)-1]
	case len(p.cold) > 0:
		b, p.cold = p.cold[len(p.cold)-1], p.cold[:len(p.cold)-1]
	}
	p.mu.Unlock()
	if b != nil {
		return b
	}
	if m, ok := mapAnon(p.size); ok {
		return &partBuf{b: m, mapped: true}
	}
	return &partBuf{b: make([]byte, p.size)}
}

func (p *bufPool) put(b *partBuf) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hot) < p.keep {
		p.hot = append(p.hot, b)
		return
	}
	if !b.mapped {
		return // a heap buffer: the collector takes it
	}
	release(b.b)
	p.cold = append(p.cold, b)
}
