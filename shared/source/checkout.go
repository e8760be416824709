//go:build linux && !lambda.norpc

package source

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/shipgate/shipgate/shared/gitobj"
	"github.com/shipgate/shipgate/shared/inodes"
)

// checkoutTree makes dir, which holds writeSkeleton's .git and nothing else, a checkout
// of commit id from the objects directory objects, as `git checkout -q --detach id` run
// there would: the work tree, .git/index and a detached HEAD.
//
// A local push is checked out on every run, and starting git is the dearest step of a
// small build (several milliseconds on a small VM, against well under one here). So
// the trees git checks out verbatim are written here, and ok is false, with dir as it
// was, for everything else, which the caller leaves to git: objects this reader does not
// handle (see objectStore), a .gitattributes or .gitmodules anywhere (attributes convert
// line endings and run filters; submodules), a submodule or unusual mode, names git
// might refuse or treat specially, an empty tree, or a name that already exists.
// TestCheckoutTreeMatchesGit holds the result to git's.
func checkoutTree(ctx context.Context, objects, dir, id string, maxBytes int64) (ok bool, err error) {
	if len(id) != 2*sha1.Size {
		return false, nil
	}
	store, err := newObjectStore(objects)
	if err != nil {
		return false, nil
	}
	defer store.close()
	c := &treeCheckout{ctx: ctx, store: store, dir: dir, maxBytes: maxBytes, trees: map[string][]byte{}, pool: inodes.FromContext(ctx)}
	err = c.run(id)
	if errors.Is(err, errUnsupported) {
		c.undo()
		return false, nil
	}
	return err == nil, err
}

// indexEntry is a file as .git/index records it.
type indexEntry struct {
	path string
	mode uint32
	id   []byte
	st   *syscall.Stat_t
}

type treeCheckout struct {
	ctx      context.Context
	store    *objectStore
	dir      string
	maxBytes int64
	written  int64
	entries  []indexEntry
	top      []string // what was created directly in dir, for undo
	index    bool     // .git/index was written
	trees    map[string][]byte
	pool     *inodes.Pool // files and directories made ahead, when the caller has them
}

// file is a tree's entry that is not a directory, waiting to be written.
type file struct {
	path string
	mode uint32
	id   string
}

func (c *treeCheckout) run(id string) error {
	typ, body, err := c.store.read(id)
	if err != nil {
		return err
	}
	// The header as git reads it before anything else, or git decides.
	tree, _, ok := gitobj.CommitHeader(body, 2*sha1.Size)
	if typ != "commit" || !ok {
		return errUnsupported
	}
	// Every tree is read and checked before anything is written: most reasons to leave
	// the checkout to git are found without touching the disk.
	var files []file
	var dirs []string
	if err := c.walk(tree, "", &files, &dirs); err != nil {
		return err
	}
	for _, d := range dirs {
		if err := c.mkdir(d); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if err := c.write(f); err != nil {
			return err
		}
	}
	if err := c.writeIndex(); err != nil {
		return err
	}
	// HEAD last: until it names the commit, the repository is the skeleton git started
	// from. Replaced whole, as git does, since a git reading the repository meanwhile
	// (the diff of changed files) must never see it empty.
	return c.replaceFile(filepath.Join(c.dir, ".git", "HEAD"), []byte(id+"\n"))
}

// replaceFile writes path through a lock file renamed over it.
func (c *treeCheckout) replaceFile(path string, b []byte) error {
	lock := path + ".lock"
	if err := c.pool.WriteFile(lock, b, 0o644); err != nil {
		return fsError(err)
	}
	return fsError(os.Rename(lock, path))
}

// Bounds on what walk lists before it leaves the checkout to git: a tree can name one
// subtree many times over, so a few objects can stand for millions of files, and the
// list is held in memory (git, in its own process, is bounded by the fetch timeout).
const (
	maxTreeFiles = 250_000
	maxTreeDepth = 256
)

// walk lists tree id's files and directories under prefix, parents before children.
func (c *treeCheckout) walk(id, prefix string, files *[]file, dirs *[]string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if strings.Count(prefix, "/") >= maxTreeDepth {
		return errUnsupported
	}
	body, ok := c.trees[id]
	if !ok {
		typ, b, err := c.store.read(id)
		if err != nil {
			return err
		}
		if typ != "tree" {
			return errUnsupported
		}
		body = b
		c.trees[id] = b
	}
	if len(body) == 0 {
		return errUnsupported
	}
	seen := map[string]bool{}
	for len(body) > 0 {
		e, rest, ok := nextEntry(body)
		if !ok {
			return errUnsupported
		}
		body = rest
		mode, name, entryID := e.mode, e.name, e.id
		if !ordinaryName(name) || seen[name] {
			return errUnsupported
		}
		seen[name] = true
		p := prefix + name
		if len(p) >= 0xfff || len(name) > 255 || len(*files)+len(*dirs) >= maxTreeFiles {
			return errUnsupported
		}
		switch mode {
		case "40000":
			*dirs = append(*dirs, p)
			if err := c.walk(entryID, p+"/", files, dirs); err != nil {
				return err
			}
		case "100644":
			*files = append(*files, file{p, 0o100644, entryID})
		case "100755":
			*files = append(*files, file{p, 0o100755, entryID})
		case "120000":
			*files = append(*files, file{p, 0o120000, entryID})
		default: // a submodule (160000), or a mode git normalises
			return errUnsupported
		}
	}
	return nil
}

