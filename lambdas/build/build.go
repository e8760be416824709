// Package build is the Build stage: fetch the pushed commit, read its shipgate.yml, apply
// the spec's branch and path filters (a filtered push ends the run as skipped), run the
// build commands, and snapshot the workspace to S3 for Test and Stage, since Lambdas
// share no disk. Its output is a summary with S3 references, never the log itself.
package build

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/workspace"
)

// Stage is this stage's name in logs, audit records and S3 keys.
const Stage = "build"

// Source is what fetching a commit yields.
type Source struct {
	Commit string
	// ChangedFiles between the push's Before and Commit; nil means unknown, in which case
	// path filters let the push through.
	ChangedFiles []string
}

// FetchFunc checks out push.Commit into dir.
type FetchFunc func(ctx context.Context, push domain.Push, dir string) (Source, error)

// Options override what New builds from the config; tests use them for fakes.
type Options struct {
	Fetch FetchFunc
	Audit stagekit.Appender
	// WorkDir is where workspaces are created; empty means os.TempDir() (/tmp on Lambda).
	WorkDir string
	// Scratch, when set, makes and removes the workspaces instead (local mode).
	Scratch *stagekit.Scratch
	// Path is PATH for user commands; empty means runner.DefaultPath.
	Path string
}

// Handler runs the Build stage.
type Handler struct {
	cfg   app.Config
	store *artifact.Store
	fetch FetchFunc
	audit stagekit.Appender
	now   func() time.Time
	opts  Options
}

// New builds the handler from the Lambda's config and clients.
func New(cfg app.Config, deps *app.Deps) (*Handler, error) { return NewWith(cfg, deps, Options{}) }

// NewWith is New with overrides.
func NewWith(cfg app.Config, deps *app.Deps, o Options) (*Handler, error) {
	store, err := stagekit.Store("build", cfg, deps)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, store: store, fetch: o.Fetch, audit: o.Audit, now: deps.Clock(), opts: o}
	if h.audit, err = stagekit.AuditOr(h.audit, "build", cfg, deps); err != nil {
		return nil, err
	}
	if h.fetch == nil {
		f, err := defaultFetch(cfg, deps)
		if err != nil {
			return nil, err
		}
		h.fetch = f
	}
	return h, nil
}

// Handle runs the stage. Every error it returns has passed through lambdaerr.Boundary.
func (h *Handler) Handle(ctx context.Context, in domain.State) (domain.BuildResult, error) {
	out, err := h.handle(ctx, in)
	return out, lambdaerr.Boundary(err)
}

func (h *Handler) handle(ctx context.Context, in domain.State) (domain.BuildResult, error) {
	// stage.started is written while the commit is fetched: fetching has no effect
	// outside the scratch directory, and every later record of the stage waits for it, so
	// the chain's order is unchanged and a failed write still stops the stage.
	f := stagekit.Frame{Audit: h.audit, Stage: Stage, Now: h.now, Pipeline: h.cfg.Pipeline}
	return stagekit.Handle(ctx, f, in.Run,
		func(ctx context.Context, rec stagekit.Recorder, started *stagekit.Pending) (domain.BuildResult, error) {
			return h.build(ctx, rec, rec.Run, started)
		},
		func(out *domain.BuildResult, dur time.Duration, err error) stagekit.Finish {
			out.DurationMs = dur.Milliseconds()
			fin := stagekit.Finish{LogKey: out.LogKey}
			if err == nil && out.Skipped {
				fin.Outcome = "skipped"
			}
			return fin
		})
}

