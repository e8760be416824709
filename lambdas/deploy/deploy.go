// Package deploy is the Deploy stage, the only step with effects outside shipgate. Before
// anything else it re-reads the run's recorded decision (strongly consistent), so even an
// execution resumed without a recorded approval cannot deploy; it refuses when the
// approved manifest digest differs from the staged one or from the manifest in S3, and
// when any downloaded artifact's SHA-256 differs from the manifest. It then copies the
// artifacts to the spec's S3 target and/or runs the deploy commands. A conditional write
// of a deploy marker before the first side effect makes a retried invocation (a Lambda
// timeout after the deploy happened) report the earlier deploy instead of deploying twice.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/spec"
)

// Stage is this stage's name in logs, audit records and S3 keys.
const Stage = "deploy"

// DecisionReader reads the final recorded decision of a run (shared/approval's store).
// It returns an error of kind domain.NotFound when none is recorded.
type DecisionReader interface {
	FinalDecision(ctx context.Context, runID string) (domain.Decision, error)
}

// Options override what New builds from the config; tests use them for fakes.
type Options struct {
	Decisions DecisionReader
	Audit     stagekit.Appender
	Markers   MarkerAPI
	WorkDir   string            // parent of scratch directories; empty means os.TempDir()
	Scratch   *stagekit.Scratch // when set, makes and removes them instead (local mode)
	Path      string            // PATH for user commands; empty means runner.DefaultPath
}

// Handler runs the Deploy stage.
type Handler struct {
	cfg       app.Config
	store     *artifact.Store
	decisions DecisionReader
	audit     stagekit.Appender
	markers   markers
	now       func() time.Time
	opts      Options
}

// New builds the handler from the Lambda's config and clients.
func New(cfg app.Config, deps *app.Deps) (*Handler, error) { return NewWith(cfg, deps, Options{}) }

// NewWith is New with overrides.
func NewWith(cfg app.Config, deps *app.Deps, o Options) (*Handler, error) {
	store, err := stagekit.Store("deploy", cfg, deps)
	if err != nil {
		return nil, err
	}
	if cfg.Table == "" {
		return nil, errors.New("deploy: no table configured (SHIPGATE_TABLE)")
	}
	h := &Handler{cfg: cfg, store: store, decisions: o.Decisions, audit: o.Audit, now: deps.Clock(), opts: o}
	db := o.Markers
	if db == nil {
		if deps.DynamoDB == nil {
			return nil, errors.New("deploy: no DynamoDB client")
		}
		db = deps.DynamoDB
	}
	h.markers = markers{db: db, table: cfg.Table}
	if h.audit, err = stagekit.AuditOr(h.audit, "deploy", cfg, deps); err != nil {
		return nil, err
	}
	if h.decisions == nil {
		s, err := approval.NewStore(deps.DynamoDB, cfg.Table)
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		h.decisions = s
	}
	return h, nil
}

// Handle runs the stage. Every error it returns has passed through lambdaerr.Boundary.
func (h *Handler) Handle(ctx context.Context, in domain.State) (domain.DeployResult, error) {
	out, err := h.handle(ctx, in)
	return out, lambdaerr.Boundary(err)
}

func (h *Handler) handle(ctx context.Context, in domain.State) (domain.DeployResult, error) {
	// stage.started is written while the checks read what they need; the deploy claims
	// nothing before it is recorded, and a failed write still stops the stage.
	f := stagekit.Frame{Audit: h.audit, Stage: Stage, Now: h.now, Pipeline: h.cfg.Pipeline}
	return stagekit.Handle(ctx, f, in.Run,
		func(ctx context.Context, rec stagekit.Recorder, started *stagekit.Pending) (domain.DeployResult, error) {
			return h.deploy(ctx, rec, rec.Run, in, started)
		},
		func(out *domain.DeployResult, dur time.Duration, err error) stagekit.Finish {
			out.DurationMs = dur.Milliseconds()
			fin := stagekit.Finish{LogKey: out.LogKey}
			if out.ManifestDigest != "" {
				fin.Extra = map[string]any{"manifestDigest": out.ManifestDigest}
				if out.AlreadyDeployed {
					fin.Extra["alreadyDeployed"] = true
				}
			}
			return fin
		})
}

