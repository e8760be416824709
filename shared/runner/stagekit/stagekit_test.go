package stagekit_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/background"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
)

func TestFailure(t *testing.T) {
	long := strings.Repeat("x", 500)
	cases := []struct {
		name     string
		res      runner.Result
		wantKind domain.Kind // "" means no error
		wantMsg  []string
	}{
		{"success", runner.Result{}, "", nil},
		{"exit code", runner.Result{ExitCode: 2, Command: "make", Tail: "boom\n"}, domain.BuildFailed, []string{`command "make" exited with code 2`, "--- log tail ---\nboom"}},
		{"timeout wins over exit code", runner.Result{ExitCode: 137, TimedOut: true, Command: "sleep 9", Duration: 1500 * time.Millisecond}, domain.StageTimedOut, []string{"timed out after 1.5s", "sleep 9", "(no output)"}},
		{"long command clipped", runner.Result{ExitCode: 1, Command: long}, domain.BuildFailed, []string{strings.Repeat("x", 200) + "…"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := stagekit.Failure("build", tc.res, domain.BuildFailed)
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("Failure = %v, want nil", err)
				}
				return
			}
			if domain.KindOf(err) != tc.wantKind {
				t.Fatalf("kind = %s, want %s (%v)", domain.KindOf(err), tc.wantKind, err)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message lacks %q: %s", m, err)
				}
			}
		})
	}
}

func TestBudget(t *testing.T) {
	cases := []struct {
		name     string
		deadline time.Duration // 0: none
		want     time.Duration
		lo, hi   time.Duration
	}{
		{name: "no deadline keeps the spec's", want: 10 * time.Minute, lo: 10 * time.Minute, hi: 10 * time.Minute},
		{name: "leaves a minute before the Lambda deadline", deadline: 15 * time.Minute, want: 20 * time.Minute, lo: 13*time.Minute + 50*time.Second, hi: 14 * time.Minute},
		{name: "spec shorter than the deadline", deadline: 15 * time.Minute, want: time.Minute, lo: time.Minute, hi: time.Minute},
		{name: "nearly out of time takes half", deadline: 30 * time.Second, want: time.Hour, lo: 14 * time.Second, hi: 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			if got := stagekit.Budget(ctx, tc.want); got < tc.lo || got > tc.hi {
				t.Errorf("Budget = %s, want between %s and %s", got, tc.lo, tc.hi)
			}
		})
	}
}

func TestCheckRun(t *testing.T) {
	ok := domain.Run{ID: "main-1", Pipeline: "p", Push: domain.Push{Commit: strings.Repeat("a", 40)}}
	if err := stagekit.CheckRun(ok); err != nil {
		t.Errorf("CheckRun(valid) = %v", err)
	}
	bad := ok
	bad.ID = "../x"
	if err := stagekit.CheckRun(bad); err == nil || !strings.Contains(err.Error(), "run id") {
		t.Errorf("CheckRun(../x) = %v, want an error naming the run id", err)
	}
}

func TestClipKeepsRunesWhole(t *testing.T) {
	if got := stagekit.Clip("ééé", 3); got != "é…" {
		t.Errorf("Clip = %q, want %q", got, "é…")
	}
}

func TestPending(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name string
		err  error
	}{
		{"succeeds", nil},
		{"fails", boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			ran := false
			p := stagekit.Start(func() error { <-release; ran = true; return tc.err })
			close(release)
			for i := 0; i < 2; i++ { // Wait may be called again, with the same answer
				if got := p.Wait(); got != tc.err {
					t.Fatalf("Wait #%d = %v, want %v", i+1, got, tc.err)
				}
			}
			if !ran {
				t.Errorf("Wait returned before the step ran")
			}
		})
	}
}

func TestStoreNamesWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  app.Config
		deps *app.Deps
		want string
	}{
		{"no clients", app.Config{Bucket: "b"}, nil, "build: no S3 client"},
		{"no S3 client", app.Config{Bucket: "b"}, &app.Deps{}, "build: no S3 client"},
		{"no bucket", app.Config{}, &app.Deps{S3: s3.New(s3.Options{})}, "build: no bucket configured (SHIPGATE_BUCKET)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stagekit.Store("build", tc.cfg, tc.deps)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	st, err := stagekit.Store("build", app.Config{Bucket: "b"}, &app.Deps{S3: s3.New(s3.Options{})})
	if err != nil || st.Bucket() != "b" {
		t.Errorf("got %v, %v; want a store on bucket b", st, err)
	}
}

func TestScratchMakesAheadAndRemovesBehind(t *testing.T) {
	// Each Dirs below hurries the removal of the set given back just before it: without
	// that, the removal would wait for the stage that Dirs marks busy, for good.
	noDeadline(t)
	parent := t.TempDir()
	s := stagekit.NewScratch(parent, "build")
	marks := background.Busies()
	// dirs takes a set; it fails, rather than hanging, if a removal is not hurried.
	dirs := func() stagekit.Dirs {
		t.Helper()
		var d stagekit.Dirs
		var err error
		within(t, "Dirs", func() { d, err = s.Dirs() })
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// given back checks that a set's Remove ended its stage's mark.
	givenBack := func(d stagekit.Dirs) {
		t.Helper()
		d.Remove()
		if n := background.Busies(); n != marks {
			t.Fatalf("%d busy marks after the set was given back, want %d", n, marks)
		}
	}
	entries := func() []string {
		es, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	var last stagekit.Dirs
	for i := range 5 {
		d := dirs()
		if i > 0 {
			// The set given back is gone before the next is handed out.
			if _, err := os.Stat(filepath.Dir(last.Workspace)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("round %d: the previous workspace is still there (%v)", i, err)
			}
		}
		for _, p := range []string{d.Workspace, d.Home} {
			st, err := os.Stat(p)
			if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
				t.Fatalf("round %d: %s: %v %v", i, p, st, err)
			}
			if es, _ := os.ReadDir(p); len(es) != 0 {
				t.Fatalf("round %d: %s is not empty", i, p)
			}
		}
		if err := os.WriteFile(filepath.Join(d.Workspace, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d.Home, ".cache", "deep"), 0o755); err != nil {
			t.Fatal(err)
		}
		givenBack(d)
		last = d
	}
	// Concurrent stages of one handler (local mode runs runs side by side).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			d, err := s.Dirs()
			if err != nil {
				t.Error(err)
				return
			}
			os.WriteFile(filepath.Join(d.Workspace, "f"), []byte("x"), 0o644)
			d.Remove()
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if names := entries(); len(names) != 0 {
		t.Fatalf("after Close the scratch directory holds %v", names)
	}
	// After Close, sets are made and removed in the foreground.
	givenBack(dirs())
	if names := entries(); len(names) != 0 {
		t.Fatalf("a set used after Close was left: %v", names)
	}
}

func TestScratchReportsAnUnusableParent(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "gone")
	s := stagekit.NewScratch(parent, "test")
	defer s.Close()
	marks := background.Busies()
	if _, err := s.Dirs(); err == nil || !strings.Contains(err.Error(), "create workspace") {
		t.Fatalf("Dirs under a missing directory: %v", err)
	}
	if n := background.Busies(); n != marks {
		t.Errorf("%d busy marks after Dirs failed, want %d: the failed stage still holds back the housekeeping", n, marks)
	}
}

// TestCloseHurriesTheSetBeingMadeAhead: a set waiting to be made until the stage in use
// gives its set back does not hold up Close.
func TestCloseHurriesTheSetBeingMadeAhead(t *testing.T) {
	noDeadline(t)
	parent := t.TempDir()
	s := stagekit.NewScratch(parent, "test")
	stagekit.WaitSpare(t, s)
	d, err := s.Dirs() // the next set now waits for d to be given back
	if err != nil {
		t.Fatal(err)
	}
	within(t, "Close", func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	d.Remove()
	if es, _ := os.ReadDir(parent); len(es) != 0 {
		t.Fatalf("after Close and the last set given back, the scratch directory holds %v", es)
	}
}

// A set made ahead that was cleaned away meanwhile (or left with something in it) is
// not handed out: a fresh one is.
func TestScratchReplacesASpareThatWasCleanedAway(t *testing.T) {
	for name, spoil := range map[string]func(ws, home string) error{
		"removed":       func(ws, home string) error { return os.RemoveAll(filepath.Dir(ws)) },
		"home removed":  func(ws, home string) error { return os.Remove(home) },
		"not empty now": func(ws, home string) error { return os.WriteFile(filepath.Join(ws, "x"), nil, 0o600) },
		// Removed, and made again by someone else, the workspace pointing elsewhere.
		"replaced": func(ws, home string) error {
			elsewhere := filepath.Join(filepath.Dir(filepath.Dir(ws)), "elsewhere")
			root := filepath.Dir(ws)
			return errors.Join(os.RemoveAll(root), os.Mkdir(root, 0o700), os.Mkdir(elsewhere, 0o700),
				os.Symlink(elsewhere, ws), os.Mkdir(home, 0o700))
		},
		// Removed, and made again the same by another user (as root, the test can).
		"made again by another user": func(ws, home string) error {
			if os.Getuid() != 0 {
				t.Skip("needs root to make directories as another user")
			}
			root := filepath.Dir(ws)
			err := errors.Join(os.RemoveAll(root), os.Mkdir(root, 0o700), os.Mkdir(ws, 0o700), os.Mkdir(home, 0o700))
			for _, p := range []string{root, ws, home} {
				err = errors.Join(err, os.Lchown(p, 65534, 65534))
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			s := stagekit.NewScratch(parent, "stage")
			defer s.Close()
			stagekit.WaitSpare(t, s) // made, with its directories made ahead, and handed over
			spare := waitForSpare(t, parent)
			if err := spoil(filepath.Join(spare, "ws"), filepath.Join(spare, "home")); err != nil {
				t.Fatal(err)
			}
			d, err := s.Dirs()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Remove()
			for _, p := range []string{d.Workspace, d.Home} {
				if es, err := os.ReadDir(p); err != nil || len(es) != 0 {
					t.Errorf("%s: %d entries, %v; want an empty directory", p, len(es), err)
				}
			}
			if filepath.Dir(d.Workspace) == spare {
				t.Errorf("the spoiled spare %s was handed out", spare)
			}
			if fi, err := os.Lstat(d.Workspace); err != nil || !fi.IsDir() {
				t.Errorf("the workspace handed out is not a directory of its own: %v %v", fi, err)
			}
			// A spoiled set whose root is still ours is removed; one that is not, is left.
			fi, err := os.Lstat(spare)
			if mine := err == nil && name == "not empty now"; mine {
				t.Errorf("our spoiled spare %s was left behind (%v)", spare, fi.Mode())
			}
		})
	}
}

// waitForSpare waits for the set a Scratch makes ahead under parent, and returns its
// root.
func waitForSpare(t *testing.T, parent string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		es, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 {
			root := filepath.Join(parent, es[0].Name())
			if _, err := os.Stat(filepath.Join(root, "home")); err == nil {
				return root
			}
		}
	}
	t.Fatal("no set was made ahead")
	return ""
}

// TestScratchSetsComeWithFilesMadeAhead: where the file system makes it worthwhile, a set
// made ahead comes with directories made ahead and a stock of unnamed files that the
// sets share, sized by what the last set given back was asked for; files a set did not
// use stay for the next; closing leaves nothing behind.
func TestScratchSetsComeWithFilesMadeAhead(t *testing.T) {
	parent := t.TempDir()
	if !inodes.Worthwhile(parent) {
		t.Skip("the temporary directory is a tmpfs: sets get no pool there")
	}
	// The sets below are made ahead only once the one in use is given back.
	noDeadline(t)
	s := stagekit.NewScratch(parent, "test")
	held := func(d stagekit.Dirs) [2]int { f, n := d.Inodes.Held(); return [2]int{f, n} }
	stagekit.WaitSpare(t, s)
	stagekit.WaitStock(t, s, 16)
	d1, err := s.Dirs()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			d1.Remove()
		}
	})
	if got := held(d1); got != [2]int{16, 8} {
		t.Fatalf("the first set holds %v files and directories, want [16 8]", got)
	}
	// The stage writes three files and two directories; a restore would do the same.
	for i := range 3 {
		if err := d1.Inodes.WriteFile(filepath.Join(d1.Workspace, fmt.Sprint("f", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := d1.Inodes.MkdirAll(filepath.Join(d1.Workspace, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := held(d1); got != [2]int{13, 6} {
		t.Fatalf("after the stage the set holds %v, want [13 6]", got)
	}
	// next gives prev back, waits for the set made after it, and takes that one.
	next := func(prev stagekit.Dirs, want [2]int, which string) stagekit.Dirs {
		t.Helper()
		prev.Remove()
		stagekit.WaitSpare(t, s)
		d, err := s.Dirs()
		if err != nil {
			t.Fatal(err)
		}
		// A failure below must not leave the stage's mark on the housekeeping of the
		// tests after this one.
		t.Cleanup(func() {
			if t.Failed() {
				d.Remove()
			}
		})
		if got := held(d); got != want {
			t.Fatalf("the %s set holds %v, want %v", which, got, want)
		}
		return d
	}
	// The next set is made once d1 is given back (nothing is made while a stage runs),
	// so it knows d1's needs: the two directories asked of d1's pool, and one more. The
	// files d1 left are still in stock, more than the four the next stage wants.
	d2 := next(d1, [2]int{13, 3}, "second")
	// d2 used nothing: the set after it holds one directory.
	d3 := next(d2, [2]int{13, 1}, "third")
	d3.Remove()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(parent); len(es) != 0 {
		t.Fatalf("after Close the scratch directory holds %v", es)
	}
	if got := held(d3); got != [2]int{0, 0} {
		t.Errorf("after Close the stock holds %v", got)
	}
}

// noDeadline has background work wait for the stages in use for as long as they are, for
// one test, so that what it made ahead is known to have been made after them.
func noDeadline(t *testing.T) {
	was := background.SetMaxDefer(time.Hour)
	t.Cleanup(func() { background.SetMaxDefer(was) })
}

// within runs f and fails the test if it has not returned within ten seconds (what
// it waits for should come at once).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return within 10 s", what)
	}
}
