package local

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/source"
	"github.com/shipgate/shipgate/shared/trigger"
)

// history builds commits in a working repository with the real git.
type history struct {
	tb   testing.TB
	repo string
}

// commit writes files (a nil value removes one), commits everything with msg as it is,
// and returns the commit's id. env adds to git's environment (dates, authors).
func (h history) commit(msg string, files map[string]*string, env ...string) string {
	h.tb.Helper()
	for name, body := range files { // removals first: a name may become a directory
		if body == nil {
			if err := os.RemoveAll(filepath.Join(h.repo, filepath.FromSlash(name))); err != nil {
				h.tb.Fatal(err)
			}
		}
	}
	for name, body := range files {
		p := filepath.Join(h.repo, filepath.FromSlash(name))
		if body == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			h.tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(*body), 0o644); err != nil {
			h.tb.Fatal(err)
		}
	}
	runGit(h.tb, h.repo, nil, "add", "-A")
	runGit(h.tb, h.repo, env, "commit", "-q", "--allow-empty", "--allow-empty-message", "--cleanup=verbatim", "-m", msg)
	return runGit(h.tb, h.repo, nil, "rev-parse", "HEAD")
}

func text(s string) *string { return &s }

// isolatedGit keeps the developer's git configuration (a log.showSignature, say) out of
// a test; GIT_CONFIG_GLOBAL would also turn the Go reader off (plainGitDir).
func isolatedGit(t *testing.T) {
	t.Helper()
	needGit(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
}

// newHistory makes an empty working repository.
func newHistory(tb testing.TB) history {
	tb.Helper()
	repo := tb.TempDir()
	runGit(tb, repo, nil, "init", "-q", "-b", "main")
	return history{tb: tb, repo: repo}
}

// pushRange is what a push moved a branch from and to.
type pushRange struct{ old, new string }

// oddPath pushes one commit adding path.
func oddPath(path string) func(h history, base string) pushRange {
	return func(h history, base string) pushRange {
		return pushRange{base, h.commit("odd", map[string]*string{path: text("x")})}
	}
}

// TestPushCommitsMatchesGit lists the commits of pushes of every shape both ways, in Go
// where it applies and with `git log` (trigger.GitCommits), and wants the same commits;
// and it checks that the Go reader takes the plain pushes and leaves the rest to git.
func TestPushCommitsMatchesGit(t *testing.T) {
	isolatedGit(t)
	for _, tc := range []struct {
		name  string
		max   int
		build func(h history, base string) pushRange
		goes  bool // the Go reader lists it (else git does)
	}{
		{"one commit changing a file", 50, func(h history, base string) pushRange {
			return pushRange{base, h.commit("fix the thing\n\nLonger text.\n", map[string]*string{"README.md": text("new\n")})}
		}, true},
		{"commits adding, changing and removing nested files", 50, func(h history, base string) pushRange {
			h.commit("add", map[string]*string{"src/a/b/c.go": text("c"), "src/a/d.go": text("d"), "src/a-b.go": text("x"), "src/a.go": text("y")})
			h.commit("change", map[string]*string{"src/a/b/c.go": text("c2"), "docs/x.md": text("x")})
			return pushRange{base, h.commit("remove", map[string]*string{"src/a": nil, "README.md": nil})}
		}, true},
		{"an executable bit and a symlink", 50, func(h history, base string) pushRange {
			if err := os.Chmod(filepath.Join(h.repo, "build.sh"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(h.repo, "lib.txt")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("README.md", filepath.Join(h.repo, "lib.txt")); err != nil {
				t.Fatal(err)
			}
			return pushRange{base, h.commit("modes", nil)}
		}, true},
		{"a file replaced by a directory of its name, and back", 50, func(h history, base string) pushRange {
			h.commit("to dir", map[string]*string{"lib.txt": nil, "lib.txt/inner": text("i")})
			if err := os.RemoveAll(filepath.Join(h.repo, "lib.txt")); err != nil {
				t.Fatal(err)
			}
			// lib.txt, lib.txt.d and lib.txt/ sort in that order in a tree.
			return pushRange{base, h.commit("to file", map[string]*string{"lib.txt": text("f"), "lib.txt.d": text("d")})}
		}, true},
		{"messages and authors as written", 50, func(h history, base string) pushRange {
			h.commit("  spaced subject  \n\n\nbody\r\nwith CRLF\n\n\n", nil, "GIT_AUTHOR_DATE=@1700000000 +0530")
			h.commit("", nil, "GIT_AUTHOR_NAME=José Ñandú", "GIT_AUTHOR_DATE=@1600000000 -0930")
			return pushRange{base, h.commit("ünïcode 🚀 subject", map[string]*string{"a.txt": text("a")}, "GIT_AUTHOR_EMAIL=j.ñ@example.com")}
		}, true},
		{"nothing new", 50, func(h history, base string) pushRange { return pushRange{base, base} }, true},
		{"more commits than listed, truncated", 2, func(h history, base string) pushRange {
			h.commit("1", nil)
			h.commit("2", nil)
			return pushRange{base, h.commit("3", nil)}
		}, true},
		{"the old tip further back than git lists", 2, func(h history, base string) pushRange {
			for _, m := range []string{"1", "2", "3"} {
				h.commit(m, nil)
			}
			return pushRange{base, h.commit("4", nil)}
		}, false},
		{"a new branch", 50, func(h history, base string) pushRange {
			return pushRange{"", h.commit("new", map[string]*string{"n.txt": text("n")})}
		}, false},
		{"a merge", 50, func(h history, base string) pushRange {
			runGit(t, h.repo, nil, "checkout", "-q", "-b", "side")
			h.commit("side", map[string]*string{"side.txt": text("s")})
			runGit(t, h.repo, nil, "checkout", "-q", "main")
			h.commit("main", map[string]*string{"main.txt": text("m")})
			runGit(t, h.repo, nil, "merge", "-q", "--no-edit", "side")
			return pushRange{base, runGit(t, h.repo, nil, "rev-parse", "HEAD")}
		}, false},
		{"a forced push over another line", 50, func(h history, base string) pushRange {
			old := h.commit("gone", map[string]*string{"g.txt": text("g")})
			runGit(t, h.repo, nil, "reset", "-q", "--hard", base)
			return pushRange{old, h.commit("instead", map[string]*string{"i.txt": text("i")})}
		}, false},
		// Paths git quotes or GitCommits trims, one per push.
		{"a path outside ASCII", 50, oddPath("naïve.txt"), false},
		{"a path with a tab", 50, oddPath("tab\tname"), false},
		{"a path with a quote", 50, oddPath(`q"uote`), false},
		{"a path with a backslash", 50, oddPath(`back\slash`), false},
		{"a path with a space at its end", 50, oddPath("dir/space at end "), false},
		{"a path with spaces inside", 50, oddPath("dir/a b.txt"), true},
		{"objects packed by git gc", 50, func(h history, base string) pushRange {
			h.commit("deep", map[string]*string{"src/a/b/c.go": text("c")})
			mid := h.commit("more", map[string]*string{"src/a/b/d.go": text("d")})
			runGit(t, h.repo, nil, "gc", "-q")
			if _, err := os.Stat(looseFile(h.repo, mid)); err == nil {
				t.Fatal("git gc left the commit loose: the case needs packed objects")
			}
			return pushRange{mid, h.commit("after gc", map[string]*string{"src/a/b/c.go": text("c2"), "src/x/y.go": text("y")})}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(t)
			repo := h.repo
			base := h.commit("base", map[string]*string{"README.md": text("readme\n"), "build.sh": text("#!/bin/sh\n"), "lib.txt": text("lib\n")})
			p := tc.build(h, base)
			ctx := context.Background()
			want, wantTrunc, err := trigger.GitCommits{}.Commits(ctx, repo, p.new, p.old, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			got, gotTrunc, err := commitLister{}.Commits(ctx, repo, p.new, p.old, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || gotTrunc != wantTrunc {
				t.Errorf("listed:\n%+v (truncated %v)\ngit lists:\n%+v (truncated %v)", got, gotTrunc, want, wantTrunc)
			}
			_, _, goes := source.PushCommits(filepath.Join(repo, ".git", "objects"), p.new, p.old, tc.max)
			if goes != tc.goes {
				t.Errorf("the Go reader took the push: %v, want %v", goes, tc.goes)
			}
			if tc.goes && len(want) == 0 && p.old != p.new {
				t.Error("git listed no commits: the case tests nothing")
			}
		})
	}
}

// TestPushCommitsInABareRepository: the watched repository of local mode is often bare,
// its objects pushed into it.
func TestPushCommitsInABareRepository(t *testing.T) {
	isolatedGit(t)
	bare := t.TempDir()
	runGit(t, bare, nil, "init", "-q", "--bare", "-b", "main")
	h := newHistory(t)
	work := h.repo
	old := h.commit("first", map[string]*string{"a/b.txt": text("b")})
	runGit(t, work, nil, "push", "-q", bare, "main")
	h.commit("second", map[string]*string{"a/c.txt": text("c")})
	new := h.commit("third", map[string]*string{"a/b.txt": nil})
	runGit(t, work, nil, "push", "-q", bare, "main")
	ctx := context.Background()
	want, _, err := trigger.GitCommits{}.Commits(ctx, bare, new, old, 50)
	if err != nil {
		t.Fatal(err)
	}
	got, _, ok := source.PushCommits(filepath.Join(bare, "objects"), new, old, 50)
	if !ok {
		t.Fatal("the Go reader left a plain push to a bare repository to git")
	}
	if !reflect.DeepEqual(got, want) || len(got) != 2 || strings.Join(got[0].Added, ",") != "a/c.txt" || strings.Join(got[1].Removed, ",") != "a/b.txt" {
		t.Errorf("listed %+v, git lists %+v", got, want)
	}
}

// BenchmarkPushCommits lists the commits of a push of one commit changing two files,
// as local mode's trigger does before starting a run: read in Go, and with git log.
func BenchmarkPushCommits(b *testing.B) {
	needGit(b)
	h := newHistory(b)
	repo := h.repo
	old := h.commit("base", map[string]*string{"README.md": text("r"), "src/main.go": text("package main\n")})
	new := h.commit("change", map[string]*string{"README.md": text("r2"), "src/main.go": text("package main\n\nfunc main() {}\n")})
	ctx := context.Background()
	for _, l := range []struct {
		name string
		l    trigger.CommitLister
	}{{"go", commitLister{}}, {"git", trigger.GitCommits{}}} {
		b.Run(l.name, func(b *testing.B) {
			for b.Loop() {
				if cs, _, err := l.l.Commits(ctx, repo, new, old, 50); err != nil || len(cs) != 1 {
					b.Fatal(cs, err)
				}
			}
		})
	}
}

// TestPushCommitsOfHandMadeCommits holds the Go reader to git on commits git would not
// make itself but accepts, written byte for byte: the reader takes the plain ones, and
// leaves to git every shape git prints otherwise, which then gives git's answer (or
// its error).
func TestPushCommitsOfHandMadeCommits(t *testing.T) {
	isolatedGit(t)
	const plain = "author A <a@example.com> 1700000000 +0100\ncommitter C <c@example.com> 1700000000 +0100\n"
	for _, tc := range []struct {
		name, header, message string
		goes                  bool
	}{
		{"plain", plain, "\nmsg\n", true},
		{"an empty email", "author A <> 1700000000 +0000\ncommitter C <c@example.com> 1700000000 +0000\n", "\nmsg\n", true},
		{"a signature whose lines look like headers", plain + "gpgsig -----BEGIN PGP SIGNATURE-----\n \n author X <x@example.com> 1 +0000\n encoding latin1\n -----END PGP SIGNATURE-----\n", "\nsigned\n", true},
		{"an empty message", plain, "\n", true},
		{"an encoding", plain + "encoding ISO-8859-1\n", "\nmsg\n", false},
		{"two authors", "author A <a@example.com> 1700000000 +0100\n" + plain, "\nmsg\n", false},
		{"no author", "committer C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"a sign in the zone", "author A <a@example.com> 1700000000 +-100\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"a zone past 23 hours", "author A <a@example.com> 1700000000 +2400\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"the year 10000 in its zone", "author A <a@example.com> 253402300799 +0100\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"before 1970 in its zone", "author A <a@example.com> 0 -0100\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"a time with a leading zero", "author A <a@example.com> 01700000000 +0100\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"a name with a space at its end", "author A  <a@example.com> 1700000000 +0100\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"an angle bracket in the name", "author A<b <a@example.com> 1700000000 +0100\ncommitter C <c@example.com> 1700000000 +0100\n", "\nmsg\n", false},
		{"no message at all", plain, "", false},
		{"a byte git stops at", plain, "\nmsg\x00more\n", false},
		{"the record separator", plain, "\nmsg\x1emore\n", false},
		{"not UTF-8", plain, "\nmsg \xff\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(t)
			repo := h.repo
			base := h.commit("base", map[string]*string{"a.txt": text("a")})
			h.commit("change", map[string]*string{"a.txt": text("a2"), "b.txt": text("b")})
			body := "tree " + runGit(t, repo, nil, "rev-parse", "HEAD^{tree}") + "\nparent " + base + "\n" + tc.header + tc.message
			f := filepath.Join(t.TempDir(), "commit")
			if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			id := runGit(t, repo, nil, "hash-object", "-t", "commit", "-w", "--literally", f)
			ctx := context.Background()
			want, wantTrunc, wantErr := trigger.GitCommits{}.Commits(ctx, repo, id, base, 50)
			got, gotTrunc, err := commitLister{}.Commits(ctx, repo, id, base, 50)
			if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) || gotTrunc != wantTrunc {
				t.Errorf("listed %+v (%v), git lists %+v (%v)", got, err, want, wantErr)
			}
			if _, _, goes := source.PushCommits(filepath.Join(repo, ".git", "objects"), id, base, 50); goes != tc.goes {
				t.Errorf("the Go reader took the commit: %v, want %v", goes, tc.goes)
			}
		})
	}
}

// TestPushCommitsInShallowAndConfiguredRepositories: what the repository's layout and
// configuration change in git's listing is either left to git (a shallow repository,
// whose cut-off commit git lists as a root) or pinned in GitCommits (the path order of
// diff.orderFile, the output encoding), so both ways give the same commits.
func TestPushCommitsInShallowAndConfiguredRepositories(t *testing.T) {
	isolatedGit(t)
	h := newHistory(t)
	repo := h.repo
	base := h.commit("base", map[string]*string{"a.txt": text("a"), "z.txt": text("z")})
	c1 := h.commit("one", map[string]*string{"a.txt": text("a1"), "z.txt": text("z1")})
	c2 := h.commit("two", map[string]*string{"a.txt": text("a2"), "z.txt": text("z2")}, "GIT_AUTHOR_NAME=José")
	order := filepath.Join(t.TempDir(), "order")
	if err := os.WriteFile(order, []byte("z*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, repo, nil, "config", "diff.orderFile", order)
	runGit(t, repo, nil, "config", "i18n.logOutputEncoding", "ISO-8859-1")
	ctx := context.Background()
	same := func(what string) {
		t.Helper()
		want, _, err := trigger.GitCommits{}.Commits(ctx, repo, c2, base, 50)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := commitLister{}.Commits(ctx, repo, c2, base, 50)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: listed %+v (%v), git lists %+v", what, got, err, want)
		}
	}
	same("configured")
	if _, _, ok := source.PushCommits(filepath.Join(repo, ".git", "objects"), c2, base, 50); !ok {
		t.Fatal("the configured case did not go through the Go reader")
	}
	if err := os.WriteFile(filepath.Join(repo, ".git", "shallow"), []byte(c1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := plainGitDir(repo); ok {
		t.Error("a shallow repository is taken as a plain one")
	}
	same("shallow")
}

// TestPushCommitsOverAnOldTipWithAStrangeParent: git reads the old tip's parents to
// leave them out, and fails on a parent that is a tree; the Go reader leaves such a push
// to git, for the same answer.
func TestPushCommitsOverAnOldTipWithAStrangeParent(t *testing.T) {
	isolatedGit(t)
	h := newHistory(t)
	repo := h.repo
	h.commit("base", map[string]*string{"a.txt": text("a")})
	tree := runGit(t, repo, nil, "rev-parse", "HEAD^{tree}")
	write := func(body string) string {
		f := filepath.Join(t.TempDir(), "commit")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return runGit(t, repo, nil, "hash-object", "-t", "commit", "-w", "--literally", f)
	}
	const who = "author A <a@example.com> 1700000000 +0000\ncommitter C <c@example.com> 1700000000 +0000\n"
	old := write("tree " + tree + "\nparent " + tree + "\n" + who + "\nold\n")
	new := write("tree " + tree + "\nparent " + old + "\n" + who + "\nnew\n")
	ctx := context.Background()
	for _, p := range []pushRange{{old, new}, {old, old}} {
		want, _, wantErr := trigger.GitCommits{}.Commits(ctx, repo, p.new, p.old, 50)
		got, _, err := commitLister{}.Commits(ctx, repo, p.new, p.old, 50)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s over %s: listed %+v (%v), git lists %+v (%v)", p.new[:7], p.old[:7], got, err, want, wantErr)
		}
		if _, _, goes := source.PushCommits(filepath.Join(repo, ".git", "objects"), p.new, p.old, 50); goes {
			t.Errorf("%s over %s: the Go reader took a push over an old tip whose parent is a tree", p.new[:7], p.old[:7])
		}
	}
}
