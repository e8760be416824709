// Package test is the Test stage: restore the workspace Build snapshotted, run the spec's
// test commands, and read the JUnit XML reports they wrote into counts and failing test
// names. A failing command or a report with failures ends the run with TestsFailed; the
// reports themselves are kept in S3, and only their keys travel in the run's state.
package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/junit"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/workspace"
)

// Stage is this stage's name in logs, audit records and S3 keys.
const Stage = "test"

// MaxReports bounds the reports read per run (and the keys carried in state).
const MaxReports = 20

// maxProblems bounds the report problems quoted in a failure message.
const maxProblems = 5

// Options override what New builds from the config; tests use them for fakes.
type Options struct {
	Audit   stagekit.Appender
	WorkDir string            // parent of scratch directories; empty means os.TempDir()
	Scratch *stagekit.Scratch // when set, makes and removes them instead (local mode)
	Path    string            // PATH for user commands; empty means runner.DefaultPath
}

// Handler runs the Test stage.
type Handler struct {
	cfg   app.Config
	store *artifact.Store
	audit stagekit.Appender
	now   func() time.Time
	opts  Options
}

// New builds the handler from the Lambda's config and clients.
func New(cfg app.Config, deps *app.Deps) (*Handler, error) { return NewWith(cfg, deps, Options{}) }

// NewWith is New with overrides.
func NewWith(cfg app.Config, deps *app.Deps, o Options) (*Handler, error) {
	store, err := stagekit.Store("test", cfg, deps)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, store: store, audit: o.Audit, now: deps.Clock(), opts: o}
	if h.audit, err = stagekit.AuditOr(h.audit, "test", cfg, deps); err != nil {
		return nil, err
	}
	return h, nil
}

// Handle runs the stage. Every error it returns has passed through lambdaerr.Boundary.
func (h *Handler) Handle(ctx context.Context, in domain.State) (domain.TestResult, error) {
	out, err := h.handle(ctx, in)
	return out, lambdaerr.Boundary(err)
}

func (h *Handler) handle(ctx context.Context, in domain.State) (domain.TestResult, error) {
	// stage.started is written while the spec and the workspace are read back; nothing
	// leaves the scratch directory before it is recorded, and a failed write still
	// stops the stage.
	f := stagekit.Frame{Audit: h.audit, Stage: Stage, Now: h.now, Pipeline: h.cfg.Pipeline}
	return stagekit.Handle(ctx, f, in.Run,
		func(ctx context.Context, rec stagekit.Recorder, started *stagekit.Pending) (domain.TestResult, error) {
			return h.test(ctx, rec.Run, in.Build, started)
		},
		func(out *domain.TestResult, dur time.Duration, err error) stagekit.Finish {
			out.DurationMs = dur.Milliseconds()
			return stagekit.Finish{LogKey: out.LogKey}
		})
}

