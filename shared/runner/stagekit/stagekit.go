// Package stagekit is what the pipeline's stage handlers (build, test, stage, deploy)
// have in common: running user commands with the log streamed to S3, turning a failed
// or timed-out run into the stage's named error with the log tail, fitting the stage's
// timeout inside the Lambda's own deadline, and writing the stage.started/finished audit
// records. Keeping it in one place keeps the stages' error messages and records alike.
package stagekit

import (
	"context"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner"
)

// Appender records audit entries (shared/audit on DynamoDB implements it).
type Appender interface {
	Append(ctx context.Context, r domain.Record) error
}

// RunLogged runs commands with their output streamed to the log object at key.
func RunLogged(ctx context.Context, store *artifact.Store, key string, commands []string, o runner.Options) (runner.Result, error) {
	w := store.NewWriter(ctx, key, "text/plain; charset=utf-8")
	o.Output = w
	res, err := runner.Run(ctx, commands, o)
	if cerr := w.Close(); err == nil && cerr != nil {
		return res, artifact.Wrap(cerr, domain.Internal, "store log %s", key)
	}
	if err != nil {
		return res, domain.Errorf(domain.Internal, "%s commands: %w", o.Vars.Stage, err)
	}
	return res, nil
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
// failure, the error's first line. A failure to record replaces success (the trail must
// not miss a stage that ran) but never hides the stage's own error.
func (r Recorder) Finished(ctx context.Context, outcome string, dur time.Duration, logKey string, err error) error {
	detail := map[string]any{"durationMs": dur.Milliseconds()}
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

// Short is a commit's short form for messages.
func Short(commit string) string { return Clip(commit, 12) }

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
