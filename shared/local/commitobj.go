package local

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/shipgate/shipgate/shared/gitobj"
)

// maxLooseCommit bounds how much of a loose object is inflated. Commits, even signed
// ones, are a few KiB; anything larger goes to git rather than costing memory here.
const maxLooseCommit = 64 << 10

// committerEmail is the committer email of commit sha in repo, as
// `git log -1 --format=%ce sha` prints it, or "" when git cannot tell.
//
// It sits between a push landing and its run starting. Asking git costs a process start
// (several milliseconds on a small VM), while a freshly pushed commit is almost always a
// loose object that Go reads in well under a millisecond. So the common case is read
// here and every case the reader does not fully understand goes to git, which stays the
// reference: a wrong pusher is worse than a slow one.
func committerEmail(repo, sha string) string {
	if email, ok := looseCommitter(repo, sha); ok {
		return email
	}
	return gitOut(repo, "log", "-1", "--format=%ce", sha)
}

// looseCommitter reads the committer email of commit id straight from its loose object
// in repo. ok is false whenever the answer might differ from git's: the object is
// packed, missing, corrupt or not a commit, the repository layout or environment is one
// git would resolve differently, or the committer line is not the plain form.
func looseCommitter(repo, id string) (email string, ok bool) {
	gitDir, ok := plainGitDir(repo)
	if !ok {
		return "", false
	}
	body, ok := looseCommit(gitDir, id)
	if !ok || !wellFormed(body, len(id), func(parent string) bool {
		pb, ok := looseCommit(gitDir, parent)
		return ok && wellFormed(pb, len(id), func(string) bool { return true })
	}) {
		return "", false
	}
	return committerOf(body)
}

// looseCommit is the body of commit id when it is a loose object in gitDir, checked
// against its id, within maxLooseCommit.
func looseCommit(gitDir, id string) ([]byte, bool) {
	typ, body, err := gitobj.ReadLoose(filepath.Join(gitDir, "objects"), id, maxLooseCommit)
	return body, err == nil && typ == "commit"
}

// wellFormed holds the commit to what `git log` needs before it prints anything: no NUL
// anywhere (git's parsing stops at one, and would read another committer than a byte
// scan does), a tree line first, then parent lines for which present holds (`git log
// -1` reads every parent of the commit it prints, not theirs, and fails when one is not
// a sound commit). A parent that is packed, missing or unsound sends the question to
// git.
func wellFormed(body []byte, idLen int, present func(id string) bool) bool {
	if bytes.IndexByte(body, 0) >= 0 {
		return false
	}
	_, parents, ok := gitobj.CommitHeader(body, idLen)
	if !ok {
		return false
	}
	for _, p := range parents {
		if !present(p) {
			return false
		}
	}
	return true
}

// plainGitDir finds repo's git directory when it is laid out the ordinary way. Gitfiles
// (linked worktrees, submodules), shared common dirs, reftable and replace refs all
// change what git would read or show, and environment overrides make git ignore the
// directory altogether; each of those is left to git, as is a shallow repository.
func plainGitDir(repo string) (string, bool) {
	if repo == "" {
		return "", false
	}
	for _, v := range []string{"GIT_DIR", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_REPLACE_REF_BASE", "GIT_GRAFT_FILE"} {
		if os.Getenv(v) != "" {
			return "", false
		}
	}
	// Configuration given in the environment may change what git prints or whether it
	// reads the repository at all; git decides. (Settings in git's config files, which
	// belong to whoever runs shipgate rather than to the pusher, are not read here:
	// safe.bareRepository=explicit, a log output encoding or log.showSignature would make
	// `git log` print nothing or something else where this reader gives the address.)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_CONFIG") && !strings.HasPrefix(kv, "GIT_CONFIG_NOSYSTEM=") {
			return "", false
		}
	}
	gitDir := filepath.Join(repo, ".git")
	fi, err := os.Lstat(gitDir)
	switch {
	case err == nil && fi.IsDir():
	case errors.Is(err, fs.ErrNotExist):
		// Bare: the repository is its own git directory.
		gitDir = repo
		if !isRegular(filepath.Join(gitDir, "HEAD")) {
			return "", false
		}
	default:
		return "", false
	}
	if fi, err := os.Stat(filepath.Join(gitDir, "objects")); err != nil || !fi.IsDir() {
		return "", false
	}
	// Git refuses a repository another user owns ("dubious ownership") unless configured
	// to trust it; git decides that, not this reader.
	for _, dir := range []string{repo, gitDir} {
		if !ownedByMe(dir) {
			return "", false
		}
	}
	// A shallow file cuts commits' parents off (a push from a shallow clone leaves one).
	for _, p := range []string{"commondir", "reftable", "shallow", filepath.Join("refs", "replace"), filepath.Join("info", "grafts")} {
		if _, err := os.Lstat(filepath.Join(gitDir, p)); !errors.Is(err, fs.ErrNotExist) {
			return "", false
		}
	}
	packed, err := os.ReadFile(filepath.Join(gitDir, "packed-refs"))
	if (err != nil && !errors.Is(err, fs.ErrNotExist)) || bytes.Contains(packed, []byte(" refs/replace/")) {
		return "", false
	}
	return gitDir, true
}

func ownedByMe(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

func isRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// committerOf takes the email from the commit's one committer header. Git lets a later
// duplicate header win, re-encodes commits that declare an encoding, and splits a name
// holding '<' or '>' by rules of its own. Those shapes are rare on a push, so rather
// than mirror git in them they are refused.
func committerOf(body []byte) (string, bool) {
	var line []byte
	seen := false
	for len(body) > 0 {
		var l []byte
		l, body, _ = bytes.Cut(body, []byte{'\n'})
		if len(l) == 0 {
			break // end of the header; the message follows
		}
		if bytes.HasPrefix(l, []byte("encoding ")) {
			return "", false
		}
		if rest, ok := bytes.CutPrefix(l, []byte("committer ")); ok {
			if seen {
				return "", false
			}
			line, seen = rest, true
		}
	}
	if !seen || bytes.Count(line, []byte{'<'}) != 1 || bytes.Count(line, []byte{'>'}) != 1 {
		return "", false
	}
	lt, gt := bytes.IndexByte(line, '<'), bytes.IndexByte(line, '>')
	if gt < lt {
		return "", false
	}
	// Non-ASCII would be subject to git's output re-encoding; let git do it.
	email := line[lt+1 : gt]
	for _, c := range email {
		if c >= 0x80 {
			return "", false
		}
	}
	return string(bytes.TrimSpace(email)), true
}
