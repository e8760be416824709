// Package gitwatch notices pushes to a repository on this machine: a `git push` into a
// bare repository or a commit on a branch of a working repository. Local mode turns each
// change into the same CodeCommit "Repository State Change" event that EventBridge
// delivers on AWS, so local pushes travel the production trigger path.
//
// On Linux it watches the ref files with inotify for speed and rescans on a timer as a
// safety net (a missed inotify event, a filesystem without inotify); elsewhere the timer
// alone finds the pushes, every half second by default. The refs seen last are kept in
// a state file, so pushes made while shipgate was stopped start runs when it starts again.
package gitwatch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/shared/inodes"
)

// ZeroSHA is the "no commit" object id git uses for created and deleted refs.
const ZeroSHA = "0000000000000000000000000000000000000000"

// Change is one ref that moved. Old is ZeroSHA for a new ref, New is ZeroSHA for a
// deleted one.
type Change struct {
	Ref string // refs/heads/main, refs/tags/v1
	Old string
	New string
}

// Options configure a Watcher.
type Options struct {
	// Repo is the repository directory (bare, or a working tree).
	Repo string
	// StateFile keeps the refs seen last; empty means "do not remember across restarts".
	StateFile string
	// Files, when set, supplies the state file's new versions made ahead (a pool on the
	// state file's file system that keeps itself filled): saving after a push then makes
	// no new file while the push's run starts.
	Files *inodes.Pool
	// Interval between rescans; 0 means 500ms.
	Interval time.Duration
	// OnChange is called, in order and from one goroutine, for each change. A change it
	// returns an error for is not saved as seen: the next scan (a wake-up, the timer, or
	// the next start) reports it again. Return one only for what a retry can mend.
	OnChange func(Change) error
	// OnError reports scan problems (the watcher keeps going).
	OnError func(error)
	// RetryAfter is how long a change whose report failed waits before it is reported
	// again; each further failure doubles it, up to a minute. 0 means a second.
	RetryAfter time.Duration
}

// Watcher watches one repository.
type Watcher struct {
	o      Options
	gitDir string
	mu     sync.Mutex
	refs   map[string]string
	// retry holds, per ref, the change whose report failed and when to report it again,
	// so a push that keeps failing is retried with a growing wait, not on every scan.
	retry map[string]retryAt
	// rescanOnly leaves inotify out, as off Linux (tests of that path set it).
	rescanOnly bool
}

type retryAt struct {
	change Change
	at     time.Time
	wait   time.Duration
}

// maxRetryWait bounds the wait between reports of a change that keeps failing.
const maxRetryWait = time.Minute

// New resolves the repository's git directory and loads the remembered refs. When there
// is no state file yet, the current refs become the baseline (nothing fires for them).
func New(o Options) (*Watcher, error) {
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Second
	}
	gitDir, err := GitDir(o.Repo)
	if err != nil {
		return nil, err
	}
	w := &Watcher{o: o, gitDir: gitDir}
	if o.StateFile != "" {
		b, err := os.ReadFile(o.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &w.refs); err != nil {
				return nil, fmt.Errorf("watch state %s is corrupt (%v); delete it to start from the current refs", o.StateFile, err)
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, err
		}
	}
	if w.refs == nil {
		if w.refs, err = ReadRefs(gitDir); err != nil {
			return nil, err
		}
		if err := w.save(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// GitDir returns the absolute git directory of repo (repo itself when bare).
func GitDir(repo string) (string, error) {
	cmd := exec.Command("git", "rev-parse", "--absolute-git-dir")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s is not a git repository: %s", repo, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// GitDirOf is the watched repository's git directory.
func (w *Watcher) GitDirOf() string { return w.gitDir }

// Run watches until ctx ends. Changes found at start (pushed while stopped) fire first.
func (w *Watcher) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	if !w.rescanOnly {
		defer w.inotify(ctx, wake)()
	}
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		w.Scan()
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-t.C:
		}
	}
}

// Scan compares the refs with the last seen ones and reports changes. Safe to call
// directly (tests, a hook).
func (w *Watcher) Scan() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now, err := ReadRefs(w.gitDir)
	if err != nil {
		w.report(err)
		return
	}
	var changes []Change
	for ref, sha := range now {
		if old := w.refs[ref]; old != sha {
			if old == "" {
				old = ZeroSHA
			}
			changes = append(changes, Change{Ref: ref, Old: old, New: sha})
		}
	}
	for ref, old := range w.refs {
		if _, ok := now[ref]; !ok {
			changes = append(changes, Change{Ref: ref, Old: old, New: ZeroSHA})
		}
	}
	// A retry whose change is gone (the ref moved on, or back) starts over next time.
	for ref, r := range w.retry {
		if !slices.Contains(changes, r.change) {
			delete(w.retry, ref)
		}
	}
	if len(changes) == 0 {
		return
	}
	// The changes are reported before they are saved: a push reported twice (shipgate
	// killed in between) starts one run, since the trigger names runs after the push,
	// while one saved but never reported would start none. Saving first also kept every
	// push waiting on a file write and rename before its run could start. A change
	// whose report failed stays unseen, to be reported again after its retry wait.
	t := time.Now()
	seen := 0
	for _, c := range changes {
		if r, ok := w.retry[c.Ref]; ok && r.change == c && t.Before(r.at) {
			continue // still waiting to retry
		}
		if w.o.OnChange != nil {
			if err := w.o.OnChange(c); err != nil {
				wait := min(w.o.RetryAfter, maxRetryWait)
				if r, ok := w.retry[c.Ref]; ok && r.change == c {
					wait = min(2*r.wait, maxRetryWait)
				}
				if w.retry == nil {
					w.retry = map[string]retryAt{}
				}
				w.retry[c.Ref] = retryAt{change: c, at: time.Now().Add(wait), wait: wait}
				continue
			}
		}
		delete(w.retry, c.Ref)
		if c.New == ZeroSHA {
			delete(w.refs, c.Ref)
		} else {
			w.refs[c.Ref] = c.New
		}
		seen++
	}
	if seen == 0 {
		return // nothing new is seen: the state file stays as it is
	}
	if err := w.save(); err != nil {
		w.report(err)
	}
}

func (w *Watcher) report(err error) {
	if w.o.OnError != nil {
		w.o.OnError(err)
	}
}

// save writes the state file atomically (a crash leaves the old or the new one).
func (w *Watcher) save() error {
	if w.o.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(w.refs, "", "  ")
	if err != nil {
		return err
	}
	return w.o.Files.Replace(w.o.StateFile, b, 0o600)
}

// ReadRefs reads branch and tag refs straight from the files (no git process: it runs
// on every wake-up): loose refs under refs/heads and refs/tags, then packed-refs for
// those not loose.
func ReadRefs(gitDir string) (map[string]string, error) {
	refs := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(gitDir, "packed-refs")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' || line[0] == '^' {
				continue
			}
			sha, ref, ok := strings.Cut(line, " ")
			if ok && isWatched(ref) && len(sha) == 40 {
				refs[ref] = sha
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, top := range []string{"refs/heads", "refs/tags"} {
		root := filepath.Join(gitDir, top)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || strings.HasSuffix(p, ".lock") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) { // renamed under us: the next scan sees it
					return nil
				}
				return err
			}
			sha := strings.TrimSpace(string(b))
			if len(sha) != 40 { // a symbolic ref or a half-written file
				return nil
			}
			rel, _ := filepath.Rel(gitDir, p)
			refs[filepath.ToSlash(rel)] = sha
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return refs, nil
}

func isWatched(ref string) bool {
	return strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/")
}
