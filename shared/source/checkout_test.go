//go:build linux && !lambda.norpc

package source

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/source/gitserver"
)

// treeRepo is a repository whose commits exercise what a checkout writes: nested
// directories, names that sort differently as paths and as tree entries, an empty
// file, an executable, a symlink, a non-ASCII name, dot files git treats as ordinary,
// and a file large enough to be stored as a delta once packed.
func treeRepo(t *testing.T) (r *gitserver.Repo, commits []string) {
	t.Helper()
	r, err := gitserver.InitRepo(filepath.Join(t.TempDir(), "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	for i := range 3000 {
		big.WriteString("line " + strings.Repeat("x", i%40) + "\n")
	}
	files := map[string]string{
		"shipgate.yml": "build: {commands: [true]}\n", "src/main.go": "package main\n", "a.b": "dot", "a/b": "slash",
		"a-b": "dash", "a0": "zero", "empty.txt": "", "ünï.txt": "unicode\n", ".gitignore": "*.o\n",
		".github/workflows/ci.yml": "on: push\n", "bin/run.sh": "#!/bin/sh\necho run\n", "x/y/z/w.txt": "deep\n",
		"big.txt": big.String(),
	}
	c1, err := r.Commit("first", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(r.Dir, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/main.go", filepath.Join(r.Dir, "link")); err != nil {
		t.Fatal(err)
	}
	c2, err := r.Commit("second", map[string]string{"big.txt": strings.Replace(big.String(), "line xxx\n", "line changed\n", 1)})
	if err != nil {
		t.Fatal(err)
	}
	c3, err := r.Commit("third", map[string]string{"big.txt": big.String() + "one more\n", "a/c": "new\n"})
	if err != nil {
		t.Fatal(err)
	}
	return r, []string{c1, c2, c3}
}

// skeletonDir is a workspace as Fetch hands it to the checkout, made with pool's files
// and directories (nil: on the spot).
func skeletonDir(t *testing.T, pool *inodes.Pool, objects string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ws")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeSkeleton(pool, dir, objects, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pools are the ways a checkout gets its files: made on the spot, from a pool that runs
// out part way (the rest made on the spot), and from one that has them all.
var pools = []struct {
	name        string
	files, dirs int
}{{"on the spot", 0, 0}, {"pool runs out", 4, 2}, {"pool", 64, 16}}

// withPool is a pool of files and dirs made in a directory of the test's beside the
// workspace; nil for none.
func withPool(t *testing.T, files, dirs int) *inodes.Pool {
	t.Helper()
	if files == 0 && dirs == 0 {
		return nil
	}
	pd := filepath.Join(t.TempDir(), "pool")
	if err := os.Mkdir(pd, 0o700); err != nil {
		t.Fatal(err)
	}
	p := inodes.Make(pd, files, dirs)
	t.Cleanup(func() { p.Close() })
	return p
}

// gitCheckout checks commit out in a skeleton with git, as Fetch does when the checkout
// is left to it.
func gitCheckout(t *testing.T, objects, commit string) string {
	t.Helper()
	dir := skeletonDir(t, nil, objects)
	g := &gitRun{git: "git", dir: dir, env: New(Options{}).env(filepath.Join(dir, ".git", "no-home"), remote{protocol: "file"}), maxBytes: 1 << 30}
	if _, err := g.run(context.Background(), "checkout", "-q", "--detach", commit); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sameCheckout compares checkoutTree's result with git's for commit: the same files,
// modes, contents and symlinks, the same index, HEAD at the commit, a clean status.
func sameCheckout(t *testing.T, objects, commit string, wantOK bool) {
	t.Helper()
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			pool := withPool(t, p.files, p.dirs)
			checkedOutAsGitDoes(t, inodes.NewContext(context.Background(), pool), pool, objects, commit, wantOK)
			if f, d := pool.Held(); pool != nil && wantOK && (f == p.files || d == p.dirs) {
				t.Errorf("the checkout took nothing from its pool: it still holds %d files and %d directories", f, d)
			}
		})
	}
}

func checkedOutAsGitDoes(t *testing.T, ctx context.Context, pool *inodes.Pool, objects, commit string, wantOK bool) {
	t.Helper()
	got := skeletonDir(t, pool, objects)
	ok, err := checkoutTree(ctx, objects, got, commit, 1<<30)
	if err != nil {
		t.Fatalf("checkoutTree: %v", err)
	}
	if ok != wantOK {
		t.Fatalf("checkoutTree ok = %v, want %v", ok, wantOK)
	}
	if !ok {
		untouched(t, got)
		return
	}
	want := gitCheckout(t, objects, commit)
	if a, b := tree(t, got), tree(t, want); a != b {
		t.Errorf("work tree differs from git's\n got:\n%s\nwant:\n%s", a, b)
	}
	rg, rw := &gitserver.Repo{Dir: got}, &gitserver.Repo{Dir: want}
	// diff-files trusts the index's stat data (status would refresh it): every file must
	// match what was recorded for it.
	if d, err := rg.Git("diff-files", "--name-only"); err != nil || d != "" {
		t.Errorf("files whose stat data differs from the index: %q (%v)", d, err)
	}
	if st, err := rg.Git("status", "--porcelain", "--untracked-files=all"); err != nil || st != "" {
		t.Errorf("git status in the checkout: %q (%v), want clean", st, err)
	}
	if head, err := rg.Git("rev-parse", "HEAD"); err != nil || head != commit {
		t.Errorf("HEAD = %q (%v), want %s", head, err, commit)
	}
	if sym, _ := rg.Git("symbolic-ref", "-q", "HEAD"); sym != "" {
		t.Errorf("HEAD is on %s, want it detached", sym)
	}
	a, err1 := rg.Git("ls-files", "-s")
	b, err2 := rw.Git("ls-files", "-s")
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("index differs from git's (%v %v)\n got:\n%s\nwant:\n%s", err1, err2, a, b)
	}
	// A change the build makes must show, as it would in git's checkout.
	if err := os.WriteFile(filepath.Join(got, "shipgate.yml"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _ := rg.Git("status", "--porcelain"); st != "M shipgate.yml" {
		t.Errorf("git status after a change: %q, want %q", st, "M shipgate.yml")
	}
}

// untouched checks that a declined checkout left the skeleton as it was, for git.
func untouched(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != ".git" {
		t.Errorf("a declined checkout left %v in the workspace", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "index")); err == nil {
		t.Error("a declined checkout left .git/index")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".git", "HEAD")); string(b) != "ref: refs/heads/main\n" {
		t.Errorf("a declined checkout changed HEAD to %q", b)
	}
}

// tree lists a work tree (without .git): each path with its type, permission bits and
// content or symlink target.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(rel + " " + info.Mode().String())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			b.WriteString(" -> " + l)
		case info.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			b.WriteString(" " + strings.ReplaceAll(clip(string(c)), "\n", `\n`))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestCheckoutTreeMatchesGit(t *testing.T) {
	r, commits := treeRepo(t)
	objects := filepath.Join(r.Dir, ".git", "objects")
	t.Run("loose", func(t *testing.T) {
		for _, c := range commits {
			sameCheckout(t, objects, c, true)
		}
	})
	// Packed, with the big file's versions stored as deltas: offset deltas (git's
	// default) and, repacked without them, deltas that name their base.
	for _, pack := range []struct{ name, config string }{{"packed", "repack.useDeltaBaseOffset=true"}, {"packed with ref deltas", "repack.useDeltaBaseOffset=false"}} {
		t.Run(pack.name, func(t *testing.T) {
			if _, err := r.Git("-c", pack.config, "repack", "-adfq", "--depth=5", "--window=10"); err != nil {
				t.Fatal(err)
			}
			loose, _ := filepath.Glob(filepath.Join(objects, "??", "*"))
			if len(loose) != 0 {
				t.Fatalf("%d objects still loose after repack", len(loose))
			}
			idx, _ := filepath.Glob(filepath.Join(objects, "pack", "*.idx"))
			if len(idx) != 1 {
				t.Fatalf("want one pack, found %v", idx)
			}
			out, err := exec.Command("git", "verify-pack", "-v", idx[0]).Output()
			if err != nil || !strings.Contains(string(out), "chain length = 1") {
				t.Fatalf("the pack has no deltas to resolve (%v):\n%s", err, out)
			}
			for _, c := range commits {
				sameCheckout(t, objects, c, true)
			}
		})
	}
}

func TestCheckoutTreeLeavesToGit(t *testing.T) {
	r, commits := treeRepo(t)
	objects := filepath.Join(r.Dir, ".git", "objects")
	attrs, err := r.Commit("attributes", map[string]string{".gitattributes": "*.txt text eol=crlf\n"})
	if err != nil {
		t.Fatal(err)
	}
	nested, err := r.Commit("nested attributes", map[string]string{".gitattributes": "", "x/.gitattributes": "*.txt ident\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Git("rm", "-q", "x/.gitattributes", ".gitattributes"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Git("update-index", "--add", "--cacheinfo", "160000,"+commits[0]+",vendor/sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Git("commit", "-q", "-m", "submodule"); err != nil {
		t.Fatal(err)
	}
	sub, err := r.Git("rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{".gitattributes": attrs, "x/.gitattributes": nested, "a submodule": sub} {
		t.Run(name, func(t *testing.T) { sameCheckout(t, objects, c, false) })
	}
	// Through Fetch, git then makes the checkout the attributes ask for.
	dir := filepath.Join(t.TempDir(), "ws")
	if _, err := New(Options{}).Fetch(context.Background(), push(domain.ProviderLocal, r.Dir, attrs, ""), dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "empty.txt")); len(b) != 0 {
		t.Errorf("empty.txt = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ünï.txt")); string(b) != "unicode\r\n" {
		t.Errorf("ünï.txt = %q, want git's CRLF conversion", b)
	}

	t.Run("a missing object", func(t *testing.T) {
		objects := copyObjects(t, objects)
		blob, err := r.Git("rev-parse", commits[0]+":x/y/z/w.txt")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(objects, blob[:2], blob[2:])); err != nil {
			t.Fatal(err)
		}
		sameCheckout(t, objects, commits[0], false)
	})
	t.Run("an object that does not match its name", func(t *testing.T) {
		objects := copyObjects(t, objects)
		blob, _ := r.Git("rev-parse", commits[0]+":src/main.go")
		other, _ := r.Git("rev-parse", commits[0]+":a.b")
		p := filepath.Join(objects, blob[:2], blob[2:])
		b, err := os.ReadFile(filepath.Join(objects, other[:2], other[2:]))
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sameCheckout(t, objects, commits[0], false)
	})
	t.Run("borrowed objects", func(t *testing.T) {
		objects := copyObjects(t, objects)
		if err := os.WriteFile(filepath.Join(objects, "info", "alternates"), []byte("/elsewhere\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sameCheckout(t, objects, commits[0], false)
	})
}

func copyObjects(t *testing.T, objects string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "objects")
	if out, err := exec.Command("cp", "-a", objects, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func TestOrdinaryName(t *testing.T) {
	for name, want := range map[string]bool{
		"main.go": true, ".gitignore": true, ".github": true, ".gitkeep": true, "ünï.txt": true, "a b": true,
		"": false, ".": false, "..": false, ".git": false, ".GIT": false, ".Git.": false, ".git ": false,
		".gitattributes": false, ".GitAttributes": false, ".gitmodules": false, ".gitmodules.": false,
		"git~1": false, "GIT~2": false, ".g~it": false, "gitmod~1": false, "GI7EBA~1": false, "a~b": false, "a/b": false, `a\b`: false, "a:b": false, "a\x00b": false,
		".gi\u200ct": false, ".\x01": false,
	} {
		if got := ordinaryName(name); got != want {
			t.Errorf("ordinaryName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A local push is checked out without git: with a git that refuses to check out, Fetch
// still succeeds, and the checkout is git's.
func TestFetchLocalChecksOutWithoutGit(t *testing.T) {
	f := sharedFixture(t)
	fake := fakeGit(t, `if [ "$1" = checkout ]; then echo 'fatal: checkout was asked of git' >&2; exit 1; fi`)
	dir := filepath.Join(t.TempDir(), "ws")
	res, err := New(Options{Git: fake}).Fetch(context.Background(), push(domain.ProviderLocal, f.bare, f.c2, f.c1), dir)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if res.Commit != f.c2 || !bytes.Equal([]byte(strings.Join(res.ChangedFiles, ",")), []byte("docs/a.md,src/main.go")) {
		t.Errorf("Fetch = %+v", res)
	}
	checkout(t, dir, f.c2, map[string]string{"src/main.go": "package main\n\nfunc main() {}\n", "docs/a.md": "a\n", "README.md": "hi\n"})
}

// gitIn runs git in dir with stdin, returning its trimmed output.
func gitIn(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitserver.Env(dir)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// craftedCommit stores a commit of tree (made with git mktree from entries) in repo.
func craftedCommit(t *testing.T, repo, entries string) string {
	t.Helper()
	tree := gitIn(t, repo, entries, "mktree", "--missing")
	return gitIn(t, repo, "", "commit-tree", tree, "-m", "crafted")
}

// Hostile or unusual trees are declined, quickly, with the skeleton left for git.
func TestCheckoutTreeDeclinesCraftedTrees(t *testing.T) {
	r, err := gitserver.InitRepo(filepath.Join(t.TempDir(), "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(r.Dir, ".git", "objects")
	empty := gitIn(t, r.Dir, "", "hash-object", "-w", "--stdin")
	// A tree naming the level below twice, 24 levels deep: 16 million files from 25
	// objects.
	tree := gitIn(t, r.Dir, "100644 blob "+empty+"\te\n", "mktree")
	for range 24 {
		tree = gitIn(t, r.Dir, "040000 tree "+tree+"\ta\n040000 tree "+tree+"\tb\n", "mktree")
	}
	bomb := gitIn(t, r.Dir, "", "commit-tree", tree, "-m", "bomb")
	longTarget := gitIn(t, r.Dir, strings.Repeat("x/", 2500), "hash-object", "-w", "--stdin")
	file := gitIn(t, r.Dir, "content\n", "hash-object", "-w", "--stdin")
	cases := map[string]string{
		"a tree of millions of files":               bomb,
		"a symlink target longer than the system's": craftedCommit(t, r.Dir, "120000 blob "+longTarget+"\tl\n"),
		"a short name of .gitmodules as a symlink":  craftedCommit(t, r.Dir, "120000 blob "+file+"\tgitmod~1\n"),
		"a name longer than a file system's":        craftedCommit(t, r.Dir, "100644 blob "+file+"\t"+strings.Repeat("n", 256)+"\n"),
	}
	// A commit git refuses to read: a parent line that names no object id.
	treeOK := gitIn(t, r.Dir, "100644 blob "+file+"\tf\n", "mktree")
	cases["a commit with a malformed parent"] = gitIn(t, r.Dir, "tree "+treeOK+"\nparent zzzz\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\nbad\n",
		"hash-object", "-t", "commit", "-w", "--literally", "--stdin")
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			sameCheckout(t, objects, c, false)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("declining took %v", d)
			}
		})
	}
}

func TestCheckoutTreeStops(t *testing.T) {
	r, commits := treeRepo(t)
	objects := filepath.Join(r.Dir, ".git", "objects")
	t.Run("when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ok, err := checkoutTree(ctx, objects, skeletonDir(t, nil, objects), commits[0], 1<<30)
		if ok || !errors.Is(err, context.Canceled) {
			t.Errorf("checkoutTree after cancel = %v, %v; want the context's error", ok, err)
		}
	})
	t.Run("past the size limit", func(t *testing.T) {
		ok, err := checkoutTree(context.Background(), objects, skeletonDir(t, nil, objects), commits[0], 1000)
		if ok || !errors.Is(err, errTooLarge) {
			t.Errorf("checkoutTree over the limit = %v, %v; want errTooLarge", ok, err)
		}
	})
	t.Run("on a workspace that already has an index", func(t *testing.T) {
		dir := skeletonDir(t, nil, objects)
		index := filepath.Join(dir, ".git", "index")
		if err := os.WriteFile(index, []byte("not ours"), 0o644); err != nil {
			t.Fatal(err)
		}
		ok, err := checkoutTree(context.Background(), objects, dir, commits[0], 1<<30)
		if ok || err != nil {
			t.Fatalf("checkoutTree = %v, %v; want it declined", ok, err)
		}
		entries, _ := os.ReadDir(dir)
		if b, _ := os.ReadFile(index); len(entries) != 1 || string(b) != "not ours" {
			t.Errorf("the declined checkout left %d entries and index %q", len(entries), b)
		}
	})
}

// FuzzApplyDelta holds applyDelta to its contract on any input: no panic, and either a
// result of exactly the size the delta declares, or a refusal.
func FuzzApplyDelta(f *testing.F) {
	f.Add([]byte("hello world"), []byte{11, 5, 0x90, 5, 3, 'x', 'y', 'z'})
	f.Add([]byte(""), []byte{0, 2, 2, 'h', 'i'})
	f.Add([]byte("abc"), []byte{3, 3, 0xff, 0, 0, 0, 0, 3, 0, 0})
	f.Fuzz(func(t *testing.T, base, delta []byte) {
		out, err := applyDelta(base, delta)
		if err != nil {
			return
		}
		// The declared result size is the second varint.
		i, size := 0, int64(0)
		for n := 0; n < 2; n++ {
			size = 0
			for shift := 0; ; shift += 7 {
				c := delta[i]
				i++
				size |= int64(c&0x7f) << shift
				if c&0x80 == 0 {
					break
				}
			}
		}
		if int64(len(out)) != size {
			t.Fatalf("applyDelta gave %d bytes, the delta declares %d", len(out), size)
		}
	})
}
