package asl

import "sync"

// pool runs functions on reused goroutines. A fresh goroutine starts with a small stack
// and grows it (copying) through every JSON encode and handler call; reusing warm ones
// takes that cost off each state transition and each Task.
type pool struct {
	mu     sync.Mutex
	idle   []chan func()
	closed bool
}

const maxIdleWorkers = 64

func (p *pool) run(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 && !p.closed {
		ch := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		ch <- f
		return
	}
	p.mu.Unlock()
	go p.work(make(chan func(), 1), f)
}

func (p *pool) work(ch chan func(), f func()) {
	for f != nil {
		f()
		p.mu.Lock()
		if p.closed || len(p.idle) >= maxIdleWorkers {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, ch)
		p.mu.Unlock()
		f = <-ch
	}
}

// close lets idle workers exit; busy ones exit when they finish.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ch := range idle {
		ch <- nil
	}
}
