// Package stagekit is what the pipeline's stage handlers (build, test, stage, deploy)
// have in common: running user commands with the log streamed to S3, turning a failed
// or timed-out run into the stage's named error with the log tail, fitting the stage's
// timeout inside the Lambda's own deadline, and writing the stage.started/finished audit
// records. Keeping it in one place keeps the stages' error messages and records alike.
package stagekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/workspace"
)

// Appender records audit entries (shared/audit on DynamoDB implements it).
type Appender interface {
	Append(ctx context.Context, r domain.Record) error
}

// RunLogged runs commands with their output streamed to the log object at key.
func RunLogged(ctx context.Context, store *artifact.Store, key string, commands []string, o runner.Options) (runner.Result, error) {
	res, logged, err := RunLoggedAsync(ctx, store, key, commands, o)
	if lerr := logged.Wait(); err == nil && lerr != nil {
		return res, lerr
	}
	return res, err
}

// RunLoggedAsync is RunLogged that returns as soon as the commands end, with the log's
// upload still finishing in logged, so the caller can overlap it with its next step. The
// caller must Wait on logged before reporting the stage done; a failed upload is an
// error of the stage, outranked only by the error returned here.
func RunLoggedAsync(ctx context.Context, store *artifact.Store, key string, commands []string, o runner.Options) (res runner.Result, logged *Pending, err error) {
	w := store.NewWriter(ctx, key, "text/plain; charset=utf-8")
	o.Output = w
	res, err = runner.Run(ctx, commands, o)
	logged = Start(func() error {
		if cerr := w.Close(); cerr != nil {
			return artifact.Wrap(cerr, domain.Internal, "store log %s", key)
		}
		return nil
	})
	if err != nil {
		return res, logged, domain.Errorf(domain.Internal, "%s commands: %w", o.Vars.Stage, err)
	}
	return res, logged, nil
}

// Failure turns a failed or timed-out run into the stage's error (kind for a failed
// command, StageTimedOut for a timeout), naming the command and its exit code and
// carrying the log tail: the failure notification shows the error's message.
func Failure(stage string, res runner.Result, kind domain.Kind) error {
	switch {
	case res.TimedOut:
		return domain.Errorf(domain.StageTimedOut, "%s timed out after %s running %q (process group killed)\n%s",
			stage, res.Duration.Round(time.Millisecond), Clip(res.Command, 200), TailBlock(res.Tail))
	case res.ExitCode != 0:
		return domain.Errorf(kind, "%s command %q exited with code %d\n%s", stage, Clip(res.Command, 200), res.ExitCode, TailBlock(res.Tail))
	}
	return nil
}

// TailBlock formats a log tail for an error message.
func TailBlock(tail string) string {
	if tail == "" {
		return "(no output)"
	}
	return "--- log tail ---\n" + strings.TrimRight(tail, "\n")
}

// Budget is the spec's stage timeout, shortened to leave the Lambda a minute to store
// the log and the snapshot before its own deadline (a Lambda killed at its deadline
// reports a Lambda timeout, not the StageTimedOut the user can act on).
func Budget(ctx context.Context, want time.Duration) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return want
	}
	left := time.Until(dl) - time.Minute
	if left < time.Second {
		left = time.Until(dl) / 2
	}
	return min(want, left)
}

// Outcome is the stage.finished record's outcome for err.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "succeeded"
	case domain.KindOf(err) == domain.StageTimedOut:
		return "timed_out"
	}
	return "failed"
}

// CheckRun rejects a run whose names cannot be used in S3 keys.
func CheckRun(run domain.Run) error {
	for _, c := range []struct{ what, v string }{{"pipeline", run.Pipeline}, {"run id", run.ID}, {"commit", run.Push.Commit}} {
		if err := artifact.CheckSegment(c.what, c.v); err != nil {
			return domain.Errorf(domain.Invalid, "bad input: %v", err)
		}
	}
	return nil
}

// Recorder writes one stage's audit records.
type Recorder struct {
	Audit Appender
	Run   domain.Run
	Stage string
	Now   func() time.Time
}

// Record appends a record of typ for the stage. Detail may be nil.
func (r Recorder) Record(ctx context.Context, typ domain.RecordType, outcome string, detail map[string]any) error {
	rec := domain.Record{Type: typ, Pipeline: r.Run.Pipeline, RunID: r.Run.ID, Commit: r.Run.Push.Commit,
		Actor: "system", Time: r.Now().UTC(), Stage: r.Stage, Outcome: outcome, Detail: detail}
	if err := r.Audit.Append(ctx, rec); err != nil {
		return artifact.Wrap(err, domain.Internal, "audit %s", typ)
	}
	return nil
}

