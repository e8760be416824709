package stagekit

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/background"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/workspace"
)

// Dirs are a stage's scratch directories: the workspace and a HOME for user commands.
type Dirs struct {
	Workspace, Home string
	// Inodes holds files and directories made ahead with the set, for what the stage
	// writes into it (a checkout, a restore, downloads); nil makes them on the spot.
	Inodes *inodes.Pool
	root   string
	from   *Scratch // removes them in the background; nil: Remove removes them
	busy   func()   // ends the stage's mark on background work (background.Busy); nil: none
}

// NewDirs creates scratch directories under parent (os.TempDir() when empty).
func NewDirs(parent, stage string) (Dirs, error) {
	root, err := os.MkdirTemp(parent, "shipgate-"+stage+"-")
	if err != nil {
		return Dirs{}, domain.Errorf(domain.Internal, "create workspace: %w", err)
	}
	d := Dirs{Workspace: filepath.Join(root, "ws"), Home: filepath.Join(root, "home"), root: root}
	for _, p := range []string{d.Workspace, d.Home} {
		if err := os.Mkdir(p, 0o700); err != nil {
			os.RemoveAll(root)
			return Dirs{}, domain.Errorf(domain.Internal, "create workspace: %w", err)
		}
	}
	return d, nil
}

// Remove deletes the directories. Without a Scratch that is before the stage reports:
// a warm Lambda must not fill /tmp run after run, nor hold two workspaces at once near
// its storage limit. With one, see Scratch.
func (d Dirs) Remove() {
	if d.from != nil {
		d.from.remove(d)
		return
	}
	d.Inodes.Close()
	os.RemoveAll(d.root)
	d.done()
}

// done ends the stage's mark on background work, if it made one.
func (d Dirs) done() {
	if d.busy != nil {
		d.busy()
	}
}

// Scratch hands out one stage handler's scratch directories where making and removing
// directories is slow (a disk-backed /tmp: on the VM this was measured on, each new
// directory or file costs 0.2-0.4 ms and each removed one 0.2, most of a small stage's
// file work). It makes the next set ahead, with the directories the stage made last
// time (inodes.Pool, where the file system makes that worthwhile) and a stock of files
// the sets share, which unused files outlive; and it removes a used set after the stage
// has reported and tops the stock up. All of it is done in the background, at a low CPU
// priority, once no stage of the process has held a workspace for a moment (package
// background: between runs, or while a run waits for its approver; under a load that
// never lets up, after a second). The guarantees of Remove still hold where it matters:
// Dirs hurries every removal of a set this Scratch was given back and waits for it
// before handing out another, so a handler never holds a used workspace beside the ones
// its running invocations have, and Close hurries all of it and waits for it. A set made
// ahead is handed out only if it is still the directories that were made, empty (a tmp
// cleaner may have removed it meanwhile, and another user made others of the same
// names). Local mode gives each stage handler one; a Lambda uses none (its background
// work would be frozen between invocations anyway).
type Scratch struct {
	parent, stage string
	mu            sync.Mutex
	closed        bool
	removing      map[*removal]bool // the removals under way
	spare         chan spareSet     // holds at most one set made ahead
	making        chan struct{}     // closed when the set being made ahead is ready; nil: none
	stop          chan struct{}     // closed by Close: background work waits no longer
	// How many files the stock and how many directories the next set's pool hold: what
	// the last set given back was asked for, and one more.
	poolFiles, poolDirs int
	maxFiles            int          // the stock's bound: maxPoolFiles, less where descriptors are few
	files               *inodes.Pool // the stock of unnamed files; nil: none kept
}

// The first sizes, enough for a small repository's checkout with its .git, and the
// bounds on later ones: each file held is an open descriptor.
const (
	firstPoolFiles, firstPoolDirs = 16, 8
	maxPoolFiles, maxPoolDirs     = 256, 64
)

// spareSet is a set made ahead, with the identity of its three directories as made: what
// is found there when it is handed out must be them (a tmp cleaner may remove an idle
// set, and anyone may then make directories of the same names in a shared /tmp).
type spareSet struct {
	d   Dirs
	ids [3]os.FileInfo // root, workspace, home
}

