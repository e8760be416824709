// Package workspace carries a built workspace from one stage to the next. Lambdas share
// no disk, so Build snapshots its workspace to S3 as a gzip-compressed tar and Test and
// Stage restore it. Both directions stream: the tar is written into the upload as it is
// produced and extracted as it is downloaded, so no stage holds a whole workspace in
// memory.
package workspace

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/inodes"
)

// A gzip writer at BestSpeed holds over a megabyte of compressor state, and a reader
// some tens of kilobytes: made afresh for every snapshot and restore, that memory was
// most of what a small workspace cost to carry (about 1 ms of a 2.5 ms snapshot of a
// small repository, BenchmarkSnapshotSmall), so they are reused, reset for each stream.
type compressor struct {
	bw *bufio.Writer
	zw *gzip.Writer
}

var (
	writers = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: never fails
		return &compressor{bw: bufio.NewWriterSize(nil, 64<<10), zw: zw}
	}}
	readers sync.Pool // *gzip.Reader; made on first use, since NewReader needs a stream
)

// emptyGzip is a whole gzip stream of nothing, which a reader is reset onto before it
// goes back to the pool, so the pool does not keep the last stream's reader alive.
var emptyGzip = func() []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Close()
	return b.Bytes()
}()

func release(zr *gzip.Reader) {
	zr.Close()
	if zr.Reset(bytes.NewReader(emptyGzip)) == nil {
		readers.Put(zr)
	}
}

// Snapshot streams dir as a tar.gz to key.
func Snapshot(ctx context.Context, s *artifact.Store, key, dir string) (artifact.Object, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Write(pw, dir)
		pw.CloseWithError(err)
		done <- err
	}()
	obj, err := s.Put(ctx, key, pr, "application/gzip")
	// Unblock the writer if the upload stopped reading early.
	pr.CloseWithError(errors.New("upload ended"))
	werr := <-done
	if werr != nil {
		return artifact.Object{}, fmt.Errorf("snapshot %s: %w", dir, werr)
	}
	if err != nil {
		return artifact.Object{}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	return obj, nil
}

// Restore extracts the snapshot at key into dir (which must exist).
func Restore(ctx context.Context, s *artifact.Store, key, dir string) error {
	return RestoreWith(ctx, s, key, dir, RestoreOptions{})
}

// RestoreOptions are RestoreWith's.
type RestoreOptions struct {
	// Keep, when set, extracts only the regular files for which Keep(rel) is true.
	// Stage needs the artifacts, not the whole tree and its .git: skipping the rest
	// saves most of the file system work.
	Keep func(rel string) bool
	// Inodes supplies the files and directories made ahead (nil: made on the spot).
	Inodes *inodes.Pool
}

// RestoreWith is Restore with options.
func RestoreWith(ctx context.Context, s *artifact.Store, key, dir string, o RestoreOptions) error {
	body, _, err := s.Open(ctx, key)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := extract(body, dir, o.Keep, o.Inodes); err != nil {
		return fmt.Errorf("restore workspace from %s: %w", key, err)
	}
	return nil
}

// Write writes dir as a gzip-compressed tar: directories, regular files and symlinks
// (never followed), with modes and modification times, so build tools that compare
// timestamps see the same tree after a restore.
func Write(w io.Writer, dir string) error {
	c := writers.Get().(*compressor)
	defer writers.Put(c)
	// flate hands its output on a few hundred bytes at a time; into Snapshot's pipe each
	// of those writes would be a hand-off to the uploading goroutine.
	bw := c.bw
	bw.Reset(w)
	defer bw.Reset(nil) // the pool must not keep the caller's writer alive
	zw := c.zw
	zw.Reset(bw)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir(), info.Mode().IsRegular():
		default:
			return nil // sockets, fifos, devices: nothing a later stage can use
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, info.Size())
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// Extract reads a tar.gz written by Write into dir, which must be empty (made for it:
// a symlink already in it would be followed). Entries that would land outside dir
// (absolute paths, "..", a path through a symlink the archive created, or a file or
// directory at the place of one) are refused: the archive's content comes from user
// code.
func Extract(r io.Reader, dir string) error { return extract(r, dir, nil, nil) }

func extract(r io.Reader, dir string, keep func(rel string) bool, pool *inodes.Pool) error {
	zr, _ := readers.Get().(*gzip.Reader)
	if zr == nil {
		var err error
		if zr, err = gzip.NewReader(r); err != nil {
			return fmt.Errorf("not a gzip stream: %w", err)
		}
	} else if err := zr.Reset(r); err != nil {
		release(zr)
		return fmt.Errorf("not a gzip stream: %w", err)
	}
	defer release(zr)
	tr := tar.NewReader(zr)
	copyBuf := make([]byte, 32<<10)
	links := map[string]bool{}
	made := map[string]bool{dir: true}
	mkdirAll := func(p string) error {
		if made[p] {
			return nil
		}
		if err := pool.MkdirAll(p, 0o755); err != nil {
			return err
		}
		made[p] = true
		return nil
	}
	type dirTime struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || name == "." {
			return fmt.Errorf("archive entry %q escapes the workspace", hdr.Name)
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if links[p] {
				return fmt.Errorf("archive entry %q lies under the symlink %q", hdr.Name, p)
			}
		}
		if keep != nil && (hdr.Typeflag != tar.TypeReg || !keep(name)) {
			// Not wanted; directories are made for the files that are. A skipped
			// symlink is never created, so nothing can be written through it.
			if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeDir || hdr.Typeflag == tar.TypeSymlink {
				continue
			}
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		mode := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if links[name] {
				// Its mode and times would be set through the symlink, at the end.
				return fmt.Errorf("archive entry %q is a directory where the archive made a symlink", hdr.Name)
			}
			if err := mkdirAll(target); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr})
		case tar.TypeReg:
			if err := mkdirAll(filepath.Dir(target)); err != nil {
				return err
			}
			// A file of the pool's when the name is free; otherwise (a later entry of the
			// same name) the file there is truncated, but never through a symlink.
			if links[name] {
				return fmt.Errorf("archive entry %q would be written through the symlink the archive made there", hdr.Name)
			}
			f, err := pool.Create(target, mode|0o200)
			if errors.Is(err, fs.ErrExist) {
				f, err = os.OpenFile(target, os.O_TRUNC|os.O_WRONLY|syscall.O_NOFOLLOW, mode|0o200)
			}
			if err != nil {
				return err
			}
			// Through a buffer of the extract's own: os.File's ReadFrom would make a
			// 32 KiB one for every file.
			_, err = io.CopyBuffer(struct{ io.Writer }{f}, tr, copyBuf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			// Created owner-writable so it could be filled, and through the umask: fix
			// the mode only when either may have changed it.
			if mode&0o200 == 0 || mode&0o022 != 0 {
				_ = os.Chmod(target, mode)
			}
			_ = os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		case tar.TypeSymlink:
			if err := mkdirAll(filepath.Dir(target)); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
			links[name] = true
		default:
			return fmt.Errorf("archive entry %q has unsupported type %q", hdr.Name, hdr.Typeflag)
		}
	}
	// Directory times last: writing their files changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chmod(dirs[i].path, fs.FileMode(dirs[i].hdr.Mode).Perm()|0o700)
		_ = os.Chtimes(dirs[i].path, dirs[i].hdr.ModTime, dirs[i].hdr.ModTime)
	}
	return nil
}
