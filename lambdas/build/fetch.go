package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
)

// defaultFetch is the fetcher New uses when none is given.
func defaultFetch(cfg app.Config, deps *app.Deps) (FetchFunc, error) {
	return GitFetch, nil
}

// GitFetch checks out push.Commit from push.CloneURL (a path or a URL git can read
// without credentials) with plain git, isolated from the user's git configuration.
func GitFetch(ctx context.Context, push domain.Push, dir string) (Source, error) {
	if push.CloneURL == "" {
		return Source{}, domain.Errorf(domain.SourceUnavailable, "push of %s has no clone URL", push.Repository)
	}
	home, err := os.MkdirTemp("", "shipgate-git-home-")
	if err != nil {
		return Source{}, err
	}
	defer os.RemoveAll(home)
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LANG=C"}
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(out.String()), nil
	}
	unavailable := func(err error) (Source, error) {
		return Source{}, domain.Errorf(domain.SourceUnavailable, "fetch %s at %s: %w", push.Repository, push.Commit, err)
	}
	if _, err := git("init", "-q"); err != nil {
		return unavailable(err)
	}
	if _, err := git("fetch", "-q", "--no-tags", push.CloneURL, push.Commit); err != nil {
		return unavailable(err)
	}
	if _, err := git("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", push.Commit); err != nil {
		return unavailable(err)
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil {
		return unavailable(err)
	}
	if head != push.Commit {
		return unavailable(fmt.Errorf("checked out %s, not the pushed commit", head))
	}
	src := Source{Commit: head}
	if push.Before != "" && strings.Trim(push.Before, "0") != "" {
		if _, err := git("fetch", "-q", "--no-tags", push.CloneURL, push.Before); err == nil {
			if diff, err := git("diff", "--name-only", push.Before, push.Commit); err == nil {
				src.ChangedFiles = []string{}
				for _, l := range strings.Split(diff, "\n") {
					if l != "" {
						src.ChangedFiles = append(src.ChangedFiles, l)
					}
				}
			}
		}
	}
	return src, nil
}
