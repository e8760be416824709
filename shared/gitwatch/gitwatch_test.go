package gitwatch_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/gittest"
	"github.com/shipgate/shipgate/shared/gitwatch"
	"github.com/shipgate/shipgate/shared/inodes"
)

// newPushPair makes a bare repository and a clone to push from.
func newPushPair(t *testing.T) (bare, work string) {
	root := t.TempDir()
	bare, work = filepath.Join(root, "origin.git"), filepath.Join(root, "work")
	gittest.Git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	gittest.Git(t, root, "init", "-q", "-b", "main", work)
	gittest.Git(t, work, "remote", "add", "origin", bare)
	return bare, work
}

func commit(t *testing.T, work, msg string) string {
	if err := os.WriteFile(filepath.Join(work, "f.txt"), []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, work, "add", ".")
	gittest.Git(t, work, "commit", "-q", "-m", msg)
	return gittest.Git(t, work, "rev-parse", "HEAD")
}

func TestPushesToABareRepositoryAreSeenInOrderByInotify(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify is Linux's; elsewhere the rescan finds pushes")
	}
	bare, work := newPushPair(t)
	got := make(chan gitwatch.Change, 10)
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: filepath.Join(t.TempDir(), "refs.json"),
		Interval: time.Hour, // only inotify can make this test pass in time
		OnChange: func(c gitwatch.Change) error { got <- c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	time.Sleep(50 * time.Millisecond)

	first := commit(t, work, "one")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	expect(t, got, gitwatch.Change{Ref: "refs/heads/main", Old: gitwatch.ZeroSHA, New: first})

	second := commit(t, work, "two")
	gittest.Git(t, work, "push", "-q", "origin", "main:feature/x")
	expect(t, got, gitwatch.Change{Ref: "refs/heads/feature/x", Old: gitwatch.ZeroSHA, New: second})

	gittest.Git(t, work, "push", "-q", "origin", ":feature/x")
	expect(t, got, gitwatch.Change{Ref: "refs/heads/feature/x", Old: second, New: gitwatch.ZeroSHA})
}