func (h *Handler) deploy(ctx context.Context, rec stagekit.Recorder, run domain.Run, in domain.State, started *stagekit.Pending) (domain.DeployResult, error) {
	var out domain.DeployResult
	wantKey := artifact.ManifestKey(run.Pipeline, run.Push.Commit, run.ID)
	// Everything the checks below need is read at once: the reads have no effect outside
	// the scratch directory, and the checks still run, in the same order, on what was
	// read, all before the first side effect.
	pre := h.prefetch(ctx, run, wantKey, in.Build)
	defer pre.release()

	// 1. The recorded decision, before anything else.
	dec, err := pre.decision()
	if domain.IsKind(err, domain.NotFound) {
		return out, domain.Errorf(domain.DecisionMissing, "run %s has no recorded approval decision; refusing to deploy", run.ID)
	}
	if err != nil {
		return out, artifact.Wrap(err, domain.Internal, "read the decision of run %s", run.ID)
	}
	if dec.Outcome != domain.Approved {
		return out, domain.Errorf(domain.DecisionMissing, "the recorded decision for run %s is %q, not approved; refusing to deploy", run.ID, dec.Outcome)
	}
	if dec.RunID != "" && dec.RunID != run.ID {
		return out, domain.Errorf(domain.DecisionMissing, "the decision read for run %s belongs to run %s; refusing to deploy", run.ID, dec.RunID)
	}

	// 2. The approved digest is the staged one, and the manifest in S3 still has it.
	st := in.Stage
	if st == nil || st.ManifestDigest == "" {
		return out, domain.Errorf(domain.ArtifactMismatch, "the state carries no staged manifest for run %s", run.ID)
	}
	if dec.ManifestDigest != st.ManifestDigest {
		return out, domain.Errorf(domain.ArtifactMismatch, "approved manifest %s, but the run staged %s; refusing to deploy", dec.ManifestDigest, st.ManifestDigest)
	}
	if st.ManifestKey != wantKey {
		return out, domain.Errorf(domain.ArtifactMismatch, "the state points at manifest %s, not this run's %s", st.ManifestKey, wantKey)
	}
	pre.wait()
	m, digest, err := pre.m, pre.digest, pre.mErr
	if err != nil {
		if domain.IsKind(err, domain.NotFound) {
			return out, domain.Errorf(domain.ArtifactMismatch, "the approved manifest s3://%s/%s is gone", h.store.Bucket(), wantKey)
		}
		return out, err
	}
	if digest != dec.ManifestDigest {
		return out, domain.Errorf(domain.ArtifactMismatch, "the manifest in S3 now has digest %s, approved was %s: it changed after approval; refusing to deploy", digest, dec.ManifestDigest)
	}
	if m.Run != run.ID || m.Commit != run.Push.Commit || m.Pipeline != run.Pipeline {
		return out, domain.Errorf(domain.ArtifactMismatch, "the manifest names %s/%s at %s, not this run", m.Pipeline, m.Run, m.Commit)
	}
	out.ManifestDigest = digest

	// 3. A retry of a deploy that already ran reports it and stops here.
	if pre.mkErr != nil {
		return out, pre.mkErr
	} else if pre.mk != nil {
		return h.existing(out, run, pre.mk)
	}

	// The deploy commands and target come from the spec the approved manifest names, with
	// the bytes it hashed: approving the manifest approved them too.
	if wantSpec := artifact.SpecKey(run.Pipeline, run.ID); m.SpecKey != wantSpec || specKeyOf(in.Build) != wantSpec {
		return out, domain.Errorf(domain.ArtifactMismatch, "the approved manifest binds spec %q and the state names %q, not this run's %s; refusing to deploy", m.SpecKey, specKeyOf(in.Build), wantSpec)
	}
	sp, err := pre.sp, pre.spErr
	if err != nil {
		return out, err
	}
	if m.SpecDigest == "" || pre.spDigest != m.SpecDigest {
		return out, domain.Errorf(domain.ArtifactMismatch, "the spec at %s now has digest %s, the approved manifest bound %s: the deploy commands changed after approval; refusing to deploy", m.SpecKey, pre.spDigest, m.SpecDigest)
	}
	var target *spec.S3Target
	if sp.Deploy.Target != nil && sp.Deploy.Target.S3 != nil {
		target = sp.Deploy.Target.S3
		out.Target = "s3://" + target.Bucket + "/" + target.Prefix
	}

	// 4. Every artifact downloaded and verified before any side effect.
	if pre.dirsErr != nil {
		return out, pre.dirsErr
	}
	if pre.dlErr != nil {
		return out, pre.dlErr
	}
	dirs, manifestPath := pre.dirs, pre.manifestPath
	if err := started.Wait(); err != nil {
		return out, err
	}

	// 5. Claim the deploy. From here on, a retry will not deploy again.
	mk := marker{Attempt: newAttempt(), StartedAt: h.now(), ManifestDigest: digest, Target: out.Target}
	claimed, err := h.markers.claim(ctx, run.ID, mk)
	if err != nil {
		return out, err
	}
	if !claimed {
		prev, err := h.markers.get(ctx, run.ID)
		if err != nil {
			return out, err
		}
		if prev == nil {
			return out, domain.Errorf(domain.Transient, "deploy marker of run %s vanished while claiming it", run.ID)
		}
		return h.existing(out, run, prev)
	}
	if err := rec.Record(ctx, domain.RecDeployStarted, "", map[string]any{
		"manifestDigest": digest, "target": out.Target, "approvers": dec.Approvers, "artifacts": digests(m),
	}); err != nil {
		// Nothing has happened yet: let a retry claim again.
		if rerr := h.markers.release(ctx, run.ID, mk.Attempt); rerr != nil {
			return out, rerr
		}
		return out, err
	}

	deployErr := h.sideEffects(ctx, run, m, sp, target, dirs, manifestPath, dec, &out, mk.Attempt)
	mk.FinishedAt, mk.ExitCode, mk.LogKey, mk.Status = h.now(), out.ExitCode, out.LogKey, markerDeployed
	outcome := "succeeded"
	if deployErr != nil {
		if errors.Is(deployErr, errReleased) {
			_ = rec.Record(ctx, domain.RecDeployFinished, "retrying", map[string]any{
				"manifestDigest": digest, "target": out.Target, "error": stagekit.FirstLine(deployErr.Error()),
			})
			return out, errors.Unwrap(deployErr)
		}
		mk.Status, mk.Message, outcome = markerFailed, stagekit.FirstLine(deployErr.Error()), stagekit.Outcome(deployErr)
	}
	// The marker's end and the deploy.finished record are independent writes: both are
	// done, side by side, before the stage reports.
	fin := stagekit.Start(func() error { return h.markers.finish(ctx, run.ID, mk) })
	recErr := rec.Record(ctx, domain.RecDeployFinished, outcome, map[string]any{
		"manifestDigest": digest, "target": out.Target, "exitCode": out.ExitCode, "logKey": out.LogKey,
	})
	finErr := fin.Wait()
	if deployErr != nil {
		return out, deployErr
	}
	if finErr != nil {
		// Deployed, but a retry would now see an unfinished attempt and refuse: say so.
		return out, domain.Errorf(domain.Internal, "run %s was deployed, but recording it failed: %w", run.ID, finErr)
	}
	return out, recErr
}

