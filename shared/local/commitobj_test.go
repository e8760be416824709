package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests build repositories with the real git so the reader is checked against the
// objects git actually writes, and against what `git log` reports for them.

func needGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed")
	}
}

// runGit runs git in dir with no user or system configuration, so a developer's
// settings (signing, default branch, hooks) cannot change what the test builds.
func runGit(tb testing.TB, dir string, env []string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=Author", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Committer", "GIT_COMMITTER_EMAIL=committer@example.com")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a working repository with one commit by committer email.
func newRepo(tb testing.TB, format, email string) (repo, id string) {
	tb.Helper()
	repo = tb.TempDir()
	runGit(tb, repo, nil, "init", "-q", "-b", "main", "--object-format="+format)
	return repo, commit(tb, repo, email, "first")
}

func commit(tb testing.TB, repo, email, msg string) string {
	tb.Helper()
	runGit(tb, repo, []string{"GIT_COMMITTER_EMAIL=" + email}, "commit", "-q", "--allow-empty", "-m", msg)
	return runGit(tb, repo, nil, "rev-parse", "HEAD")
}

// newBare makes a bare repository and pushes a commit into it, the way the watched
// repository receives its commits.
func newBare(tb testing.TB, format, email string) (bare, id string) {
	tb.Helper()
	bare = tb.TempDir()
	runGit(tb, bare, nil, "init", "-q", "--bare", "-b", "main", "--object-format="+format)
	work, id := newRepo(tb, format, email)
	runGit(tb, work, nil, "push", "-q", bare, "main")
	return bare, id
}

// literal writes a commit object exactly as given, bypassing git's own checks.
func literal(tb testing.TB, repo, body string) string {
	tb.Helper()
	tree := runGit(tb, repo, nil, "rev-parse", "HEAD^{tree}")
	f := filepath.Join(tb.TempDir(), "obj")
	if err := os.WriteFile(f, []byte(strings.ReplaceAll(body, "TREE", tree)), 0o644); err != nil {
		tb.Fatal(err)
	}
	return runGit(tb, repo, nil, "hash-object", "-t", "commit", "-w", "--literally", f)
}

func looseFile(repo, id string) string {
	dir := filepath.Join(repo, ".git", "objects")
	if _, err := os.Stat(dir); err != nil {
		dir = filepath.Join(repo, "objects")
	}
	return filepath.Join(dir, id[:2], id[2:])
}

