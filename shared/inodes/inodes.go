// Package inodes hands out files and directories made ahead of need.
//
// On some disks making a file or a directory costs far more than giving one a name: on
// the VM shipgate's figures come from (ext4 on a virtual disk), a new inode costs 0.2-0.4
// ms of kernel CPU, while linking or renaming one into place costs 10-20 us. A stage's
// checkout or restore makes a dozen or more on the run's critical path. A Pool makes them
// beforehand, off that path, in a directory on the same file system, and puts one in
// place when asked: a file is an unnamed O_TMPFILE linked at its path, a directory is
// renamed to its path by a rename that never replaces anything.
//
// What a Pool hands out is what os.OpenFile(path, O_WRONLY|O_CREATE|O_EXCL, perm) and
// os.Mkdir(path, perm) would have made: empty, this user's, perm through the umask (set
// before it is named, so nobody can open it with a wider one), its times set as it is
// handed out, and never through a symlink or over an existing entry. Two things differ:
// its group is the one it was made with in the pool's directory (a set-group-ID target
// directory does not pass its group on), and a default ACL of the target directory is
// not applied. Whenever the pool cannot (it is nil, it has run out, the target is
// refused, the file system does not link or rename that way) the call is made on the
// spot instead, so a caller sees the same results and the same errors as from the os
// calls. The umask is the process's as it was when the pool was made.
//
// Pools exist only where they pay: on Linux, and not on a tmpfs, where making an inode
// costs about what naming one does (Worthwhile). The Lambdas, built with lambda.norpc,
// keep nothing ahead (their scratch space is made and removed per invocation), and leave
// the implementation out.
package inodes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Create makes path as os.OpenFile(path, O_WRONLY|O_CREATE|O_EXCL, perm) does, with a
// file from p when it has one.
func (p *Pool) Create(path string, perm fs.FileMode) (*os.File, error) {
	return p.create(path, perm, func() (*os.File, error) {
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	})
}

// Mkdir makes path as os.Mkdir(path, perm) does, with a directory from p when it has one.
func (p *Pool) Mkdir(path string, perm fs.FileMode) error {
	return p.mkdir(path, perm, func() error { return os.Mkdir(path, perm) })
}

// MkdirAll makes path and its missing parents as os.MkdirAll(path, perm) does, with
// directories from p where it has them.
func (p *Pool) MkdirAll(path string, perm fs.FileMode) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.ENOTDIR}
	}
	if parent := filepath.Dir(path); parent != path {
		if err := p.MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := p.Mkdir(path, perm); err != nil {
		// Made meanwhile by someone else, as os.MkdirAll allows.
		if fi, serr := os.Lstat(path); serr == nil && fi.IsDir() {
			return nil
		}
		return err
	}
	return nil
}

// WriteFile is os.WriteFile, with a file from p when the name is free.
func (p *Pool) WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := p.Create(path, perm)
	if errors.Is(err, fs.ErrExist) {
		return os.WriteFile(path, data, perm)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Publish makes a file at path holding data that readers of the directory see whole or
// not at all: a file from p is written while it has no name and then linked at path;
// made on the spot, it is written under a temporary name and renamed to path. It is
// meant for new names: a file already at path is replaced (a link cannot replace it, so
// then the file is made on the spot and renamed over it).
func (p *Pool) Publish(path string, data []byte, perm fs.FileMode) error {
	return p.publish(path, data, perm, func() error { return writeAndRename(path+".tmp", path, data, perm) })
}

// writeAndRename writes data to tmp and renames it to path.
func writeAndRename(tmp, path string, data []byte, perm fs.FileMode) error {
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Replace makes path hold data, replacing what is there, so that readers see the old
// file or the new one, never a mix: the new file is published under a temporary name
// and renamed over path.
func (p *Pool) Replace(path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	// A stale temporary file from a crash is overwritten on the spot, as before.
	if err := p.publish(tmp, data, perm, func() error { return os.WriteFile(tmp, data, perm) }); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

type ctxKey struct{}

// NewContext returns ctx carrying p, for code that makes files a few calls down (a
// checkout); a Pool changes where files come from, never what they are.
func NewContext(ctx context.Context, p *Pool) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the Pool ctx carries, or nil (which makes everything on the spot).
func FromContext(ctx context.Context) *Pool {
	p, _ := ctx.Value(ctxKey{}).(*Pool)
	return p
}
