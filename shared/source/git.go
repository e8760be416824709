package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// gitRun runs git commands in one directory with one environment, watching the
// directory's size while they run.
type gitRun struct {
	git      string
	dir      string
	env      []string
	secrets  []string
	maxBytes int64
}

// gitError is a failed git command with its (scrubbed) stderr.
type gitError struct {
	args   []string
	stderr string
	err    error
	large  bool // killed because the directory outgrew maxBytes
}

func (e *gitError) Error() string {
	return "git " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

var (
	errTooLarge = errors.New("too large")
	errMissing  = errors.New("commit not found")
)

// sizePoll is how often, at most, a running git's directory is measured; a fetch can
// overshoot the limit by what git writes in between.
const sizePoll = 100 * time.Millisecond

// stderrCap bounds the git output kept for messages.
const stderrCap = 16 << 10

func (g *gitRun) run(ctx context.Context, args ...string) (string, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, g.git, args...)
	cmd.Dir = g.dir
	cmd.Env = g.env
	setProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: stderrCap}
	cmd.Stdout, cmd.Stderr = &stdout, stderr

	var large atomic.Bool
	done := make(chan struct{})
	go func() {
		// Walking a large checkout costs time too: wait ten times as long as the last
		// walk took, so watching stays under a tenth of a core.
		wait := sizePoll
		for {
			t := time.NewTimer(wait)
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
			}
			start := time.Now()
			if n, err := dirSize(g.dir); err == nil && n > g.maxBytes {
				large.Store(true)
				cancel()
				return
			}
			wait = max(sizePoll, 10*time.Since(start))
		}
	}()
	err := cmd.Run()
	close(done)
	if large.Load() {
		return "", &gitError{args: args, stderr: g.scrub(stderr.String()), err: errTooLarge, large: true}
	}
	if err != nil {
		return "", &gitError{args: args, stderr: g.scrub(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

// has reports whether the repository holds commit sha.
func (g *gitRun) has(ctx context.Context, sha string) bool {
	_, err := g.run(ctx, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// head reads the checked-out commit from .git/HEAD, which a detached checkout writes as
// the bare SHA; anything else is asked of git.
func (g *gitRun) head(ctx context.Context) (string, error) {
	if b, err := os.ReadFile(filepath.Join(g.dir, ".git", "HEAD")); err == nil {
		if s := strings.TrimSpace(string(b)); shaRE.MatchString(s) {
			return s, nil
		}
	}
	out, err := g.run(ctx, "rev-parse", "--verify", "HEAD^{commit}")
	return strings.TrimSpace(out), err
}

// scrub removes credentials from git's messages; git does not print extra headers, but
// a server's error page might echo what it was sent.
func (g *gitRun) scrub(s string) string {
	for _, sec := range g.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return strings.TrimSpace(s)
}

type failKind int

const (
	failOther failKind = iota
	failTooLarge
	failAuth
	failGone
	failMissing
)

// kindOf reads what went wrong from git's stderr. The phrases are git's own (LANG=C),
// stable across the 2.x releases.
func kindOf(err error) failKind {
	if errors.Is(err, errTooLarge) {
		return failTooLarge
	}
	if errors.Is(err, errMissing) {
		return failMissing
	}
	var ge *gitError
	if !errors.As(err, &ge) {
		return failOther
	}
	if ge.large {
		return failTooLarge
	}
	s := strings.ToLower(ge.stderr)
	switch {
	case containsAny(s, "authentication failed", "could not read username", "could not read password",
		"returned error: 401", "returned error: 403", "terminal prompts disabled", "invalid username or password"):
		return failAuth
	case containsAny(s, "not our ref", "unadvertised object", "couldn't find remote ref", "no such remote ref",
		"not a valid object", "bad object", "unable to read tree", "reference is not a tree"):
		return failMissing
	case containsAny(s, "repository not found", "not found", "does not appear to be a git repository",
		"does not exist", "returned error: 404", "no such file or directory"):
		return failGone
	}
	return failOther
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// gitMessage is the most telling line of git's stderr, for error messages.
func gitMessage(err error) string {
	var ge *gitError
	if !errors.As(err, &ge) {
		return err.Error()
	}
	// The first fatal line names the cause; later ones are git's generic advice.
	lines := strings.Split(ge.stderr, "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "terminal prompts disabled") {
			// git's way of saying the server answered 401 to the credentials sent.
			return "HTTP 401: the server wants other credentials"
		}
		if strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "error:") {
			return l
		}
	}
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ge.err.Error()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// dirSize is the total size of the regular files under dir. Files vanishing during the
// walk (git renames temporary packs) are skipped.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