func overwrite(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

type commitCase struct {
	name  string
	setup func(t *testing.T) (repo, id string)
	email string // what the loose reader must return when ok
	ok    bool   // whether the loose reader may answer at all
}

var commitCases = []commitCase{
	{"sha1 working loose", func(t *testing.T) (string, string) {
		return newRepo(t, "sha1", "dev+ci@example.com")
	}, "dev+ci@example.com", true},
	{"sha1 bare pushed loose", func(t *testing.T) (string, string) {
		return newBare(t, "sha1", "pusher@example.org")
	}, "pusher@example.org", true},
	{"sha256 working loose", func(t *testing.T) (string, string) {
		return newRepo(t, "sha256", "wide@example.com")
	}, "wide@example.com", true},
	{"sha256 bare pushed loose", func(t *testing.T) (string, string) {
		return newBare(t, "sha256", "wide-bare@example.com")
	}, "wide-bare@example.com", true},
	{"second commit with message", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "first@example.com")
		return repo, commit(t, repo, "second@example.com", "subject\n\ncommitter <not@this.one> in the body")
	}, "second@example.com", true},
	{"packed by gc", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "gc@example.com")
		runGit(t, repo, nil, "gc", "-q")
		return repo, id
	}, "", false},
	{"sha256 bare packed by repack", func(t *testing.T) (string, string) {
		bare, id := newBare(t, "sha256", "repack@example.com")
		runGit(t, bare, nil, "repack", "-adq")
		runGit(t, bare, nil, "prune-packed")
		return bare, id
	}, "", false},
	{"missing object", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, strings.Repeat("ab", 20)
	}, "", false},
	{"corrupt zlib", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "x@example.com")
		overwrite(t, looseFile(repo, id), []byte("not a zlib stream"))
		return repo, id
	}, "", false},
	{"truncated object", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "x@example.com")
		data, err := os.ReadFile(looseFile(repo, id))
		if err != nil {
			t.Fatal(err)
		}
		overwrite(t, looseFile(repo, id), data[:len(data)/2])
		return repo, id
	}, "", false},
	{"another commit's bytes under this id", func(t *testing.T) (string, string) {
		repo, a := newRepo(t, "sha1", "a@example.com")
		b := commit(t, repo, "b@example.com", "b")
		data, err := os.ReadFile(looseFile(repo, a))
		if err != nil {
			t.Fatal(err)
		}
		overwrite(t, looseFile(repo, b), data)
		return repo, b
	}, "", false},
	{"blob id", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		f := filepath.Join(repo, "f.txt")
		if err := os.WriteFile(f, []byte("committer A <a@b> 1 +0000\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return repo, runGit(t, repo, nil, "hash-object", "-w", "f.txt")
	}, "", false},
	{"tree id", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, runGit(t, repo, nil, "rev-parse", "HEAD^{tree}")
	}, "", false},
	{"annotated tag id", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "tagged@example.com")
		runGit(t, repo, nil, "tag", "-a", "-m", "v1", "v1")
		return repo, runGit(t, repo, nil, "rev-parse", "v1")
	}, "", false},
	{"uppercase id", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "x@example.com")
		return repo, strings.ToUpper(id)
	}, "", false},
	{"abbreviated id", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "x@example.com")
		return repo, id[:12]
	}, "", false},
	{"linked worktree", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "tree@example.com")
		wt := filepath.Join(t.TempDir(), "wt")
		runGit(t, repo, nil, "worktree", "add", "-q", wt)
		return wt, id
	}, "", false},
	{"replaced commit", func(t *testing.T) (string, string) {
		repo, a := newRepo(t, "sha1", "orig@example.com")
		b := commit(t, repo, "replacement@example.com", "b")
		runGit(t, repo, nil, "replace", a, b)
		return repo, a
	}, "", false},
	{"replaced commit, packed refs", func(t *testing.T) (string, string) {
		repo, a := newRepo(t, "sha1", "orig@example.com")
		b := commit(t, repo, "replacement@example.com", "b")
		runGit(t, repo, nil, "replace", a, b)
		runGit(t, repo, nil, "pack-refs", "--all")
		if err := os.RemoveAll(filepath.Join(repo, ".git", "refs", "replace")); err != nil {
			t.Fatal(err)
		}
		return repo, a
	}, "", false},
	{"declared encoding", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter C <enc@x> 1 +0000\nencoding ISO-8859-1\n\nm\n")
	}, "", false},
	{"duplicate committer header", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter C <one@x> 1 +0000\ncommitter C <two@x> 1 +0000\n\nm\n")
	}, "", false},
	{"angle bracket in name", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter C<D <odd@x> 1 +0000\n\nm\n")
	}, "", false},
	{"no committer", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\n\ncommitter C <body@x> 1 +0000\n")
	}, "", false},
	{"NUL in the committer line", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter Mallory\x00 <someone-else@x> 1 +0000\n\nm\n")
	}, "", false},
	{"committer before the tree", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "committer C <first@x> 1 +0000\ntree TREE\nauthor A <a@x> 1 +0000\n\nm\n")
	}, "", false},
	{"no tree", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "author A <a@x> 1 +0000\ncommitter C <notree@x> 1 +0000\n\nm\n")
	}, "", false},
	{"missing parent", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nparent 1111111111111111111111111111111111111111\nauthor A <a@x> 1 +0000\ncommitter C <orphan@x> 1 +0000\n\nm\n")
	}, "", false},
	{"parent is a blob", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		if err := os.WriteFile(filepath.Join(repo, "f.txt"), []byte("blob\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		blob := runGit(t, repo, nil, "hash-object", "-w", "f.txt")
		return repo, literal(t, repo, "tree TREE\nparent "+blob+"\nauthor A <a@x> 1 +0000\ncommitter C <blobparent@x> 1 +0000\n\nm\n")
	}, "", false},
	{"parent is a tree", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nparent TREE\nauthor A <a@x> 1 +0000\ncommitter C <treeparent@x> 1 +0000\n\nm\n")
	}, "", false},
	{"parent is an empty file", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		parent := literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter C <p@x> 1 +0000\n\np\n")
		overwrite(t, looseFile(repo, parent), nil)
		return repo, literal(t, repo, "tree TREE\nparent "+parent+"\nauthor A <a@x> 1 +0000\ncommitter C <emptyparent@x> 1 +0000\n\nm\n")
	}, "", false},
	{"parent has no tree", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		parent := literal(t, repo, "author A <a@x> 1 +0000\ncommitter C <p@x> 1 +0000\n\np\n")
		return repo, literal(t, repo, "tree TREE\nparent "+parent+"\nauthor A <a@x> 1 +0000\ncommitter C <badparent@x> 1 +0000\n\nm\n")
	}, "", false},
	{"grafted onto a missing parent", func(t *testing.T) (string, string) {
		repo, id := newRepo(t, "sha1", "grafted@example.com")
		graft := id + " 1111111111111111111111111111111111111111\n"
		if err := os.WriteFile(filepath.Join(repo, ".git", "info", "grafts"), []byte(graft), 0o644); err != nil {
			t.Fatal(err)
		}
		return repo, id
	}, "", false},
	{"packed parent", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		runGit(t, repo, nil, "repack", "-adq")
		runGit(t, repo, nil, "prune-packed")
		return repo, commit(t, repo, "child@example.com", "second")
	}, "", false},
	{"loose parent", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, commit(t, repo, "child@example.com", "second")
	}, "child@example.com", true},
	{"literal plain commit", func(t *testing.T) (string, string) {
		repo, _ := newRepo(t, "sha1", "x@example.com")
		return repo, literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter C <plain@x> 1 +0000\n\nm\n")
	}, "plain@x", true},
}

