//go:build !linux || lambda.norpc

package inodes

import (
	"io/fs"
	"os"
)

// Pool makes everything on the spot here: it needs Linux's O_TMPFILE and
// RENAME_NOREPLACE, and the Lambdas (built with lambda.norpc) never keep files ahead.
type Pool struct{}

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

// FilesFrom does nothing.
func (p *Pool) FilesFrom(*Pool) {}

// Close does nothing.
func (p *Pool) Close() error { return nil }

func (p *Pool) madeOnTheSpot(bool)                          {}
func (p *Pool) create(string, fs.FileMode) (*os.File, bool) { return nil, false }
func (p *Pool) mkdir(string, fs.FileMode) bool              { return false }
func (p *Pool) publish(string, []byte, fs.FileMode) bool    { return false }
