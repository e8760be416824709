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

// TestPushCommitsMatchesGit lists the commits of pushes of every shape both ways, in Go
// where it applies and with `git log` (trigger.GitCommits), and wants the same commits;
// and it checks that the Go reader takes the plain pushes and leaves the rest to git.
func TestPushCommitsMatchesGit(t *testing.T) {
	needGit(t)
	// No developer's git configuration (a log.showSignature, say) changes git's output;
	// GIT_CONFIG_GLOBAL would also turn the Go reader off (plainGitDir).
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	type push struct{ old, new string }
	for _, tc := range []struct {
		name  string
		max   int
		build func(h history, base string) push
		goes  bool // the Go reader lists it (else git does)
	}{
		{"one commit changing a file", 50, func(h history, base string) push {
			return push{base, h.commit("fix the thing\n\nLonger text.\n", map[string]*string{"README.md": text("new\n")})}
		}, true},
		{"commits adding, changing and removing nested files", 50, func(h history, base string) push {
			h.commit("add", map[string]*string{"src/a/b/c.go": text("c"), "src/a/d.go": text("d"), "src/a-b.go": text("x"), "src/a.go": text("y")})
			h.commit("change", map[string]*string{"src/a/b/c.go": text("c2"), "docs/x.md": text("x")})
			return push{base, h.commit("remove", map[string]*string{"src/a": nil, "README.md": nil})}
		}, true},
		{"an executable bit and a symlink", 50, func(h history, base string) push {
			if err := os.Chmod(filepath.Join(h.repo, "build.sh"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(h.repo, "lib.txt")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("README.md", filepath.Join(h.repo, "lib.txt")); err != nil {
				t.Fatal(err)
			}
			return push{base, h.commit("modes", nil)}
		}, true},
		{"a file replaced by a directory of its name, and back", 50, func(h history, base string) push {
			h.commit("to dir", map[string]*string{"lib.txt": nil, "lib.txt/inner": text("i")})
			if err := os.RemoveAll(filepath.Join(h.repo, "lib.txt")); err != nil {
				t.Fatal(err)
			}
			// lib.txt, lib.txt.d and lib.txt/ sort in that order in a tree.
			return push{base, h.commit("to file", map[string]*string{"lib.txt": text("f"), "lib.txt.d": text("d")})}
		}, true},
		{"messages and authors as written", 50, func(h history, base string) push {
			h.commit("  spaced subject  \n\n\nbody\r\nwith CRLF\n\n\n", nil, "GIT_AUTHOR_DATE=@1700000000 +0530")
			h.commit("", nil, "GIT_AUTHOR_NAME=José Ñandú", "GIT_AUTHOR_DATE=@1600000000 -0930")
			return push{base, h.commit("ünïcode 🚀 subject", map[string]*string{"a.txt": text("a")}, "GIT_AUTHOR_EMAIL=j.ñ@example.com")}
		}, true},
		{"nothing new", 50, func(h history, base string) push { return push{base, base} }, true},
		{"more commits than listed, truncated", 2, func(h history, base string) push {
			h.commit("1", nil)
			h.commit("2", nil)
			return push{base, h.commit("3", nil)}
		}, true},
		{"the old tip further back than git lists", 2, func(h history, base string) push {
			for _, m := range []string{"1", "2", "3"} {
				h.commit(m, nil)
			}
			return push{base, h.commit("4", nil)}
		}, false},
		{"a new branch", 50, func(h history, base string) push {
			return push{"", h.commit("new", map[string]*string{"n.txt": text("n")})}
		}, false},
		{"a merge", 50, func(h history, base string) push {
			runGit(t, h.repo, nil, "checkout", "-q", "-b", "side")
			h.commit("side", map[string]*string{"side.txt": text("s")})
			runGit(t, h.repo, nil, "checkout", "-q", "main")
			h.commit("main", map[string]*string{"main.txt": text("m")})
			runGit(t, h.repo, nil, "merge", "-q", "--no-edit", "side")
			return push{base, runGit(t, h.repo, nil, "rev-parse", "HEAD")}
		}, false},
		{"a forced push over another line", 50, func(h history, base string) push {
			old := h.commit("gone", map[string]*string{"g.txt": text("g")})
			runGit(t, h.repo, nil, "reset", "-q", "--hard", base)
			return push{old, h.commit("instead", map[string]*string{"i.txt": text("i")})}
		}, false},
		{"paths git quotes or trims", 50, func(h history, base string) push {
			return push{base, h.commit("odd", map[string]*string{"naïve.txt": text("n"), "tab\tname": text("t")})}
		}, false},
		{"objects packed by git gc", 50, func(h history, base string) push {
			h.commit("deep", map[string]*string{"src/a/b/c.go": text("c")})
			mid := h.commit("more", map[string]*string{"src/a/b/d.go": text("d")})
			runGit(t, h.repo, nil, "gc", "-q")
			if _, err := os.Stat(looseFile(h.repo, mid)); err == nil {
				t.Fatal("git gc left the commit loose: the case needs packed objects")
			}
			return push{mid, h.commit("after gc", map[string]*string{"src/a/b/c.go": text("c2"), "src/x/y.go": text("y")})}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			runGit(t, repo, nil, "init", "-q", "-b", "main")
			h := history{tb: t, repo: repo}
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
	needGit(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	bare := t.TempDir()
	runGit(t, bare, nil, "init", "-q", "--bare", "-b", "main")
	work := t.TempDir()
	runGit(t, work, nil, "init", "-q", "-b", "main")
	h := history{tb: t, repo: work}
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
	repo := b.TempDir()
	runGit(b, repo, nil, "init", "-q", "-b", "main")
	h := history{tb: b, repo: repo}
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
