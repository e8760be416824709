//go:build !linux || lambda.norpc

package inodes

import (
	"io/fs"
	"os"
)

// Pool makes everything on the spot here: it needs Linux's O_TMPFILE and
// RENAME_NOREPLACE, and the Lambdas (built with lambda.norpc) never keep files ahead.
type Pool struct{}

// Available is false: nothing is kept ahead here.
func Available() bool { return false }

// Worthwhile is false: no Pool is made here.
func Worthwhile(string) bool { return false }

// Make returns nil, a Pool that makes everything on the spot.
func Make(string, int, int) *Pool { return nil }

// Refill does nothing.
func (p *Pool) Refill(int, int) {}

// Held is none.
func (p *Pool) Held() (files, dirs int) { return 0, 0 }

// Wanted is none.
func (p *Pool) Wanted() (files, dirs int) { return 0, 0 }

// KeepFilled does nothing.
func (p *Pool) KeepFilled(int) {}

// TopUp does nothing.
func (p *Pool) TopUp(int) {}

// FilesFrom does nothing.
func (p *Pool) FilesFrom(*Pool) {}

// Abandon does nothing.
func (p *Pool) Abandon() {}

// Close does nothing.
func (p *Pool) Close() error { return nil }

// FromPool is none.
func (p *Pool) FromPool() (files, dirs int) { return 0, 0 }

func (p *Pool) create(_ string, _ fs.FileMode, spot func() (*os.File, error)) (*os.File, error) {
	return spot()
}

func (p *Pool) mkdir(_ string, _ fs.FileMode, spot func() error) error { return spot() }

func (p *Pool) publish(_ string, _ []byte, _ fs.FileMode, spot func() error) error {
	return spot()
}