func (h *Handler) build(ctx context.Context, rec stagekit.Recorder, run domain.Run, started *stagekit.Pending) (domain.BuildResult, error) {
	var out domain.BuildResult
	dirs, err := stagekit.DirsFrom(h.opts.Scratch, h.opts.WorkDir, Stage)
	if err != nil {
		return out, err
	}
	defer dirs.Remove()
	ws, home := dirs.Workspace, dirs.Home

	// The checkout takes its files from those made ahead with the workspace, if any.
	src, err := h.fetch(inodes.NewContext(ctx, dirs.Inodes), run.Push, ws)
	if err != nil {
		if domain.KindOf(err) == domain.Internal {
			err = domain.Errorf(domain.SourceUnavailable, "fetch %s at %s: %w", run.Push.Repository, run.Push.Commit, err)
		}
		return out, err
	}
	sp, err := spec.Load(ws)
	if err != nil {
		if k := domain.KindOf(err); k == domain.SpecMissing || k == domain.SpecInvalid {
			return out, &domain.Error{Kind: k, Msg: "commit " + stagekit.Short(run.Push.Commit), Err: err}
		}
		return out, domain.Errorf(domain.SpecInvalid, "read %s at commit %s: %w", spec.FileName, stagekit.Short(run.Push.Commit), err)
	}
	wait := sp.Approval.ApprovalTimeout()
	if sp.Approval.Timeout == 0 && h.cfg.ApprovalTimeout > 0 {
		wait = h.cfg.ApprovalTimeout // the deployment's default, when the spec names none
	}
	out.ApprovalTimeoutSeconds = int(wait / time.Second)
	if ok, reason := spec.Matches(sp, run.Push.Branch, src.ChangedFiles); !ok {
		out.Skipped, out.Reason = true, stagekit.Clip(reason, 1024)
		if err := started.Wait(); err != nil {
			return out, err
		}
		return out, rec.Record(ctx, domain.RecPushSkipped, "skipped", map[string]any{"reason": reason, "branch": run.Push.Branch})
	}

	specJSON, err := json.Marshal(sp)
	if err != nil {
		return out, domain.Errorf(domain.Internal, "encode spec: %w", err)
	}
	out.SpecKey = artifact.SpecKey(run.Pipeline, run.ID)
	// The stored spec is read only by later stages, so it is uploaded while the build
	// commands run; the stage does not report done before the upload has succeeded, and
	// an upload failure outranks the commands' own result, as when it came first.
	specPut := stagekit.Start(func() error {
		_, err := h.store.PutBytes(ctx, out.SpecKey, specJSON, "application/json")
		return err
	})
	defer specPut.Wait()
	if len(sp.Build.Commands) == 0 {
		if err := specPut.Wait(); err != nil {
			return out, err
		}
	}

	if len(sp.Build.Commands) > 0 {
		// User commands may reach outside the workspace: none runs before the trail
		// says the stage started.
		if err := started.Wait(); err != nil {
			return out, err
		}
		out.LogKey = artifact.LogKey(run.Pipeline, run.ID, Stage)
		res, logged, err := stagekit.RunLoggedAsync(ctx, h.store, out.LogKey, sp.Build.Commands, runner.Options{
			Dir: ws, Env: sp.Env, Home: home, Path: h.opts.Path,
			Timeout: stagekit.Budget(ctx, sp.Build.TimeoutOr()),
			Vars:    runner.Vars{RunID: run.ID, Commit: run.Push.Commit, Branch: run.Push.Branch, Repo: run.Push.Repository, Stage: Stage},
		})
		out.ExitCode, out.LogTail = res.ExitCode, res.Tail
		// The log's upload ends while the workspace is snapshotted; the stage waits for
		// both, and a failed log upload still outranks what follows, as before.
		defer logged.Wait()
		if perr := specPut.Wait(); perr != nil {
			return out, perr
		}
		if err != nil {
			return out, err
		}
		if ferr := stagekit.Failure(Stage, res, domain.BuildFailed); ferr != nil {
			if lerr := logged.Wait(); lerr != nil {
				return out, lerr
			}
			return out, ferr
		}
		key, serr := h.snapshot(ctx, run, ws)
		if lerr := logged.Wait(); lerr != nil {
			return out, lerr
		}
		out.WorkspaceKey = key
		return out, serr
	}
	out.WorkspaceKey, err = h.snapshot(ctx, run, ws)
	return out, err
}

// snapshot stores the workspace for Test and Stage.
func (h *Handler) snapshot(ctx context.Context, run domain.Run, ws string) (string, error) {
	key := artifact.WorkspaceKey(run.Pipeline, run.ID)
	if _, err := workspace.Snapshot(ctx, h.store, key, ws); err != nil {
		return "", artifact.Wrap(err, domain.Internal, "snapshot workspace")
	}
	return key, nil
}