// removal is a used set's removal, deferred until the process is quiet; done is closed
// when it has ended, and closing hurry starts it at once.
type removal struct {
	root        string
	done, hurry chan struct{}
	hurried     bool // hurry is closed; s.mu guards it
}

// NewScratch returns a Scratch making stage's directories under parent (os.TempDir()
// when empty), with the first set made ahead at once.
func NewScratch(parent, stage string) *Scratch {
	s := &Scratch{parent: parent, stage: stage, spare: make(chan spareSet, 1), removing: map[*removal]bool{}, stop: make(chan struct{}),
		poolFiles: firstPoolFiles, poolDirs: firstPoolDirs, maxFiles: maxPoolFiles}
	if n := openFileLimit(); n > 0 {
		// Four handlers keep a stock each: together at most an eighth of the limit.
		s.maxFiles = min(s.maxFiles, n/32)
		s.poolFiles = min(s.poolFiles, s.maxFiles)
	}
	dir := parent
	if dir == "" {
		dir = os.TempDir()
	}
	if inodes.Worthwhile(dir) {
		// Unnamed files made in parent, linked later into the sets beneath it.
		s.files = inodes.Make(dir, 0, 0)
	}
	s.files.TopUp(s.poolFiles)
	s.mu.Lock()
	s.makeAhead()
	s.mu.Unlock()
	return s
}

// Dirs waits for the sets given back to be gone, then hands out a set: the one made
// ahead when it is ready, else a new one, and starts making the next. Until the set is
// given back (Remove), the process counts as busy: the background work of every Scratch
// waits for it (see package background).
func (s *Scratch) Dirs() (Dirs, error) {
	busy := background.Busy()
	s.waitRemovals()
	var d Dirs
	select {
	case sp := <-s.spare:
		switch {
		case intact(sp):
			d = sp.d
		case ours(sp):
			sp.d.Inodes.Close()
			os.RemoveAll(sp.d.root) // ours, but not as made: nobody else can write in it
		default:
			// Cleaned away since it was made: whatever is there now is not ours to
			// use, nor to remove.
			sp.d.Inodes.Abandon()
		}
	default:
	}
	if d.root == "" {
		var err error
		if d, err = NewDirs(s.parent, s.stage); err != nil {
			busy()
			return Dirs{}, err
		}
	}
	d.busy = busy
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		d.from = s
		s.makeAhead()
	}
	return d, nil
}

// makeAhead starts making a spare set unless one is ready or on its way. s.mu is held.
func (s *Scratch) makeAhead() {
	if s.making != nil || s.closed || len(s.spare) > 0 {
		return
	}
	done := make(chan struct{})
	s.making = done
	// Once no stage runs, at a low priority: the set must not take the CPU from a stage.
	// Nobody waits for it: Dirs makes a set itself when this one is not ready. Made
	// after the stage that asked for it, it knows what that stage used.
	background.Go(func() {
		defer close(done)
		s.mu.Lock()
		if s.closed {
			s.making = nil
			s.mu.Unlock()
			return
		}
		dirs := s.poolDirs
		s.mu.Unlock()
		d, err := NewDirs(s.parent, s.stage)
		if err == nil && s.files != nil {
			d.Inodes = inodes.Make(d.root, 0, dirs)
			d.Inodes.FilesFrom(s.files)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.making = nil
		if err != nil {
			return // Dirs makes its own, and reports the error
		}
		sp, ok := identify(d)
		if s.closed || !ok {
			d.Inodes.Close()
			os.RemoveAll(d.root)
			return
		}
		s.spare <- sp
	}, s.stop)
}

// identify records what a set made ahead is made of.
func identify(d Dirs) (spareSet, bool) {
	sp := spareSet{d: d}
	for i, p := range []string{d.root, d.Workspace, d.Home} {
		fi, err := os.Lstat(p)
		if err != nil {
			return sp, false
		}
		sp.ids[i] = fi
	}
	return sp, true
}

// intact reports whether a set made ahead is still the directories that were made, all
// three of them, with nothing in them: directories (not symlinks), the same files with
// the same modes as made, and this process's user's (an inode number can be reused,
// but nobody else can make a directory that is ours).
func intact(sp spareSet) bool {
	for i, p := range []string{sp.d.root, sp.d.Workspace, sp.d.Home} {
		if !asMade(p, sp.ids[i]) {
			return false
		}
	}
	for _, p := range []string{sp.d.Workspace, sp.d.Home} {
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		names, err := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 || !errors.Is(err, io.EOF) {
			return false
		}
	}
	return true
}

// ours reports whether a set's root is still the directory that was made, this user's:
// then whatever is in it was put there by this user too, and it may be removed.
func ours(sp spareSet) bool { return asMade(sp.d.root, sp.ids[0]) }

// asMade reports whether path is still the directory was described when it was made:
// a directory, not a symlink, the same file with the same mode, this user's.
func asMade(path string, was os.FileInfo) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir() && os.SameFile(fi, was) && fi.Mode() == was.Mode() && ownDir(fi)
}

