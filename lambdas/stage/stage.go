// Package stage is the Stage stage: collect the spec's artifacts from the built
// workspace, upload each under an immutable per-run key while computing its SHA-256 on
// the way (a 1 GiB artifact never sits in memory), and write the run's manifest. The
// manifest's digest is what approvers approve and what Deploy checks before acting.
package stage

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/workspace"
)

// Stage is this stage's name in audit records.
const Stage = "stage"

// Limits that keep the manifest and the state small.
const (
	// MaxFiles bounds the files one run stages.
	MaxFiles = 10000
	// MaxSummary bounds the artifacts listed in the stage result (approval mails).
	MaxSummary = 20
	// maxSummaryName bounds a path or key in the summary.
	maxSummaryName = 512
)

// Options override what New builds from the config; tests use them for fakes.
type Options struct {
	Audit   stagekit.Appender
	WorkDir string            // parent of scratch directories; empty means os.TempDir()
	Scratch *stagekit.Scratch // when set, makes and removes them instead (local mode)
	// PartSize and Concurrency tune uploads; zero keeps the store's own.
	PartSize, Concurrency int
}

// Handler runs the Stage stage.
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
	store, err := stagekit.Store("stage", cfg, deps)
	if err != nil {
		return nil, err
	}
	if o.PartSize > 0 || o.Concurrency > 0 {
		// A tuning left at zero keeps the store's own (which depends on the endpoint).
		ps, c := store.Parts()
		if o.PartSize > 0 {
			ps = o.PartSize
		}
		if o.Concurrency > 0 {
			c = o.Concurrency
		}
		store = store.WithParts(ps, c)
	}
	h := &Handler{cfg: cfg, store: store, audit: o.Audit, now: deps.Clock(), opts: o}
	if h.audit, err = stagekit.AuditOr(h.audit, "stage", cfg, deps); err != nil {
		return nil, err
	}
	return h, nil
}

// Handle runs the stage. Every error it returns has passed through lambdaerr.Boundary.
func (h *Handler) Handle(ctx context.Context, in domain.State) (domain.StageResult, error) {
	out, err := h.handle(ctx, in)
	return out, lambdaerr.Boundary(err)
}

func (h *Handler) handle(ctx context.Context, in domain.State) (domain.StageResult, error) {
	// stage.started is written while the spec and the workspace are read back; nothing
	// leaves the scratch directory before it is recorded, and a failed write still
	// stops the stage.
	f := stagekit.Frame{Audit: h.audit, Stage: Stage, Now: h.now, Pipeline: h.cfg.Pipeline}
	var n int // artifacts staged, for the stage.finished record
	return stagekit.Handle(ctx, f, in.Run,
		func(ctx context.Context, rec stagekit.Recorder, started *stagekit.Pending) (out domain.StageResult, err error) {
			out, n, err = h.stage(ctx, rec.Run, in.Build, started)
			return out, err
		},
		func(out *domain.StageResult, dur time.Duration, err error) stagekit.Finish {
			out.DurationMs = dur.Milliseconds()
			var fin stagekit.Finish
			if err == nil {
				fin.Extra = map[string]any{"manifestKey": out.ManifestKey, "manifestDigest": out.ManifestDigest, "artifacts": n}
			}
			return fin
		})
}

type file struct{ name, rel string }

func (h *Handler) stage(ctx context.Context, run domain.Run, b *domain.BuildResult, started *stagekit.Pending) (domain.StageResult, int, error) {
	var out domain.StageResult
	if b == nil {
		return out, 0, domain.Errorf(domain.Invalid, "bad input: the state has no build result")
	}
	sp, specDigest, err := stagekit.LoadSpecDigest(ctx, h.store, b.SpecKey)
	if err != nil {
		return out, 0, err
	}
	dirs, err := stagekit.DirsFrom(h.opts.Scratch, h.opts.WorkDir, Stage)
	if err != nil {
		return out, 0, err
	}
	defer dirs.Remove()
	var globs []string
	for _, a := range sp.Artifacts {
		globs = append(globs, a.Paths...)
	}
	if err := dirs.RestoreMatching(ctx, h.store, b, workspace.Matcher(globs)); err != nil {
		return out, 0, err
	}

	var files []file
	var missing []string
	for _, a := range sp.Artifacts {
		if err := artifact.CheckSegment("artifact name", a.Name); err != nil {
			return out, 0, domain.Errorf(domain.SpecInvalid, "artifacts: %v", err)
		}
		seen := map[string]bool{}
		for _, g := range a.Paths {
			matches, err := workspace.Glob(dirs.Workspace, g)
			if err != nil {
				return out, 0, domain.Errorf(domain.Internal, "artifact %s: %s: %w", a.Name, g, err)
			}
			if len(matches) == 0 {
				missing = append(missing, fmt.Sprintf("%s: %q matches no file", a.Name, g))
			}
			for _, rel := range matches {
				if !seen[rel] {
					seen[rel] = true
					files = append(files, file{a.Name, rel})
				}
			}
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 10 {
			more = fmt.Sprintf("\n... and %d more", len(missing)-10)
			missing = missing[:10]
		}
		return out, 0, domain.Errorf(domain.ArtifactsMissing, "artifacts missing after the build of %s:\n%s%s",
			stagekit.Short(run.Push.Commit), stagekit.Clip(strings.Join(missing, "\n"), 2048), more)
	}
	if len(files) > MaxFiles {
		return out, 0, domain.Errorf(domain.ArtifactsMissing, "the artifacts' globs match %d files, more than the %d a run may stage", len(files), MaxFiles)
	}

	if err := started.Wait(); err != nil {
		return out, 0, err
	}
	m := domain.Manifest{Pipeline: run.Pipeline, Run: run.ID, Commit: run.Push.Commit, CreatedAt: h.now().UTC(), Artifacts: []domain.Artifact{},
		SpecKey: b.SpecKey, SpecDigest: specDigest}
	for _, f := range files {
		key := artifact.ArtifactKey(run.Pipeline, run.Push.Commit, run.ID, f.name, f.rel)
		obj, err := h.store.PutFile(ctx, key, filepath.Join(dirs.Workspace, filepath.FromSlash(f.rel)), "")
		if err != nil {
			return out, 0, artifact.Wrap(err, domain.Internal, "stage %s", f.rel)
		}
		m.Artifacts = append(m.Artifacts, domain.Artifact{Name: f.name, Path: f.rel, Key: key, Size: obj.Size, SHA256: obj.SHA256})
	}
	out.ManifestKey, out.ManifestDigest, err = h.store.PutManifest(ctx, m)
	if err != nil {
		return out, 0, err
	}
	for _, a := range m.Artifacts[:min(len(m.Artifacts), MaxSummary)] {
		// The summary travels in the state; the manifest keeps the full names.
		a.Path, a.Key = stagekit.Clip(a.Path, maxSummaryName), stagekit.Clip(a.Key, maxSummaryName)
		out.Artifacts = append(out.Artifacts, a)
	}
	return out, len(m.Artifacts), nil
}