// Finished appends the stage.finished record: outcome, duration, log key and, on
// failure, the error's first line, plus extra. A failure to record replaces success (the
// trail must not miss a stage that ran) but never hides the stage's own error.
func (r Recorder) Finished(ctx context.Context, outcome string, dur time.Duration, logKey string, err error, extra map[string]any) error {
	detail := map[string]any{"durationMs": dur.Milliseconds()}
	for k, v := range extra {
		detail[k] = v
	}
	if logKey != "" {
		detail["logKey"] = logKey
	}
	if err != nil {
		detail["error"] = FirstLine(err.Error())
		detail["errorKind"] = string(domain.KindOf(err))
	}
	rerr := r.Record(ctx, domain.RecStageFinished, outcome, detail)
	if err != nil {
		return err
	}
	return rerr
}

// Short is a commit's short form for messages (its first 12 characters).
func Short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// Clip shortens s to n bytes (plus an ellipsis).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// FirstLine is the first line of s, clipped.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return Clip(s, 300)
}

// MaxSpecBytes bounds the stored spec read back by later stages.
const MaxSpecBytes = 1 << 20

// LoadSpec reads the spec Build stored at key.
func LoadSpec(ctx context.Context, store *artifact.Store, key string) (*spec.Spec, error) {
	sp, _, err := LoadSpecDigest(ctx, store, key)
	return sp, err
}

// LoadSpecDigest is LoadSpec that also returns the digest ("sha256:<hex>") of the stored
// bytes, which Stage writes into the manifest and Deploy checks.
func LoadSpecDigest(ctx context.Context, store *artifact.Store, key string) (*spec.Spec, string, error) {
	if key == "" {
		return nil, "", domain.Errorf(domain.Invalid, "bad input: the state has no build.specKey (did Build run?)")
	}
	b, err := store.ReadAll(ctx, key, MaxSpecBytes)
	if err != nil {
		return nil, "", err
	}
	var sp spec.Spec
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, "", domain.Errorf(domain.SpecInvalid, "stored spec s3://%s/%s: %w", store.Bucket(), key, err)
	}
	return &sp, artifact.Digest(b), nil
}

// Dirs are a stage's scratch directories: the workspace and a HOME for user commands.
type Dirs struct {
	Workspace, Home string
	root            string
	from            *Scratch // removes them in the background; nil: Remove removes them
}

// NewDirs creates scratch directories under parent (os.TempDir() when empty).
func NewDirs(parent, stage string) (Dirs, error) {
	root, err := os.MkdirTemp(parent, "shipgate-"+stage+"-")
	if err != nil {
		return Dirs{}, domain.Errorf(domain.Internal, "create workspace: %w", err)
	}
	d := Dirs{Workspace: filepath.Join(root, "ws"), Home: filepath.Join(root, "home"), root: root}
	for _, p := range []string{d.Workspace, d.Home} {
		if err := os.Mkdir(p, 0o700); err != nil {
			os.RemoveAll(root)
			return Dirs{}, domain.Errorf(domain.Internal, "create workspace: %w", err)
		}
	}
	return d, nil
}

// Remove deletes the directories. Without a Scratch that is before the stage reports:
// a warm Lambda must not fill /tmp run after run, nor hold two workspaces at once near
// its storage limit. With one, see Scratch.
func (d Dirs) Remove() {
	if d.from != nil {
		d.from.remove(d.root)
		return
	}
	os.RemoveAll(d.root)
}

// Scratch hands out one stage handler's scratch directories where making and removing
// directories is slow (a disk-backed /tmp: on the VM this was measured on, each new
// directory costs 0.4 ms and each removed one 0.2, most of a small stage's file work).
// It makes the next set ahead, while the stage runs, and removes a used set after the
// stage has reported, both in the background. The guarantees of Remove still hold
// where it matters: Dirs waits until every set this Scratch was given back is gone
// before handing out another, so a handler never holds a used workspace beside the ones
// its running invocations have, and Close waits for all of it. A set made ahead is
// handed out only if it is still the directories that were made, empty (a tmp cleaner
// may have removed it meanwhile, and another user made others of the same names).
// Local mode gives each stage handler one; a Lambda uses none (its background work
// would be frozen between invocations anyway).
type Scratch struct {
	parent, stage string
	mu            sync.Mutex
	closed        bool
	removing      map[chan struct{}]bool // one per removal under way, closed when it ends
	spare         chan spareSet          // holds at most one set made ahead
	making        chan struct{}          // closed when the set being made ahead is ready; nil: none
}