// waitRemovals hurries the removals under way when it was called and waits for them.
// It removes their directories itself as well: a removal that had started before it was
// hurried runs at the low priority, and the caller is waiting for it.
func (s *Scratch) waitRemovals() {
	s.mu.Lock()
	pending := make([]*removal, 0, len(s.removing))
	for r := range s.removing {
		if !r.hurried {
			r.hurried = true
			close(r.hurry)
		}
		pending = append(pending, r)
	}
	s.mu.Unlock()
	for _, r := range pending {
		os.RemoveAll(r.root) // beside the removal, which finds less to do
		<-r.done
	}
}

// remove removes a used set once the process is quiet (or someone waits for it), and
// tops the stock up with what the set did not use.
func (s *Scratch) remove(d Dirs) {
	// The stage's mark ends once what it used is recorded: a set made as soon as the
	// process is quiet must know it.
	defer d.done()
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Inodes != nil {
		files, dirs := d.Inodes.Wanted()
		s.poolFiles = min(files+1, s.maxFiles)
		s.poolDirs = min(dirs+1, maxPoolDirs)
	}
	if s.closed {
		d.Inodes.Close()
		os.RemoveAll(d.root)
		return
	}
	r := &removal{root: d.root, done: make(chan struct{}), hurry: make(chan struct{})}
	s.removing[r] = true
	background.Go(func() {
		d.Inodes.Close() // its unused directories; the files it did not use stay in stock
		os.RemoveAll(d.root)
		s.mu.Lock()
		delete(s.removing, r)
		if !s.closed {
			s.files.TopUp(s.poolFiles) // what the set did not use stays for the next
		}
		s.mu.Unlock()
		close(r.done)
	}, r.hurry)
}

// Close waits for the removals under way and removes the set made ahead; later sets are
// made and removed in the foreground.
func (s *Scratch) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	making := s.making
	s.mu.Unlock()
	s.waitRemovals() // later ones are made in the foreground
	if making != nil {
		<-making // a set being made now is removed by its maker, which sees s.closed
	}
	s.files.Close() // files of a topping up still under way vanish as they are made
	select {
	case sp := <-s.spare:
		if ours(sp) {
			sp.d.Inodes.Close()
			return os.RemoveAll(sp.d.root)
		}
		sp.d.Inodes.Abandon()
		return nil
	default:
		return nil
	}
}

// Restore extracts Build's workspace snapshot into the workspace directory.
func (d Dirs) Restore(ctx context.Context, store *artifact.Store, b *domain.BuildResult) error {
	return d.RestoreMatching(ctx, store, b, nil)
}

// RestoreMatching extracts only the files keep accepts (nil: all).
func (d Dirs) RestoreMatching(ctx context.Context, store *artifact.Store, b *domain.BuildResult, keep func(string) bool) error {
	if b == nil || b.WorkspaceKey == "" {
		return domain.Errorf(domain.Invalid, "bad input: the state has no build.workspaceKey (did Build run?)")
	}
	if err := workspace.RestoreWith(ctx, store, b.WorkspaceKey, d.Workspace, workspace.RestoreOptions{Keep: keep, Inodes: d.Inodes}); err != nil {
		return artifact.Wrap(err, domain.Internal, "restore workspace")
	}
	return nil
}

// DirsFrom makes a stage's scratch directories: from s when there is one, else under
// parent (NewDirs).
func DirsFrom(s *Scratch, parent, stage string) (Dirs, error) {
	if s != nil {
		return s.Dirs()
	}
	return NewDirs(parent, stage)
}