func (h *Handler) test(ctx context.Context, run domain.Run, b *domain.BuildResult, started *stagekit.Pending) (domain.TestResult, error) {
	var out domain.TestResult
	if b == nil {
		return out, domain.Errorf(domain.Invalid, "bad input: the state has no build result")
	}
	// The spec and the workspace are independent reads: they are fetched side by side,
	// and their errors are reported in the order they were read in before.
	var sp *spec.Spec
	specRead := stagekit.Start(func() (err error) {
		sp, err = stagekit.LoadSpec(ctx, h.store, b.SpecKey)
		return err
	})
	dirs, err := stagekit.DirsFrom(h.opts.Scratch, h.opts.WorkDir, Stage)
	if err != nil {
		if serr := specRead.Wait(); serr != nil {
			return out, serr
		}
		return out, err
	}
	defer dirs.Remove()
	rerr := dirs.Restore(ctx, h.store, b)
	if err := specRead.Wait(); err != nil {
		return out, err
	}
	if rerr != nil {
		return out, rerr
	}

	if err := started.Wait(); err != nil {
		return out, err
	}
	var res runner.Result
	if len(sp.Test.Commands) > 0 {
		out.LogKey = artifact.LogKey(run.Pipeline, run.ID, Stage)
		res, err = stagekit.RunLogged(ctx, h.store, out.LogKey, sp.Test.Commands, runner.Options{
			Dir: dirs.Workspace, Env: sp.Env, Home: dirs.Home, Path: h.opts.Path,
			Timeout: stagekit.Budget(ctx, sp.Test.TimeoutOr()), Vars: stagekit.Vars(run, Stage),
		})
		out.ExitCode, out.LogTail = res.ExitCode, res.Tail
		if err != nil {
			return out, err
		}
		if res.TimedOut {
			return out, stagekit.Failure(Stage, res, domain.TestsFailed)
		}
	}

	sum, problems, err := h.reports(ctx, run, dirs.Workspace, sp.Test.Reports, &out)
	if err != nil {
		return out, err
	}
	out.Passed, out.Failed, out.Skipped, out.FailedTests = sum.Passed, sum.Failed, sum.Skipped, sum.FailedTests
	if len(sp.Test.Reports) > 0 && len(out.ReportKeys) == 0 && res.OK() {
		problems = append(problems, fmt.Sprintf("no file matches test.reports %v", sp.Test.Reports))
	}
	if res.OK() && sum.Failed == 0 && len(problems) == 0 {
		return out, nil
	}

	var msg strings.Builder
	fmt.Fprintf(&msg, "tests failed: %d failed, %d passed, %d skipped", sum.Failed, sum.Passed, sum.Skipped)
	if len(sum.FailedTests) > 0 {
		fmt.Fprintf(&msg, "\nfailing: %s", strings.Join(sum.FailedTests, ", "))
		if sum.MoreFailed > 0 {
			fmt.Fprintf(&msg, " and %d more", sum.MoreFailed)
		}
	}
	for i, p := range problems {
		if i == maxProblems {
			fmt.Fprintf(&msg, "\n... and %d more report problems", len(problems)-i)
			break
		}
		fmt.Fprintf(&msg, "\nreport problem: %s", stagekit.Clip(p, 300))
	}
	if !res.OK() {
		fmt.Fprintf(&msg, "\n%s", stagekit.Failure(Stage, res, domain.TestsFailed))
	} else if out.LogTail != "" {
		fmt.Fprintf(&msg, "\n%s", stagekit.TailBlock(out.LogTail))
	}
	return out, domain.Errorf(domain.TestsFailed, "%s", msg.String())
}

// reports uploads and parses the JUnit reports matching globs. Unreadable reports are
// problems (the run fails and says which), not errors of the stage itself.
func (h *Handler) reports(ctx context.Context, run domain.Run, ws string, globs []string, out *domain.TestResult) (junit.Summary, []string, error) {
	var sum junit.Summary
	var problems []string
	seen := map[string]bool{}
	for _, g := range globs {
		files, err := workspace.Glob(ws, g)
		if err != nil {
			return sum, nil, domain.Errorf(domain.Internal, "find reports %s: %w", g, err)
		}
		for _, rel := range files {
			if seen[rel] {
				continue
			}
			seen[rel] = true
			if len(out.ReportKeys) == MaxReports {
				problems = append(problems, fmt.Sprintf("more than %d reports; %s and later ones were not read", MaxReports, rel))
				return sum, problems, nil
			}
			key := artifact.ReportKey(run.Pipeline, run.ID, rel)
			if _, err := h.store.PutFile(ctx, key, filepath.Join(ws, filepath.FromSlash(rel)), "application/xml"); err != nil {
				return sum, nil, err
			}
			out.ReportKeys = append(out.ReportKeys, key)
			f, err := os.Open(filepath.Join(ws, filepath.FromSlash(rel)))
			if err != nil {
				return sum, nil, domain.Errorf(domain.Internal, "open report %s: %w", rel, err)
			}
			s, err := junit.Parse(f)
			f.Close()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", rel, err))
				continue
			}
			sum.Add(s)
		}
	}
	return sum, problems, nil
}