// spareSet is a set made ahead, with the identity of its three directories as made: what
// is found there when it is handed out must be them (a tmp cleaner may remove an idle
// set, and anyone may then make directories of the same names in a shared /tmp).
type spareSet struct {
	d   Dirs
	ids [3]os.FileInfo // root, workspace, home
}

// NewScratch returns a Scratch making stage's directories under parent (os.TempDir()
// when empty), with the first set made ahead at once.
func NewScratch(parent, stage string) *Scratch {
	s := &Scratch{parent: parent, stage: stage, spare: make(chan spareSet, 1), removing: map[chan struct{}]bool{}}
	s.mu.Lock()
	s.makeAhead()
	s.mu.Unlock()
	return s
}

// Dirs waits for the sets given back to be gone, then hands out a set: the one made
// ahead when it is ready, else a new one, and starts making the next.
func (s *Scratch) Dirs() (Dirs, error) {
	s.waitRemovals()
	var d Dirs
	select {
	case sp := <-s.spare:
		switch {
		case intact(sp):
			d = sp.d
		case ours(sp):
			os.RemoveAll(sp.d.root) // ours, but not as made: nobody else can write in it
		}
		// Otherwise it was cleaned away since it was made, and whatever is there now
		// is not ours to use, nor to remove.
	default:
	}
	if d.root == "" {
		var err error
		if d, err = NewDirs(s.parent, s.stage); err != nil {
			return Dirs{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		d.from = s
		s.makeAhead()
	}
	return d, nil
}

// makeAhead starts making a spare set unless one is ready or on its way. s.mu is held.
func (s *Scratch) makeAhead() {
	if s.making != nil || s.closed || len(s.spare) > 0 {
		return
	}
	done := make(chan struct{})
	s.making = done
	go func() {
		defer close(done)
		d, err := NewDirs(s.parent, s.stage)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.making = nil
		if err != nil {
			return // Dirs makes its own, and reports the error
		}
		sp, ok := identify(d)
		if s.closed || !ok {
			os.RemoveAll(d.root)
			return
		}
		s.spare <- sp
	}()
}

// identify records what a set made ahead is made of.
func identify(d Dirs) (spareSet, bool) {
	sp := spareSet{d: d}
	for i, p := range []string{d.root, d.Workspace, d.Home} {
		fi, err := os.Lstat(p)
		if err != nil {
			return sp, false
		}
		sp.ids[i] = fi
	}
	return sp, true
}

// intact reports whether a set made ahead is still the directories that were made, all
// three of them, with nothing in them: directories (not symlinks), the same files with
// the same modes as made, and this process's user's (an inode number can be reused,
// but nobody else can make a directory that is ours).
func intact(sp spareSet) bool {
	for i, p := range []string{sp.d.root, sp.d.Workspace, sp.d.Home} {
		if !asMade(p, sp.ids[i]) {
			return false
		}
	}
	for _, p := range []string{sp.d.Workspace, sp.d.Home} {
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		names, err := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 || !errors.Is(err, io.EOF) {
			return false
		}
	}
	return true
}

// ours reports whether a set's root is still the directory that was made, this user's:
// then whatever is in it was put there by this user too, and it may be removed.
func ours(sp spareSet) bool { return asMade(sp.d.root, sp.ids[0]) }

// asMade reports whether path is still the directory was described when it was made:
// a directory, not a symlink, the same file with the same mode, this user's.
func asMade(path string, was os.FileInfo) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir() && os.SameFile(fi, was) && fi.Mode() == was.Mode() && ownDir(fi)
}

// waitRemovals waits for the removals under way when it was called.
func (s *Scratch) waitRemovals() {
	s.mu.Lock()
	pending := make([]chan struct{}, 0, len(s.removing))
	for done := range s.removing {
		pending = append(pending, done)
	}
	s.mu.Unlock()
	for _, done := range pending {
		<-done
	}
}

func (s *Scratch) remove(root string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		os.RemoveAll(root)
		return
	}
	done := make(chan struct{})
	s.removing[done] = true
	go func() {
		os.RemoveAll(root)
		s.mu.Lock()
		delete(s.removing, done)
		s.mu.Unlock()
		close(done)
	}()
}

// Close waits for the removals under way and removes the set made ahead; later sets are
// made and removed in the foreground.
func (s *Scratch) Close() error {
	s.mu.Lock()
	s.closed = true
	making := s.making
	s.mu.Unlock()
	s.waitRemovals() // later ones are made in the foreground
	if making != nil {
		<-making // a set being made now is removed by its maker, which sees s.closed
	}
	select {
	case sp := <-s.spare:
		if ours(sp) {
			return os.RemoveAll(sp.d.root)
		}
		return nil
	default:
		return nil
	}
}