func TestCommitsInAWorkingRepositoryAreSeen(t *testing.T) {
	_, work := newPushPair(t)
	commit(t, work, "base")
	got := make(chan gitwatch.Change, 10)
	w, err := gitwatch.New(gitwatch.Options{Repo: work, Interval: time.Hour, OnChange: func(c gitwatch.Change) error { got <- c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	time.Sleep(50 * time.Millisecond)
	before := gittest.Git(t, work, "rev-parse", "HEAD")
	after := commit(t, work, "next")
	expect(t, got, gitwatch.Change{Ref: "refs/heads/main", Old: before, New: after})
}

// pushedWhileStopped is a bare repository whose state file saw main at first, and which
// has since had second pushed to main.
func pushedWhileStopped(t *testing.T) (bare, state, first, second string) {
	t.Helper()
	bare, work := newPushPair(t)
	state = filepath.Join(t.TempDir(), "refs.json")
	first = commit(t, work, "one")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	if _, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state}); err != nil {
		t.Fatal(err) // baseline: main at first
	}
	second = commit(t, work, "two")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	return bare, state, first, second
}

func TestPushesWhileStoppedFireAtStartAndPackedRefsCount(t *testing.T) {
	bare, state, first, second := pushedWhileStopped(t)
	gittest.Git(t, bare, "pack-refs", "--all") // the ref now lives only in packed-refs

	var got []gitwatch.Change
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, OnChange: func(c gitwatch.Change) error { got = append(got, c); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	w.Scan()
	want := gitwatch.Change{Ref: "refs/heads/main", Old: first, New: second}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("changes at start = %+v, want [%+v]", got, want)
	}
	w.Scan()
	if len(got) != 1 {
		t.Fatalf("a second scan reported again: %+v", got)
	}
}

func TestNotARepositoryIsAClearError(t *testing.T) {
	_, err := gitwatch.New(gitwatch.Options{Repo: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("err = %v, want 'not a git repository'", err)
	}
}

func expect(t *testing.T, got <-chan gitwatch.Change, want gitwatch.Change) {
	t.Helper()
	select {
	case c := <-got:
		if c != want {
			t.Fatalf("change = %+v, want %+v", c, want)
		}
	// The watcher sees a push in milliseconds (BenchmarkLocalRun measures it); the
	// generous bound keeps this test honest on a loaded machine.
	case <-time.After(5 * time.Second):
		t.Fatalf("no change within 5s, want %+v", want)
	}
}

// A change is saved as seen only after it was reported: shipgate killed while it starts
// the run reports the push again when it starts (the trigger makes that one run),
// instead of never.
func TestAChangeIsSavedOnlyAfterItIsReported(t *testing.T) {
	bare, state, first, second := pushedWhileStopped(t)
	want := gitwatch.Change{Ref: "refs/heads/main", Old: first, New: second}
	var again []gitwatch.Change
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, OnChange: func(c gitwatch.Change) error {
		// Killed here, and started again on the same state: the push is still new.
		restarted, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, OnChange: func(c gitwatch.Change) error { again = append(again, c); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		restarted.Scan()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.Scan()
	if len(again) != 1 || again[0] != want {
		t.Fatalf("a restart during the report saw %+v, want [%+v]", again, want)
	}
	var after []gitwatch.Change
	w2, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, OnChange: func(c gitwatch.Change) error { after = append(after, c); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	w2.Scan()
	if len(after) != 0 {
		t.Fatalf("after the report the push was still new: %+v", after)
	}
}

// A change whose report failed is not saved as seen: the next scan, and a start after a
// stop, report it again, until a report succeeds.
func TestAChangeWhoseReportFailedIsReportedAgain(t *testing.T) {
	bare, state, first, second := pushedWhileStopped(t)
	want := gitwatch.Change{Ref: "refs/heads/main", Old: first, New: second}
	var got []gitwatch.Change
	fail := true
	onChange := func(c gitwatch.Change) error {
		got = append(got, c)
		if fail {
			return errors.New("the trigger is not answering")
		}
		return nil
	}
	o := gitwatch.Options{Repo: bare, StateFile: state, OnChange: onChange, RetryAfter: time.Nanosecond}
	w, err := gitwatch.New(o)
	if err != nil {
		t.Fatal(err)
	}
	w.Scan()
	time.Sleep(time.Millisecond)
	w.Scan()
	// Stopped and started again, still failing.
	w, err = gitwatch.New(o)
	if err != nil {
		t.Fatal(err)
	}
	w.Scan()
	fail = false
	time.Sleep(time.Millisecond)
	w.Scan()
	w.Scan()
	if len(got) != 4 {
		t.Fatalf("reported %d times, want 4 (three failures, then one success): %+v", len(got), got)
	}
	for _, c := range got {
		if c != want {
			t.Fatalf("reported %+v, want %+v", c, want)
		}
	}
}

// A change that keeps failing is retried after a wait that grows, not on every scan,
// and the state file is not rewritten while nothing new is seen.
func TestAFailingChangeIsRetriedAfterAWait(t *testing.T) {
	bare, state, _, _ := pushedWhileStopped(t)
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	st0, _ := os.Stat(state)
	calls := 0
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, RetryAfter: 400 * time.Millisecond,
		OnChange: func(gitwatch.Change) error { calls++; return errors.New("still failing") }})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		w.Scan() // within the first wait: reported once
	}
	if calls != 1 {
		t.Fatalf("%d reports within the retry wait, want 1", calls)
	}
	time.Sleep(500 * time.Millisecond)
	w.Scan() // past the first wait: again, and the next wait is twice as long
	time.Sleep(500 * time.Millisecond)
	w.Scan() // 500 ms into an 800 ms wait
	if calls != 2 {
		t.Fatalf("%d reports, want 2 (the wait doubles after each failure)", calls)
	}
	after, err := os.ReadFile(state)
	st1, _ := os.Stat(state)
	if err != nil || !bytes.Equal(before, after) || !st1.ModTime().Equal(st0.ModTime()) {
		t.Errorf("the state file was rewritten while nothing new was seen (%v)", err)
	}
}

// A change waiting to be retried is reported at once when its ref moves on, and starts
// over when the ref goes back and comes again: the wait belongs to the change.
func TestARetryWaitEndsWhenTheRefMoves(t *testing.T) {
	bare, state, first, second := pushedWhileStopped(t)
	var got []gitwatch.Change
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, RetryAfter: time.Hour,
		OnChange: func(c gitwatch.Change) error { got = append(got, c); return errors.New("still failing") }})
	if err != nil {
		t.Fatal(err)
	}
	w.Scan()
	w.Scan() // waiting an hour
	gittest.Git(t, bare, "update-ref", "refs/heads/main", first)
	w.Scan() // back where it was seen: nothing to report
	gittest.Git(t, bare, "update-ref", "refs/heads/main", second)
	w.Scan() // the same change again: a new one, reported at once
	want := gitwatch.Change{Ref: "refs/heads/main", Old: first, New: second}
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Fatalf("reported %+v, want %+v twice", got, want)
	}
}

// TestStateSavedFromFilesMadeAhead: with files made ahead, the state file is saved from
// them, and a watcher started on it later has nothing new to report.
func TestStateSavedFromFilesMadeAhead(t *testing.T) {
	bare, state, first, second := pushedWhileStopped(t)
	files := inodes.Make(filepath.Dir(state), 2, 0)
	defer files.Close()
	var got []gitwatch.Change
	w, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, Files: files, OnChange: func(c gitwatch.Change) error { got = append(got, c); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	w.Scan()
	if want := (gitwatch.Change{Ref: "refs/heads/main", Old: first, New: second}); len(got) != 1 || got[0] != want {
		t.Fatalf("changes = %+v, want [%+v]", got, want)
	}
	if n, _ := files.FromPool(); inodes.Available() && n != 1 {
		t.Errorf("the save took %d files made ahead, want 1", n)
	}
	var again []gitwatch.Change
	w2, err := gitwatch.New(gitwatch.Options{Repo: bare, StateFile: state, OnChange: func(c gitwatch.Change) error { again = append(again, c); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	w2.Scan()
	if len(again) != 0 {
		t.Fatalf("a watcher started on the saved state reported %+v", again)
	}
}
