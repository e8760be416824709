package build

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/source"
	"github.com/shipgate/shipgate/shared/spec"
)

// defaultFetch fetches with shared/source: the GitHub token from Secrets Manager when a
// secret is configured, CodeCommit with the function's own credentials, local paths as is.
func defaultFetch(cfg app.Config, deps *app.Deps) (FetchFunc, error) {
	o := source.Options{CodeCommitCredentials: deps.AWS.Credentials, CodeCommitRegion: deps.AWS.Region,
		// The changed files only matter to a spec with path filters.
		WantChanges: func(dir string) bool {
			sp, err := spec.Load(dir)
			return err == nil && len(sp.Paths) > 0
		}}
	if cfg.GitHubTokenSec != "" {
		o.GitHubToken = source.SecretsManagerToken(secretsmanager.NewFromConfig(deps.AWS), cfg.GitHubTokenSec)
	}
	return SourceFetch(source.New(o)), nil
}

// SourceFetch adapts a source.Fetcher to FetchFunc.
func SourceFetch(f *source.Fetcher) FetchFunc {
	return func(ctx context.Context, push domain.Push, dir string) (Source, error) {
		r, err := f.Fetch(ctx, push, dir)
		if err != nil {
			return Source{}, err
		}
		return Source{Commit: r.Commit, ChangedFiles: r.ChangedFiles}, nil
	}
}
