package deploy

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/spec"
)

// prefetched is what Deploy reads before its checks, read concurrently: the decision
// (strongly consistent), the manifest and then its artifacts into a scratch directory,
// the deploy marker and the stored spec. Reading changes nothing outside the scratch
// directory, so doing it side by side weakens none of the checks made on the results.
type prefetched struct {
	cancel  context.CancelFunc
	decDone chan struct{}
	wg      sync.WaitGroup

	dec    domain.Decision
	decErr error

	m      domain.Manifest
	digest string
	mErr   error

	dirs         stagekit.Dirs
	dirsOK       bool
	dirsErr      error
	dlErr        error
	manifestPath string

	mk    *marker
	mkErr error

	sp       *spec.Spec
	spDigest string
	spErr    error
}

func (h *Handler) prefetch(ctx context.Context, run domain.Run, manifestKey string, b *domain.BuildResult) *prefetched {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetched{cancel: cancel, decDone: make(chan struct{})}
	go func() {
		defer close(p.decDone)
		p.dec, p.decErr = h.decisions.FinalDecision(ctx, run.ID)
	}()
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		p.m, p.digest, p.mErr = h.store.GetManifest(ctx, manifestKey)
		if p.mErr != nil {
			return
		}
		if p.dirs, p.dirsErr = stagekit.DirsFrom(h.opts.Scratch, h.opts.WorkDir, Stage); p.dirsErr != nil {
			return
		}
		p.dirsOK = true
		// The artifacts and the manifest take files made ahead with the directories.
		if p.dlErr = h.download(inodes.NewContext(ctx, p.dirs.Inodes), run, p.m, p.dirs.Workspace); p.dlErr != nil {
			return
		}
		p.manifestPath = filepath.Join(p.dirs.Home, "manifest.json")
		if b, err := artifact.EncodeManifest(p.m); err != nil {
			p.dlErr = err
		} else if err := p.dirs.Inodes.WriteFile(p.manifestPath, b, 0o644); err != nil {
			p.dlErr = domain.Errorf(domain.Internal, "write manifest for the deploy commands: %w", err)
		}
	}()
	go func() {
		defer p.wg.Done()
		p.mk, p.mkErr = h.markers.get(ctx, run.ID)
	}()
	go func() {
		defer p.wg.Done()
		p.sp, p.spDigest, p.spErr = h.loadSpec(ctx, b)
	}()
	return p
}

// decision waits for the decision only.
func (p *prefetched) decision() (domain.Decision, error) {
	<-p.decDone
	return p.dec, p.decErr
}

// wait waits for every read.
func (p *prefetched) wait() {
	<-p.decDone
	p.wg.Wait()
}

// release stops reads still running (a check failed before they were needed), waits
// for them, and removes the scratch directory.
func (p *prefetched) release() {
	p.cancel()
	p.wait()
	if p.dirsOK {
		p.dirs.Remove()
	}
}