// Restore extracts Build's workspace snapshot into the workspace directory.
func (d Dirs) Restore(ctx context.Context, store *artifact.Store, b *domain.BuildResult) error {
	return d.RestoreMatching(ctx, store, b, nil)
}

// RestoreMatching extracts only the files keep accepts (nil: all).
func (d Dirs) RestoreMatching(ctx context.Context, store *artifact.Store, b *domain.BuildResult, keep func(string) bool) error {
	if b == nil || b.WorkspaceKey == "" {
		return domain.Errorf(domain.Invalid, "bad input: the state has no build.workspaceKey (did Build run?)")
	}
	if err := workspace.RestoreMatching(ctx, store, b.WorkspaceKey, d.Workspace, keep); err != nil {
		return artifact.Wrap(err, domain.Internal, "restore workspace")
	}
	return nil
}

// DirsFrom makes a stage's scratch directories: from s when there is one, else under
// parent (NewDirs).
func DirsFrom(s *Scratch, parent, stage string) (Dirs, error) {
	if s != nil {
		return s.Dirs()
	}
	return NewDirs(parent, stage)
}

// Vars are the SHIPGATE_* variables of run for stage.
func Vars(run domain.Run, stage string) runner.Vars {
	return runner.Vars{RunID: run.ID, Commit: run.Push.Commit, Branch: run.Push.Branch, Repo: run.Push.Repository, Stage: stage}
}

// Pending is a step started on its own goroutine so a stage can overlap it with work
// that does not depend on it (an audit write with a fetch, an upload with commands).
// Wait may be called any number of times; each returns the step's error.
type Pending struct {
	done chan struct{}
	err  error
}

// Start runs f concurrently.
func Start(f func() error) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = f()
	}()
	return p
}

// Wait waits for the step to end and returns its error.
func (p *Pending) Wait() error {
	<-p.done
	return p.err
}

// Frame is what every stage's handler brings to Handle.
type Frame struct {
	Audit Appender
	Stage string
	Now   func() time.Time
	// Pipeline is the configured pipeline, used when the run names none.
	Pipeline string
}

// Finish is what a stage puts in its stage.finished record beyond the duration and the
// error.
type Finish struct {
	Outcome string // empty means Outcome(err)
	LogKey  string
	Extra   map[string]any
}

// Handle is the bookkeeping every stage wraps around its work, kept in one place so the
// stages' audit trails cannot drift apart: check the run, write stage.started
// concurrently with body (body waits on started before its first side effect), then
// record stage.finished with what finish reports. A failed stage.started write outranks
// body's error; a failed stage.finished write only replaces success. finish gets the
// stage's duration and may set it on out.
func Handle[T any](ctx context.Context, f Frame, run domain.Run,
	body func(ctx context.Context, rec Recorder, started *Pending) (T, error),
	finish func(out *T, dur time.Duration, err error) Finish) (T, error) {
	var zero T
	start := f.Now()
	if run.Pipeline == "" {
		run.Pipeline = f.Pipeline
	}
	if err := CheckRun(run); err != nil {
		return zero, err
	}
	rec := Recorder{Audit: f.Audit, Run: run, Stage: f.Stage, Now: f.Now}
	started := Start(func() error { return rec.Record(ctx, domain.RecStageStarted, "", nil) })
	out, err := body(ctx, rec, started)
	if serr := started.Wait(); serr != nil {
		return zero, serr
	}
	dur := f.Now().Sub(start)
	fin := finish(&out, dur, err)
	if fin.Outcome == "" {
		fin.Outcome = Outcome(err)
	}
	if err := rec.Finished(ctx, fin.Outcome, dur, fin.LogKey, err, fin.Extra); err != nil {
		return zero, err
	}
	return out, nil
}

// Store is the artifact store on cfg.Bucket that every stage reads and writes; stage
// names the stage in the error when the client or the bucket is missing.
func Store(stage string, cfg app.Config, deps *app.Deps) (*artifact.Store, error) {
	if deps == nil || deps.S3 == nil {
		return nil, fmt.Errorf("%s: no S3 client", stage)
	}
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("%s: no bucket configured (SHIPGATE_BUCKET)", stage)
	}
	return artifact.New(deps.S3, cfg.Bucket), nil
}

// AuditOr is a, or else the audit trail on cfg.Table: what each stage's constructor
// uses when no audit store is passed in. stage names the stage in the error.
func AuditOr(a Appender, stage string, cfg app.Config, deps *app.Deps) (Appender, error) {
	if a != nil {
		return a, nil
	}
	if deps == nil || deps.DynamoDB == nil {
		return nil, fmt.Errorf("%s: no DynamoDB client for the audit trail", stage)
	}
	return audit.NewDynamo(deps.DynamoDB, cfg.Table), nil
}