// errReleased marks a side-effect error after which the claim was released (nothing
// irreversible happened), so the returned error may be retried.
var errReleased = errors.New("released")

type releasedError struct{ err error }

func (e releasedError) Error() string        { return e.err.Error() }
func (e releasedError) Unwrap() error        { return e.err }
func (e releasedError) Is(target error) bool { return target == errReleased }

func (h *Handler) sideEffects(ctx context.Context, run domain.Run, m domain.Manifest, sp *spec.Spec, target *spec.S3Target,
	dirs stagekit.Dirs, manifestPath string, dec domain.Decision, out *domain.DeployResult, attempt string) error {
	// The copy is idempotent (same keys, same bytes), so a transient failure releases
	// the claim and lets the state machine retry.
	if target != nil {
		dst := h.store.InBucket(target.Bucket)
		for _, a := range m.Artifacts {
			key := target.Prefix + a.Path
			if _, err := dst.PutFile(ctx, key, filepath.Join(dirs.Workspace, filepath.FromSlash(a.Path)), ""); err != nil {
				err = artifact.Wrap(err, domain.DeployFailed, "copy %s to s3://%s/%s", a.Path, target.Bucket, key)
				if domain.KindOf(err) == domain.Transient {
					if rerr := h.markers.release(ctx, run.ID, attempt); rerr == nil {
						return releasedError{err}
					}
				}
				if domain.KindOf(err) != domain.DeployFailed {
					err = domain.Errorf(domain.DeployFailed, "%s", err.Error())
				}
				return err
			}
		}
	}
	if len(sp.Deploy.Commands) == 0 {
		return nil
	}
	env := map[string]string{}
	for k, v := range sp.Env {
		env[k] = v
	}
	env["SHIPGATE_MANIFEST"] = manifestPath
	env["SHIPGATE_MANIFEST_DIGEST"] = out.ManifestDigest
	env["SHIPGATE_APPROVED_BY"] = strings.Join(dec.Approvers, ",")
	if target != nil {
		env["SHIPGATE_TARGET"] = out.Target
	}
	out.LogKey = artifact.LogKey(run.Pipeline, run.ID, Stage)
	res, err := stagekit.RunLogged(ctx, h.store, out.LogKey, sp.Deploy.Commands, runner.Options{
		Dir: dirs.Workspace, Env: env, Home: dirs.Home, Path: h.opts.Path,
		Timeout: stagekit.Budget(ctx, sp.Deploy.TimeoutOr()), Vars: stagekit.Vars(run, Stage),
	})
	out.ExitCode, out.LogTail = res.ExitCode, res.Tail
	if err != nil {
		return domain.Errorf(domain.DeployFailed, "deploy commands: %w", err)
	}
	if ferr := stagekit.Failure(Stage, res, domain.DeployFailed); ferr != nil {
		if !res.TimedOut && (res.ExitCode == 126 || res.ExitCode == 127) {
			return domain.Errorf(domain.DeployFailed, "%s\n(hint: deploy commands run in a directory holding only the approved artifacts; "+
				"list any script they need under artifacts so the approval covers it)", ferr.Error())
		}
		return ferr
	}
	return nil
}