// TestLooseCommitterLeavesOthersReposToGit: git refuses a repository another user
// owns, and the push then falls back to the local user; the reader must not answer there.
func TestLooseCommitterLeavesOthersReposToGit(t *testing.T) {
	needGit(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the repository to another user")
	}
	repo, id := newBare(t, "sha1", "owner@example.com")
	if err := os.Chown(repo, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if email, ok := looseCommitter(repo, id); ok {
		t.Fatalf("looseCommitter in another user's repository = %q, want no answer", email)
	}
	cmd := exec.Command("git", "log", "-1", "--format=%ce", id)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	if out, err := cmd.Output(); err == nil {
		t.Fatalf("git answered %q in another user's repository; the case this test stands for is gone", out)
	}
}

// TestLooseCommitterLeavesEnvironmentConfigToGit: configuration given to git in the
// environment can make it refuse a bare repository; the reader then gives no answer.
func TestLooseCommitterLeavesEnvironmentConfigToGit(t *testing.T) {
	needGit(t)
	repo, id := newBare(t, "sha1", "bare@example.com")
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "safe.bareRepository")
	t.Setenv("GIT_CONFIG_VALUE_0", "explicit")
	if email, ok := looseCommitter(repo, id); ok {
		t.Fatalf("looseCommitter with safe.bareRepository=explicit in the environment = %q, want no answer", email)
	}
	if got := committerEmail(repo, id); got != "" {
		t.Fatalf("committerEmail = %q, want git's answer, which is none: it refuses the bare repository", got)
	}
}

func TestLooseCommitter(t *testing.T) {
	needGit(t)
	for _, tc := range commitCases {
		t.Run(tc.name, func(t *testing.T) {
			repo, id := tc.setup(t)
			email, ok := looseCommitter(repo, id)
			if email != tc.email || ok != tc.ok {
				t.Errorf("looseCommitter(%s) = %q, %v; want %q, %v", id, email, ok, tc.email, tc.ok)
			}
		})
	}
}

// TestCommitterEmailMatchesGit holds the push path to git's answer whichever way it
// got there: read directly for loose objects, asked of git for everything else.
func TestCommitterEmailMatchesGit(t *testing.T) {
	needGit(t)
	for _, tc := range commitCases {
		t.Run(tc.name, func(t *testing.T) {
			repo, id := tc.setup(t)
			cmd := exec.Command("git", "log", "-1", "--format=%ce", id)
			cmd.Dir = repo
			out, _ := cmd.Output() // a failing git means "", as for the push path
			want := strings.TrimSpace(string(out))
			if got := committerEmail(repo, id); got != want {
				t.Errorf("committerEmail(%s) = %q; git log says %q", id, got, want)
			}
		})
	}
}

// TestLooseCommitterRejectsOversize checks the inflation bound: a commit past it is
// left to git even though it is loose and well formed.
func TestLooseCommitterRejectsOversize(t *testing.T) {
	needGit(t)
	repo, _ := newRepo(t, "sha1", "x@example.com")
	id := literal(t, repo, "tree TREE\nauthor A <a@x> 1 +0000\ncommitter C <big@x> 1 +0000\n\n"+strings.Repeat("m", maxLooseCommit)+"\n")
	if email, ok := looseCommitter(repo, id); ok {
		t.Errorf("looseCommitter(oversize) = %q, true; want git to answer", email)
	}
	if got, want := committerEmail(repo, id), "big@x"; got != want {
		t.Errorf("committerEmail(oversize) = %q; want %q", got, want)
	}
}

func BenchmarkCommitterEmail(b *testing.B) {
	needGit(b)
	repo, id := newRepo(b, "sha1", "bench@example.com")
	b.Run("loose", func(b *testing.B) {
		for b.Loop() {
			if _, ok := looseCommitter(repo, id); !ok {
				b.Fatal("loose read failed")
			}
		}
	})
	b.Run("git", func(b *testing.B) {
		for b.Loop() {
			if gitOut(repo, "log", "-1", "--format=%ce", id) == "" {
				b.Fatal("git log failed")
			}
		}
	})
	packed, pid := newRepo(b, "sha1", "bench@example.com")
	runGit(b, packed, nil, "gc", "-q")
	b.Run("packed-fallback", func(b *testing.B) {
		for b.Loop() {
			if committerEmail(packed, pid) == "" {
				b.Fatal("fallback failed")
			}
		}
	})
}
