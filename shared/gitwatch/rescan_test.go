package gitwatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/gittest"
)

// TestTheRescanAloneFindsPushes: without inotify (as off Linux), a push is found by the
// timer's rescan within its interval.
func TestTheRescanAloneFindsPushes(t *testing.T) {
	root := t.TempDir()
	bare, work := filepath.Join(root, "origin.git"), filepath.Join(root, "work")
	gittest.Git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	gittest.Git(t, root, "init", "-q", "-b", "main", work)
	gittest.Git(t, work, "remote", "add", "origin", bare)
	got := make(chan Change, 4)
	w, err := New(Options{Repo: bare, Interval: 50 * time.Millisecond, OnChange: func(c Change) error { got <- c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	w.rescanOnly = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	if err := os.WriteFile(filepath.Join(work, "f.txt"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, work, "add", ".")
	gittest.Git(t, work, "commit", "-q", "-m", "one")
	sha := gittest.Git(t, work, "rev-parse", "HEAD")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	select {
	case c := <-got:
		if c.Ref != "refs/heads/main" || c.New != sha || c.Old != ZeroSHA {
			t.Errorf("change = %+v, want main created at %s", c, sha)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5 s of the push with a 50 ms rescan")
	}
}
