// Package runner runs a stage's user commands: each with `sh -c` in the workspace, in
// its own process group so that a timeout kills everything the command started, with an
// environment built from scratch (the spec's env and the SHIPGATE_* variables) so the
// orchestrator's credentials and secrets never reach user code, and with the output
// streamed to a log writer under a size cap while the tail is kept for notifications.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate/shared/domain"
)

// Vars are the SHIPGATE_* variables every command sees.
type Vars struct {
	RunID, Commit, Branch, Repo, Stage string
}

// Options configure Run.
type Options struct {
	Dir  string            // working directory (the workspace)
	Env  map[string]string // the spec's env
	Vars Vars
	// Timeout bounds the whole stage (all commands); 0 means only ctx bounds it.
	Timeout time.Duration
	// Output receives the full log; nil discards it (the tail is still kept).
	Output io.Writer
	// MaxLog caps the bytes written to Output; 0 means DefaultMaxLog.
	MaxLog int64
	// Home is HOME for the commands; empty means Dir.
	Home string
	// Path is PATH for the commands; empty means DefaultPath.
	Path string
}

// DefaultMaxLog caps a stage's stored log; the tail is kept beyond it.
const DefaultMaxLog = 64 << 20

// DefaultPath is the PATH commands get: system directories and the usual toolchain homes
// of the build image, not the orchestrator's own PATH (which may name its private tools).
const DefaultPath = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// straggleWait bounds how long Run waits for output after the shell exited and its group
// was killed: a process that left the group (setsid) may still hold the pipe.
const straggleWait = 2 * time.Second

// Result is the outcome of a stage's commands.
type Result struct {
	// ExitCode of the last command run: 0 when all succeeded; 128+signal when killed.
	ExitCode int
	// Command is the command that failed or timed out; empty on success.
	Command  string
	TimedOut bool
	// Tail is the end of the output, at most domain.LogTailBytes, valid UTF-8.
	Tail string
	// LogBytes is the size of the output; Truncated says the log was cut at MaxLog.
	LogBytes  int64
	Truncated bool
	Duration  time.Duration
}

// OK reports whether every command succeeded.
func (r Result) OK() bool { return r.ExitCode == 0 && !r.TimedOut }

// Run runs commands in order, stopping at the first failure. A command failing or timing
// out is reported in Result, not as an error; the error is for not being able to run at
// all (missing workspace, no shell, a broken log writer).
func Run(ctx context.Context, commands []string, o Options) (Result, error) {
	start := time.Now()
	if st, err := os.Stat(o.Dir); err != nil || !st.IsDir() {
		return Result{}, fmt.Errorf("workspace %q is not a directory", o.Dir)
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	maxLog := o.MaxLog
	if maxLog <= 0 {
		maxLog = DefaultMaxLog
	}
	sink := &sink{out: o.Output, max: maxLog}
	env := Environ(o)
	var res Result
	for _, c := range commands {
		if ctx.Err() != nil {
			res.TimedOut, res.Command = true, c
			break
		}
		fmt.Fprintf(sink, "$ %s\n", c)
		code, timedOut, err := runOne(ctx, c, o.Dir, env, sink)
		if err != nil {
			return res, err
		}
		res.ExitCode = code
		if timedOut {
			res.TimedOut, res.Command = true, c
			fmt.Fprintf(sink, "\nshipgate: stage timed out after %s; killed the command's process group\n", o.Timeout)
			break
		}
		if code != 0 {
			res.Command = c
			fmt.Fprintf(sink, "\nshipgate: command exited with code %d\n", code)
			break
		}
	}
	if sink.werr != nil {
		return res, fmt.Errorf("write log: %w", sink.werr)
	}
	res.LogBytes, res.Truncated = sink.n, sink.n > maxLog
	if res.Truncated && sink.out != nil {
		if _, err := fmt.Fprintf(sink.out, "\nshipgate: log truncated at %d of %d bytes\n", maxLog, sink.n); err != nil {
			return res, fmt.Errorf("write log: %w", err)
		}
	}
	res.Tail = sink.tail()
	res.Duration = time.Since(start)
	return res, nil
}

func runOne(ctx context.Context, command, dir string, env []string, out io.Writer) (code int, timedOut bool, err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, false, err
	}
	defer pr.Close()
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir, cmd.Env = dir, env
	// An *os.File, so exec starts no copying goroutine and Wait returns when the shell
	// exits even if a background child still holds the pipe.
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return 0, false, fmt.Errorf("start %q: %w", command, err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	copied := make(chan struct{})
	go func() { io.Copy(out, pr); close(copied) }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		timedOut = true
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		werr = <-waited
	}
	// Whatever the command left running in its group dies with the stage.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(straggleWait):
		pr.Close()
		<-copied
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return 0, timedOut, fmt.Errorf("wait for %q: %w", command, werr)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), timedOut, nil
	}
	return ws.ExitStatus(), timedOut, nil
}

// Environ is the complete environment of a command: a minimal base, the spec's env, then
// the SHIPGATE_* variables (which the spec cannot override). Nothing is inherited from
// the orchestrator's process.
func Environ(o Options) []string {
	home := o.Home
	if home == "" {
		home = o.Dir
	}
	p := o.Path
	if p == "" {
		p = DefaultPath
	}
	m := map[string]string{
		"PATH":   p,
		"HOME":   home,
		"LANG":   "C.UTF-8",
		"TMPDIR": os.TempDir(),
		"CI":     "true",
	}
	for k, v := range o.Env {
		m[k] = v
	}
	m["SHIPGATE_RUN_ID"] = o.Vars.RunID
	m["SHIPGATE_COMMIT"] = o.Vars.Commit
	m["SHIPGATE_BRANCH"] = o.Vars.Branch
	m["SHIPGATE_REPO"] = o.Vars.Repo
	m["SHIPGATE_STAGE"] = o.Vars.Stage
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+m[k])
	}
	return env
}

// sink writes the log up to max bytes and keeps the last bytes for the tail.
type sink struct {
	out  io.Writer
	max  int64
	n    int64
	werr error
	ring []byte
}

func (s *sink) Write(p []byte) (int, error) {
	if s.out != nil && s.werr == nil && s.n < s.max {
		room := s.max - s.n
		q := p
		if int64(len(q)) > room {
			q = q[:room]
		}
		if _, err := s.out.Write(q); err != nil {
			s.werr = err
		}
	}
	s.n += int64(len(p))
	s.ring = append(s.ring, p...)
	if len(s.ring) > 2*domain.LogTailBytes {
		s.ring = append(s.ring[:0], s.ring[len(s.ring)-domain.LogTailBytes:]...)
	}
	// Never fail the command's writes: a broken log must not change its exit code.
	return len(p), nil
}

// tail returns at most LogTailBytes of the end, starting at a line when one starts
// within the window, as valid UTF-8.
func (s *sink) tail() string {
	b := s.ring
	if len(b) > domain.LogTailBytes {
		b = b[len(b)-domain.LogTailBytes:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