// ordinaryName reports whether git checks out a tree entry of this name as it is,
// without a second look: not ".", "..", a name of .git (in any case, or as NTFS
// spells it), the attributes or submodules file, nor anything with a separator, colon
// or tilde, nor a byte outside printable ASCII after a leading dot. (git 2.39's
// verify_path, with core.protectNTFS on as it is by default, refuses a subset of
// these; what is declined here goes to git, which decides.)
func ordinaryName(name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\:\x00") {
		return false
	}
	// A tilde may make an NTFS short name of .git or .gitmodules (git~1, gitmod~1,
	// gi7eba~1): git refuses some of those, by rules that change between versions.
	if strings.Contains(name, "~") {
		return false
	}
	lower := strings.ToLower(name)
	if name[0] == '.' {
		for i := 0; i < len(name); i++ {
			if name[i] < 0x20 || name[i] >= 0x7f {
				return false
			}
		}
	}
	switch strings.TrimRight(lower, ". ") {
	case ".git", ".gitattributes", ".gitmodules":
		return false
	}
	return true
}

func (c *treeCheckout) mkdir(p string) error {
	if err := c.pool.Mkdir(filepath.Join(c.dir, filepath.FromSlash(p)), 0o777); err != nil {
		return fsError(err)
	}
	c.created(p)
	return nil
}

func (c *treeCheckout) created(p string) {
	if !strings.Contains(p, "/") {
		c.top = append(c.top, p)
	}
}

// fsError sorts a file system error: the disk being full or failing is the fetch's
// error, as it would be git's; anything else (two entries on one name on a
// case-insensitive file system, a name or symlink target the file system will not
// take) is git's to handle as it does, so the checkout is left to it.
func fsError(err error) error {
	if err == nil || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO) {
		return err
	}
	return errUnsupported
}

func (c *treeCheckout) write(f file) error {
	typ, data, err := c.store.read(f.id)
	if err != nil {
		return err
	}
	if typ != "blob" {
		return errUnsupported
	}
	if c.written += int64(len(data)); c.written > c.maxBytes {
		return errTooLarge
	}
	target := filepath.Join(c.dir, filepath.FromSlash(f.path))
	var st syscall.Stat_t
	if f.mode == 0o120000 {
		if bytes.IndexByte(data, 0) >= 0 || len(data) == 0 {
			return errUnsupported
		}
		if err := os.Symlink(string(data), target); err != nil {
			return fsError(err)
		}
		c.created(f.path)
		if err := syscall.Lstat(target, &st); err != nil {
			return fsError(err)
		}
	} else {
		perm := os.FileMode(0o666)
		if f.mode == 0o100755 {
			perm = 0o777
		}
		// O_EXCL: never through a symlink, never over another entry.
		fh, err := c.pool.Create(target, perm)
		if err != nil {
			return fsError(err)
		}
		c.created(f.path)
		_, err = fh.Write(data)
		if err == nil {
			err = syscall.Fstat(int(fh.Fd()), &st)
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fsError(err)
		}
	}
	raw, _ := hex.DecodeString(f.id)
	c.entries = append(c.entries, indexEntry{path: f.path, mode: f.mode, id: raw, st: &st})
	return nil
}

// writeIndex writes .git/index, version 2, with every file's stat data, so that git in
// the workspace (a build's `git status`, `git describe --dirty`, Go's VCS stamping) sees
// a clean checkout without reading the files again.
func (c *treeCheckout) writeIndex() error {
	sort.Slice(c.entries, func(i, j int) bool { return c.entries[i].path < c.entries[j].path })
	var b bytes.Buffer
	b.WriteString("DIRC")
	u32 := func(v uint32) { b.Write(binary.BigEndian.AppendUint32(nil, v)) }
	u32(2)
	u32(uint32(len(c.entries)))
	for _, e := range c.entries {
		st := e.st
		u32(uint32(st.Ctim.Sec))
		u32(uint32(st.Ctim.Nsec))
		u32(uint32(st.Mtim.Sec))
		u32(uint32(st.Mtim.Nsec))
		u32(uint32(st.Dev))
		u32(uint32(st.Ino))
		u32(e.mode)
		u32(st.Uid)
		u32(st.Gid)
		u32(uint32(st.Size))
		b.Write(e.id)
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(e.path))))
		b.WriteString(e.path)
		// NUL-padded to a multiple of 8 bytes, with at least one NUL.
		n := 62 + len(e.path)
		b.Write(make([]byte, 8-n%8))
	}
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	index := filepath.Join(c.dir, ".git", "index")
	if _, err := os.Lstat(index); !errors.Is(err, fs.ErrNotExist) {
		return errUnsupported // not the skeleton this was written for
	}
	c.index = true
	return c.replaceFile(index, b.Bytes())
}

// undo removes what the checkout wrote, leaving the skeleton for git.
func (c *treeCheckout) undo() {
	for _, p := range c.top {
		os.RemoveAll(filepath.Join(c.dir, p))
	}
	if c.index {
		os.Remove(filepath.Join(c.dir, ".git", "index"))
		os.Remove(filepath.Join(c.dir, ".git", "index.lock"))
	}
	os.Remove(filepath.Join(c.dir, ".git", "HEAD.lock"))
}
