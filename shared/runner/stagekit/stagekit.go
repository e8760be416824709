// Package stagekit is what the pipeline's stage handlers (build, test, stage, deploy)
// have in common: running user commands with the log streamed to S3, turning a failed
// or timed-out run into the stage's named error with the log tail, fitting the stage's
// timeout inside the Lambda's own deadline, and writing the stage.started/finished audit
// records. Keeping it in one place keeps the stages' error messages and records alike.
package stagekit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/spec"
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
