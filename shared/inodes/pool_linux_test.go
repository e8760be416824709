//go:build linux && !lambda.norpc

package inodes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ahead makes a pool in a directory of its own beside the targets, as Scratch does.
func ahead(t *testing.T, files, dirs int) (*Pool, string) {
	t.Helper()
	root := t.TempDir()
	pd := filepath.Join(root, "pool")
	if err := os.Mkdir(pd, 0o700); err != nil {
		t.Fatal(err)
	}
	p := Make(pd, files, dirs)
	t.Cleanup(func() { p.Close() })
	if f, d := p.Held(); f != files || d != dirs {
		t.Fatalf("Make(%d, %d) holds %d files and %d directories", files, dirs, f, d)
	}
	ws := filepath.Join(root, "ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	return p, ws
}

// TestHandedOutAsTheOSMakesThem: a file and a directory from the pool have what
// os.OpenFile and os.Mkdir give one made on the spot beside them: type, mode through
// the umask, owner, size, and times of when they were handed out, not made.
func TestHandedOutAsTheOSMakesThem(t *testing.T) {
	for _, mask := range []int{0o022, 0o077, 0o002} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			old := syscall.Umask(mask)
			defer syscall.Umask(old)
			p, ws := ahead(t, 4, 4)
			time.Sleep(30 * time.Millisecond) // made well before they are handed out
			for _, perm := range []fs.FileMode{0o666, 0o777, 0o644, 0o600, 0o755} {
				before := time.Now().Add(-15 * time.Millisecond) // the kernel's clock for file times is coarse
				got := filepath.Join(ws, fmt.Sprintf("pool-%o", perm))
				f, err := p.Create(got, perm)
				if err != nil {
					t.Fatalf("Create %o: %v", perm, err)
				}
				if _, err := f.Write([]byte("body")); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				want := filepath.Join(ws, fmt.Sprintf("os-%o", perm))
				if err := os.WriteFile(want, []byte("body"), perm); err != nil {
					t.Fatal(err)
				}
				sameAsMadeOnTheSpot(t, got, want, before)

				gotD, wantD := filepath.Join(ws, fmt.Sprintf("pooldir-%o", perm)), filepath.Join(ws, fmt.Sprintf("osdir-%o", perm))
				if err := p.Mkdir(gotD, perm); err != nil {
					t.Fatalf("Mkdir %o: %v", perm, err)
				}
				if err := os.Mkdir(wantD, perm); err != nil {
					t.Fatal(err)
				}
				sameAsMadeOnTheSpot(t, gotD, wantD, before)
			}
			// Four of each came from the pool, the fifth was made on the spot.
			if f, d := p.Wanted(); f != 5 || d != 5 {
				t.Errorf("Wanted = %d files, %d directories; want 5, 5", f, d)
			}
			if f, d := p.FromPool(); f != 4 || d != 4 {
				t.Errorf("FromPool = %d files, %d directories; want 4, 4", f, d)
			}
			if f, d := p.Held(); f != 0 || d != 0 {
				t.Errorf("Held = %d, %d after handing out everything", f, d)
			}
		})
	}
}