// existing reports a deploy marker found for the run: the result of the earlier deploy,
// or a refusal when that attempt failed or did not finish (it may have deployed partly;
// a person must look, shipgate does not deploy a run twice).
func (h *Handler) existing(out domain.DeployResult, run domain.Run, mk *marker) (domain.DeployResult, error) {
	switch mk.Status {
	case markerDeployed:
		out.AlreadyDeployed = true
		out.Target, out.LogKey, out.ExitCode = mk.Target, mk.LogKey, mk.ExitCode
		if mk.ManifestDigest != out.ManifestDigest {
			return out, domain.Errorf(domain.ArtifactMismatch, "run %s was already deployed with manifest %s, not %s", run.ID, mk.ManifestDigest, out.ManifestDigest)
		}
		return out, nil
	case markerFailed:
		return out, domain.Errorf(domain.DeployFailed, "run %s was already deployed once and failed at %s: %s; not deploying twice",
			run.ID, mk.FinishedAt.UTC().Format(time.RFC3339), mk.Message)
	}
	return out, domain.Errorf(domain.DeployFailed, "a deploy of run %s started at %s and never recorded its end (timed out or still running); "+
		"not deploying twice: check the target, then re-run the pipeline", run.ID, mk.StartedAt.UTC().Format(time.RFC3339))
}

func (h *Handler) loadSpec(ctx context.Context, b *domain.BuildResult) (*spec.Spec, string, error) {
	if b == nil {
		return nil, "", domain.Errorf(domain.Invalid, "bad input: the state has no build result")
	}
	return stagekit.LoadSpecDigest(ctx, h.store, b.SpecKey)
}

func specKeyOf(b *domain.BuildResult) string {
	if b == nil {
		return ""
	}
	return b.SpecKey
}

// download fetches every artifact into dir at its workspace path, verifying size and
// SHA-256 against the manifest.
func (h *Handler) download(ctx context.Context, run domain.Run, m domain.Manifest, dir string) error {
	for _, a := range m.Artifacts {
		if want := artifact.ArtifactKey(run.Pipeline, run.Push.Commit, run.ID, a.Name, a.Path); a.Key != want {
			return domain.Errorf(domain.ArtifactMismatch, "manifest entry %s points at %s, not %s", a.Path, a.Key, want)
		}
		rel := filepath.FromSlash(a.Path)
		if !filepath.IsLocal(rel) {
			return domain.Errorf(domain.ArtifactMismatch, "manifest entry %q is not a relative path", a.Path)
		}
		got, err := h.store.Download(ctx, a.Key, filepath.Join(dir, rel))
		if err != nil {
			if domain.IsKind(err, domain.NotFound) {
				return domain.Errorf(domain.ArtifactMismatch, "artifact %s (%s) is gone from s3://%s/%s", a.Name, a.Path, h.store.Bucket(), a.Key)
			}
			return err
		}
		if got.SHA256 != a.SHA256 || got.Size != a.Size {
			return domain.Errorf(domain.ArtifactMismatch, "artifact %s (%s) has sha256 %s (%d bytes) but the approved manifest says %s (%d bytes): it changed after staging; refusing to deploy",
				a.Name, a.Path, got.SHA256, got.Size, a.SHA256, a.Size)
		}
	}
	return nil
}

// digests lists artifact digests for the audit record, bounded.
func digests(m domain.Manifest) []map[string]any {
	var out []map[string]any
	for i, a := range m.Artifacts {
		if i == 50 {
			break
		}
		out = append(out, map[string]any{"name": a.Name, "path": a.Path, "sha256": a.SHA256})
	}
	return out
}