func sameAsMadeOnTheSpot(t *testing.T, got, want string, before time.Time) {
	t.Helper()
	g, err := os.Lstat(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.Lstat(want)
	if err != nil {
		t.Fatal(err)
	}
	if g.Mode() != w.Mode() {
		t.Errorf("%s: mode %v, made on the spot %v", filepath.Base(got), g.Mode(), w.Mode())
	}
	if !g.IsDir() && g.Size() != w.Size() {
		t.Errorf("%s: size %d, want %d", filepath.Base(got), g.Size(), w.Size())
	}
	gs, ws := g.Sys().(*syscall.Stat_t), w.Sys().(*syscall.Stat_t)
	if gs.Uid != ws.Uid || gs.Gid != ws.Gid || gs.Nlink != ws.Nlink {
		t.Errorf("%s: uid/gid/links %d/%d/%d, made on the spot %d/%d/%d", filepath.Base(got), gs.Uid, gs.Gid, gs.Nlink, ws.Uid, ws.Gid, ws.Nlink)
	}
	ctime := time.Unix(gs.Ctim.Sec, gs.Ctim.Nsec)
	if g.ModTime().Before(before) || ctime.Before(before) {
		t.Errorf("%s: mtime %v ctime %v, before it was handed out (%v)", filepath.Base(got), g.ModTime(), ctime, before)
	}
}

// TestRefusesWhatTheOSRefuses: where os.OpenFile with O_EXCL or os.Mkdir fails (the
// name is taken, by a file, a directory, an empty directory or a dangling symlink; the
// parent is missing), the pool's calls fail with the same error, write nothing through
// a symlink, and keep what they hold for the next call.
func TestRefusesWhatTheOSRefuses(t *testing.T) {
	p, ws := ahead(t, 2, 2)
	outside := filepath.Join(t.TempDir(), "outside")
	for name, setup := range map[string]func(string) error{
		"a file":            func(p string) error { return os.WriteFile(p, []byte("old"), 0o644) },
		"an empty dir":      func(p string) error { return os.Mkdir(p, 0o755) },
		"a dangling link":   func(p string) error { return os.Symlink(outside, p) },
		"no parent":         func(string) error { return nil },
		"a file as parent":  func(p string) error { return os.WriteFile(filepath.Dir(p), nil, 0o644) },
		"a dir with things": func(p string) error { return os.MkdirAll(filepath.Join(p, "x"), 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(ws, name)
			if name != "no parent" && name != "a file as parent" {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			target := filepath.Join(dir, "t")
			if err := setup(target); err != nil {
				t.Fatal(err)
			}
			_, wantErr := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			_, gotErr := p.Create(target, 0o644)
			if wantErr == nil || !errors.Is(gotErr, errno(wantErr)) {
				t.Errorf("Create: %v; the os call: %v", gotErr, wantErr)
			}
			wantErr = os.Mkdir(target, 0o755)
			gotErr = p.Mkdir(target, 0o755)
			if wantErr == nil || !errors.Is(gotErr, errno(wantErr)) {
				t.Errorf("Mkdir: %v; the os call: %v", gotErr, wantErr)
			}
			if _, err := os.Lstat(outside); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("something was made through the symlink: %v", err)
			}
			if f, d := p.Held(); f != 2 || d != 2 {
				t.Errorf("Held = %d, %d after refusals; want 2, 2", f, d)
			}
		})
	}
	if old, err := os.ReadFile(filepath.Join(ws, "a file", "t")); err != nil || string(old) != "old" {
		t.Errorf("the existing file is %q, %v", old, err)
	}
}

func errno(err error) error {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// TestAnotherFileSystemFallsBack: a pool cannot link or rename onto another file system
// (a mount below the targets' directory); every such call still succeeds, made on the
// spot, and the pool keeps what it held for the targets it can serve.
func TestAnotherFileSystemFallsBack(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "inodes-")
	if err != nil || Worthwhile("/dev/shm") {
		t.Skip("no tmpfs at /dev/shm to be the other file system")
	}
	defer os.RemoveAll(shm)
	p, ws := ahead(t, 2, 2)
	if !Worthwhile(ws) {
		t.Skip("the temporary directory is a tmpfs too")
	}
	for i := range giveUpAfter + 1 {
		if err := p.WriteFile(filepath.Join(shm, fmt.Sprint("f", i)), []byte("x"), 0o644); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
		if err := p.Mkdir(filepath.Join(shm, fmt.Sprint("d", i)), 0o755); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(shm, fmt.Sprint("f", i))); err != nil || string(b) != "x" {
			t.Errorf("f%d = %q, %v", i, b, err)
		}
	}
	if f, d := p.FromPool(); f != 0 || d != 0 {
		t.Errorf("FromPool = %d, %d; nothing could come from it", f, d)
	}
	if err := p.WriteFile(filepath.Join(ws, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Mkdir(filepath.Join(ws, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f, d := p.FromPool(); f != 1 || d != 1 {
		t.Errorf("FromPool = %d, %d after targets on its own file system; want 1, 1", f, d)
	}
}

// TestAPoolThatCannotLinkGivesUp: links and renames that fail for the pool's own reason
// (here EPERM, as protected hard links give) are made on the spot; after giveUpAfter in
// a row the pool lets go of what it held, and files and directories count apart.
func TestAPoolThatCannotLinkGivesUp(t *testing.T) {
	p, ws := ahead(t, 5, 5)
	p.link = func(int, string) error { return unix.EPERM }
	for i := range giveUpAfter {
		if err := p.WriteFile(filepath.Join(ws, fmt.Sprint("f", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Renames work: they must not wipe the files' strikes out.
		if err := p.Mkdir(filepath.Join(ws, fmt.Sprint("d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if f, d := p.Held(); f != 0 || d != 5-giveUpAfter {
		t.Errorf("Held = %d, %d; want no files (given up) and the directories left", f, d)
	}
	if f, d := p.FromPool(); f != 0 || d != giveUpAfter {
		t.Errorf("FromPool = %d, %d; want 0, %d", f, d, giveUpAfter)
	}
	p.rename = func(string, string) error { return unix.EINVAL }
	for i := range giveUpAfter {
		if err := p.Mkdir(filepath.Join(ws, fmt.Sprint("e", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, d := p.Held(); d != 0 {
		t.Errorf("Held = %d directories after renames kept failing; want 0", d)
	}
	if es, _ := os.ReadDir(p.dir); len(es) != 0 {
		t.Errorf("left in the pool's directory: %v", es)
	}
	p.Refill(2, 2)
	if f, d := p.Held(); f != 0 || d != 0 {
		t.Errorf("a pool that gave up refilled: %d, %d", f, d)
	}
}

// TestAbandonLeavesTheNamesAlone: Abandon lets the files go and leaves the directories
// where they are, for their parent may not be the pool's any more.
func TestAbandonLeavesTheNamesAlone(t *testing.T) {
	p, _ := ahead(t, 2, 2)
	p.Abandon()
	if es, _ := os.ReadDir(p.dir); len(es) != 2 {
		t.Errorf("after Abandon the pool's directory holds %v, want its two directories", es)
	}
	if f, d := p.Held(); f != 0 || d != 0 {
		t.Errorf("Held = %d, %d after Abandon", f, d)
	}
}

// TestAFileNoLongerUnnamedAndEmptyIsNotHandedOut: a file of the pool that was written to
// (only this user could, through /proc) is dropped, and the next one handed out.
func TestAFileNoLongerUnnamedAndEmptyIsNotHandedOut(t *testing.T) {
	p, ws := ahead(t, 2, 0)
	p.mu.Lock()
	spoiled := p.files[len(p.files)-1]
	p.mu.Unlock()
	if _, err := unix.Write(spoiled, []byte("planted")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ws, "f")
	if err := p.WriteFile(path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Errorf("the file handed out holds %q", b)
	}
	if f, _ := p.FromPool(); f != 1 {
		t.Errorf("FromPool = %d, want 1 (the unspoiled file)", f)
	}
	if f, _ := p.Held(); f != 0 {
		t.Errorf("Held = %d; the spoiled file should be gone", f)
	}
}

// TestADirectoryItsOwnerCannotWriteIsMadeOnTheSpot: rename cannot move such a directory
// to another parent, so it is not taken from the pool.
func TestADirectoryItsOwnerCannotWriteIsMadeOnTheSpot(t *testing.T) {
	p, ws := ahead(t, 0, 1)
	if err := p.Mkdir(filepath.Join(ws, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(ws, "ro")); err != nil || fi.Mode().Perm() != 0o555&^currentUmask() {
		t.Errorf("ro: %v, %v", fi, err)
	}
	if _, d := p.FromPool(); d != 0 {
		t.Errorf("FromPool = %d directories, want 0", d)
	}
	if _, d := p.Held(); d != 1 {
		t.Errorf("Held = %d directories, want the one made ahead kept", d)
	}
}

// TestAnOddTargetDoesNotTurnThePoolOff: a target the os call refuses too (a dangling
// symlink on its way) fails that call with the os call's error; the pool keeps its
// files and directories and hands them out for the next targets.
func TestAnOddTargetDoesNotTurnThePoolOff(t *testing.T) {
	p, ws := ahead(t, 1, 1)
	if err := os.Symlink(filepath.Join(t.TempDir(), "gone"), filepath.Join(ws, "dangling")); err != nil {
		t.Fatal(err)
	}
	for range giveUpAfter + 1 {
		if _, err := p.Create(filepath.Join(ws, "dangling", "f"), 0o644); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Create under a dangling symlink: %v, want the os call's ENOENT", err)
		}
		if err := p.Mkdir(filepath.Join(ws, "dangling", "d"), 0o755); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Mkdir under a dangling symlink: %v, want the os call's ENOENT", err)
		}
	}
	if err := p.WriteFile(filepath.Join(ws, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Mkdir(filepath.Join(ws, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f, d := p.FromPool(); f != 1 || d != 1 {
		t.Errorf("FromPool = %d, %d; the pool should still have handed out its file and directory", f, d)
	}
}

// TestCloseLeavesNothing: Close removes the directories made ahead, and calls after it
// make on the spot.
func TestCloseLeavesNothing(t *testing.T) {
	p, ws := ahead(t, 3, 3)
	pd := p.dir
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(pd); len(entries) != 0 {
		t.Errorf("left after Close: %v", entries)
	}
	if err := p.WriteFile(filepath.Join(ws, "late"), nil, 0o644); err != nil {
		t.Errorf("Create after Close: %v", err)
	}
	p.Refill(2, 2)
	if f, d := p.Held(); f != 0 || d != 0 {
		t.Errorf("a closed pool refilled: %d, %d", f, d)
	}
}

// TestNilPoolAndContext: a nil Pool makes everything on the spot, and a context carries
// a pool to code that makes files deeper down.
func TestNilPoolAndContext(t *testing.T) {
	var p *Pool
	ws := t.TempDir()
	if err := p.WriteFile(filepath.Join(ws, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Mkdir(filepath.Join(ws, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if FromContext(context.Background()) != nil || FromContext(NewContext(context.Background(), nil)) != nil {
		t.Error("a pool from a context that has none")
	}
	q, _ := ahead(t, 1, 0)
	if FromContext(NewContext(context.Background(), q)) != q {
		t.Error("the context lost its pool")
	}
}

// TestConcurrentUse: goroutines taking from and refilling one pool each get a file of
// their own (run with -race).
func TestConcurrentUse(t *testing.T) {
	p, ws := ahead(t, 8, 8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				name := filepath.Join(ws, fmt.Sprintf("%d-%d", g, i))
				if err := p.WriteFile(name, []byte(name), 0o644); err != nil {
					t.Error(err)
				}
				if err := p.Mkdir(name+".d", 0o755); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.Refill(8, 8) }()
	wg.Wait()
	for g := range 4 {
		for i := range 6 {
			name := filepath.Join(ws, fmt.Sprintf("%d-%d", g, i))
			if b, err := os.ReadFile(name); err != nil || string(b) != name {
				t.Errorf("%s = %q, %v", name, b, err)
			}
		}
	}
	if f, d := p.Wanted(); f != 24 || d != 24 {
		t.Errorf("Wanted = %d, %d; want 24, 24", f, d)
	}
}

// BenchmarkCreate compares making a small file and a directory on the spot with
// taking them from a pool made beforehand (the pool's making is not timed: it is
// what is moved off the critical path), in the temporary directory and on /dev/shm.
func BenchmarkCreate(b *testing.B) {
	dirs := []string{os.TempDir()}
	if !Worthwhile("/dev/shm") {
		dirs = append(dirs, "/dev/shm")
	}
	for _, base := range dirs {
		for _, pooled := range []bool{false, true} {
			b.Run(fmt.Sprintf("dir=%s/pool=%v", base, pooled), func(b *testing.B) {
				root, err := os.MkdirTemp(base, "inodes-bench-")
				if err != nil {
					b.Fatal(err)
				}
				defer os.RemoveAll(root)
				var p *Pool
				if pooled {
					p = Make(root, b.N, b.N)
					defer p.Close()
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					d := filepath.Join(root, fmt.Sprint("d", i))
					if err := p.Mkdir(d, 0o755); err != nil {
						b.Fatal(err)
					}
					if err := p.WriteFile(filepath.Join(d, "f"), []byte("hello"), 0o644); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
			})
		}
	}
}

// TestPublish: a published file appears with its whole content and the mode asked for,
// from the pool or made on the spot under a temporary name, and nothing else is left.
func TestPublish(t *testing.T) {
	for _, size := range []int{0, 1} {
		t.Run(fmt.Sprintf("pool of %d", size), func(t *testing.T) {
			p, ws := ahead(t, size, 0)
			for i, body := range []string{"message one", ""} {
				path := filepath.Join(ws, fmt.Sprintf("m%d.eml", i))
				if err := p.Publish(path, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(path)
				if b, _ := os.ReadFile(path); err != nil || string(b) != body || fi.Mode() != 0o600 {
					t.Errorf("%s: %q, %v, %v; want %q, -rw-------", path, b, fi, err, body)
				}
			}
			if f, _ := p.Wanted(); f != 2 {
				t.Errorf("Wanted = %d files, want 2", f)
			}
			if f, _ := p.FromPool(); f != size {
				t.Errorf("FromPool = %d files, want %d", f, size)
			}
			if es, _ := os.ReadDir(ws); len(es) != 2 {
				t.Errorf("the directory holds %v, want the two messages only", es)
			}
		})
	}
}

// TestFilesFromAStock: a pool given a stock hands out the stock's files and its own
// directories, counts what it was asked for, and closing it leaves the stock's files.
func TestFilesFromAStock(t *testing.T) {
	stock, ws := ahead(t, 3, 0)
	pd := filepath.Join(filepath.Dir(ws), "set")
	if err := os.Mkdir(pd, 0o700); err != nil {
		t.Fatal(err)
	}
	p := Make(pd, 0, 2)
	p.FilesFrom(stock)
	if f, d := p.Held(); f != 3 || d != 2 {
		t.Fatalf("Held = %d, %d; want the stock's 3 files and 2 directories", f, d)
	}
	if err := p.WriteFile(filepath.Join(ws, "f"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(ws, "f")); err != nil || fi.Mode().Perm() != 0o755&^currentUmask() {
		t.Errorf("f: %v, %v", fi, err)
	}
	if err := p.Mkdir(filepath.Join(ws, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f, d := p.Wanted(); f != 1 || d != 1 {
		t.Errorf("Wanted = %d, %d; want 1, 1", f, d)
	}
	if f, _ := stock.Wanted(); f != 0 {
		t.Errorf("the stock counted %d files asked of the pool", f)
	}
	p.Refill(5, 2) // its files are the stock's to make
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if f, _ := stock.Held(); f != 2 {
		t.Errorf("the stock holds %d files after the pool closed, want 2", f)
	}
}

func currentUmask() fs.FileMode {
	m, _ := umask()
	return m
}

// TestKeepFilled: a pool told to keep n files makes them in the background, and again
// after it hands one out.
func TestKeepFilled(t *testing.T) {
	p, ws := ahead(t, 0, 0)
	p.KeepFilled(2)
	waitHeld := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if f, _ := p.Held(); f == n {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("the pool holds %d files after 5 s, want %d", f, n)
			}
		}
	}
	waitHeld(2)
	for i := range 3 {
		if err := p.Publish(filepath.Join(ws, fmt.Sprint(i)), []byte("m"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitHeld(2)
	if f, _ := p.FromPool(); f < 2 {
		t.Errorf("FromPool = %d: the messages did not take the files kept ahead", f)
	}
}

// TestReplace: Replace swaps a file's content whole, from the pool or made on the spot,
// and leaves no temporary file.
func TestReplace(t *testing.T) {
	for _, size := range []int{0, 2} {
		t.Run(fmt.Sprintf("pool of %d", size), func(t *testing.T) {
			p, ws := ahead(t, size, 0)
			path := filepath.Join(ws, "state.json")
			for _, body := range []string{"first", "second, longer", ""} {
				if err := p.Replace(path, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(path)
				if b, _ := os.ReadFile(path); err != nil || string(b) != body || fi.Mode() != 0o600 {
					t.Errorf("%q, %v, %v; want %q, -rw-------", b, fi, err, body)
				}
			}
			if es, _ := os.ReadDir(ws); len(es) != 1 {
				t.Errorf("the directory holds %v, want the state file only", es)
			}
			if f, _ := p.Wanted(); f != 3 {
				t.Errorf("Wanted = %d, want 3", f)
			}
			if f, _ := p.FromPool(); f != size {
				t.Errorf("FromPool = %d, want %d", f, size)
			}
		})
	}
}
