// Package source fetches the exact pushed commit of a user's repository into a working
// directory, from GitHub (HTTPS, token), CodeCommit (HTTPS, IAM-derived SigV4 git
// credentials) or a repository on this machine (local mode), with the real git client.
//
// Git runs isolated from the machine: no system or global config, no credential
// helpers, no prompts, a throwaway HOME and only the transport the provider needs.
// Credentials travel in an Authorization header set through git's environment-only
// config (GIT_CONFIG_COUNT), so they never reach a URL, .git/config, a process list or a
// log. Every fetch is bounded in time (context deadline, the whole git process group is
// killed) and in size (the directory is watched while git writes). Failures are
// domain.SourceUnavailable errors that say which of missing commit, bad credentials,
// repository gone, too large or timed out happened.
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
)

// Defaults for Options.
const (
	DefaultTimeout  = 5 * time.Minute
	DefaultMaxBytes = 1 << 30
)

// LayerGit is where a Lambda layer puts git: provided.al2023 has no git of its own, so
// the Build function needs a layer with git, git-remote-https and their libraries
// (GIT_EXEC_PATH and LD_LIBRARY_PATH set in the function's environment are passed on).
const LayerGit = "/opt/bin/git"

// TokenFunc returns a GitHub token (installation or personal access token). On AWS it
// reads Secrets Manager (see SecretsManagerToken).
type TokenFunc func(ctx context.Context) (string, error)

// Options configure a Fetcher. The zero value fetches local and public repositories.
type Options struct {
	// GitHubToken authenticates HTTPS fetches from GitHub; nil fetches anonymously.
	GitHubToken TokenFunc
	// GitHubHosts are the hosts (host[:port]) GitHub clone URLs may name, so the token
	// goes nowhere else whatever a push claims. nil means just github.com.
	GitHubHosts []string
	// CodeCommitCredentials sign CodeCommit git requests (SigV4); on AWS the function's
	// role via aws.Config.Credentials.
	CodeCommitCredentials aws.CredentialsProvider
	// CodeCommitRegion is the region of the repositories; "" takes it from the clone URL.
	CodeCommitRegion string
	// CodeCommitEndpoint replaces https://git-codecommit.<region>.amazonaws.com when
	// building a clone URL from a repository name (tests, VPC endpoints).
	CodeCommitEndpoint string
	// CAFile is an extra PEM bundle of trusted certificates for HTTPS (tests, GitHub
	// Enterprise behind a private CA).
	CAFile string
	// Timeout bounds a whole Fetch, on top of the caller's context. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBytes bounds what a fetch may write to disk (.git plus checkout). 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// Git is the git binary; "" means "git" on PATH, else LayerGit.
	Git string
	// Now is the clock for signatures; nil means time.Now.
	Now func() time.Time
	// WantChanges, when set, is asked with the checked-out directory whether the files
	// changed since the push's Before are needed (a spec with path filters); when it says
	// no, a local fetch runs no diff and Result.ChangedFiles is nil. Nil: always listed.
	WantChanges func(dir string) bool
}

// Fetcher fetches commits; it is safe for concurrent use.
type Fetcher struct {
	o Options
	// gitCheckout leaves every checkout to git (tests of what happens around git).
	gitCheckout bool
}

// New returns a Fetcher with opts' defaults applied.
func New(opts Options) *Fetcher {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Git == "" {
		opts.Git = "git"
		if _, err := exec.LookPath("git"); err != nil {
			if _, err := os.Stat(LayerGit); err == nil {
				opts.Git = LayerGit
			}
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Fetcher{o: opts}
}

// Result is what Fetch found.
type Result struct {
	// Commit is the checked-out commit, verified equal to the pushed one.
	Commit string `json:"commit"`
	// ChangedFiles lists the paths that differ between the push's Before and Commit
	// (both sides of renames). nil means unknown: no Before (new branch), or Before is
	// no longer reachable (force push). Empty means nothing changed.
	ChangedFiles []string `json:"changedFiles"`
	// Bytes is the size of the directory after checkout, .git included.
	Bytes int64 `json:"bytes"`
}

var shaRE = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// Fetch makes dir (which must not exist, or be empty) a checkout of exactly
// push.Commit, with HEAD detached at it.
func (f *Fetcher) Fetch(ctx context.Context, push domain.Push, dir string) (Result, error) {
	repo := push.Repository
	if repo == "" {
		repo = push.CloneURL
	}
	if !shaRE.MatchString(push.Commit) {
		return Result{}, domain.Errorf(domain.SourceUnavailable, "%s: commit %q is not a full lowercase SHA", repo, push.Commit)
	}
	if err := emptyDir(dir); err != nil {
		return Result{}, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()

	rem, err := f.remote(ctx, push)
	if err != nil {
		return Result{}, err
	}
	objects := localObjects(push, rem)
	// git's HOME is an empty directory of its own, so nothing of the user's or the
	// orchestrator's (ssh keys, netrc) is used. A local push runs no transport, and
	// GIT_CONFIG_GLOBAL already keeps ~/.gitconfig out: a HOME that does not exist does
	// the same there and spares a directory made and removed in /tmp on every stage.
	home := filepath.Join(dir, ".git", "no-home")
	if objects == "" {
		h, err := os.MkdirTemp("", "shipgate-git-home-")
		if err != nil {
			return Result{}, fmt.Errorf("source: %w", err)
		}
		defer os.RemoveAll(h)
		home = h
	}

	g := &gitRun{
		git:      f.o.Git,
		dir:      dir,
		env:      f.env(home, rem),
		secrets:  rem.secrets,
		maxBytes: f.o.MaxBytes,
	}
	// A failed fetch leaves dir empty: on Lambda /tmp outlives the invocation, and a
	// half-written checkout must not be mistaken for a source.
	fail := func(err error) (Result, error) {
		clearDir(dir)
		return Result{}, f.classify(parent, ctx, repo, push, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("source: %w", err)
	}
	if objects != "" {
		// A local push needs no fetch, so `git init` would be the slowest step left:
		// the repository it makes is a few files, written here directly.
		if err := writeSkeleton(inodes.FromContext(ctx), dir, objects, len(push.Commit) == 64); err != nil {
			return fail(err)
		}
		tree := objects
		if f.gitCheckout {
			tree = ""
		}
		changed, err := checkoutLocal(ctx, g, tree, push, f.o.WantChanges)
		if err != nil {
			return fail(err)
		}
		res, err := f.finish(ctx, g, push, changed)
		if err != nil {
			return fail(err)
		}
		return res, nil
	}
	initArgs := []string{"init", "-q", "--template="}
	if len(push.Commit) == 64 {
		initArgs = append(initArgs, "--object-format=sha256")
	}
	if _, err := g.run(ctx, append(initArgs, ".")...); err != nil {
		return fail(err)
	}
	haveBefore, err := f.fetchCommit(ctx, g, rem.url, push)
	if err != nil {
		return fail(err)
	}
	if _, err := g.run(ctx, "checkout", "-q", "--detach", push.Commit); err != nil {
		return fail(err)
	}
	res, err := f.finish(ctx, g, push, f.changedFiles(ctx, g, rem.url, push, haveBefore))
	if err != nil {
		return fail(err)
	}
	return res, nil
}

// finish verifies that the checkout is the pushed commit and within the size limit.
func (f *Fetcher) finish(ctx context.Context, g *gitRun, push domain.Push, changed []string) (Result, error) {
	head, err := g.head(ctx)
	if err != nil {
		return Result{}, err
	}
	if head != push.Commit {
		return Result{}, domain.Errorf(domain.SourceUnavailable, "%s: checked out %s, not the pushed commit %s", repoName(push), head, push.Commit)
	}
	res := Result{Commit: head, ChangedFiles: changed}
	if res.Bytes, err = dirSize(g.dir); err != nil {
		return Result{}, fmt.Errorf("source: %w", err)
	}
	if res.Bytes > f.o.MaxBytes {
		return Result{}, errTooLarge
	}
	return res, nil
}

// fetchCommit fetches just the commit (depth 1), which protocol v2 servers (GitHub,
// git http-backend) allow for any reachable commit, together with Before's tip when
// there is one, in the same round trip. Servers that refuse unadvertised objects get the
// pushed branch instead, shallow first, then its whole history, and the commit must be
// in what came. haveBefore says whether Before's commit is now present.
func (f *Fetcher) fetchCommit(ctx context.Context, g *gitRun, u string, push domain.Push) (haveBefore bool, err error) {
	fetch := []string{"fetch", "-q", "--no-tags", "--no-write-fetch-head", "--depth=1", u, push.Commit}
	if usefulBefore(push) {
		if _, err := g.run(ctx, append(fetch, push.Before)...); err == nil {
			return true, nil
		} else if kindOf(err) != failMissing {
			return false, err
		}
		// Before may be gone (force push); try the commit alone.
	}
	_, err = g.run(ctx, fetch...)
	if err == nil {
		return false, nil
	}
	if kindOf(err) != failMissing || push.Ref == "" || !strings.HasPrefix(push.Ref, "refs/") {
		return false, err
	}
	refspec := "+" + push.Ref + ":refs/shipgate/pushed"
	if _, err := g.run(ctx, "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--depth=50", u, refspec); err != nil {
		if kindOf(err) == failMissing {
			return false, errMissing
		}
		return false, err
	}
	if g.has(ctx, push.Commit) {
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(g.dir, ".git", "shallow")); err != nil {
		return false, errMissing // the branch's whole history came, without the commit
	}
	if _, err := g.run(ctx, "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--unshallow", u, refspec); err != nil {
		return false, err
	}
	if g.has(ctx, push.Commit) {
		return false, nil
	}
	return false, errMissing
}

// localObjects is the object directory of a local repository (bare or working), or ""
// when the push is not local or the layout is not a plain one (then it is fetched).
func localObjects(push domain.Push, rem remote) string {
	if push.Provider != domain.ProviderLocal {
		return ""
	}
	u, err := url.Parse(rem.url)
	if err != nil || u.Scheme != "file" {
		return ""
	}
	for _, dir := range []string{u.Path, filepath.Join(u.Path, ".git")} {
		if st, err := os.Stat(filepath.Join(dir, "objects")); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
				return filepath.Join(dir, "objects")
			}
		}
	}
	return ""
}

// writeSkeleton makes dir the smallest repository git accepts (less than `git init
// --template=` writes) whose objects are a local repository's, borrowed through git's
// alternates instead of fetched: nothing is packed, copied or indexed, so a local push
// reaches the build commands in a few milliseconds. The repository must stay where it is
// while the run lasts, which holds for the watched repository of local mode.
func writeSkeleton(pool *inodes.Pool, dir, objects string, sha256 bool) error {
	gd := filepath.Join(dir, ".git")
	// Only the directories git needs to recognise the repository and find the borrowed
	// objects, parents first so each is one mkdir: creating entries is the dearest part of
	// this step, and git makes refs/heads, objects/pack and the like when it writes there.
	for _, d := range []string{"", "objects", "objects/info", "refs"} {
		if err := pool.Mkdir(filepath.Join(gd, filepath.FromSlash(d)), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("source: %w", err)
		}
	}
	// No reflog: the checkout lives for one stage, and HEAD's log would cost a directory
	// and a file that nothing reads.
	config := "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n"
	if sha256 {
		config = "[core]\n\trepositoryformatversion = 1\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n[extensions]\n\tobjectformat = sha256\n"
	}
	files := []struct{ name, body string }{
		{"config", config},
		{"HEAD", "ref: refs/heads/main\n"},
		{"objects/info/alternates", objects + "\n"},
	}
	for _, f := range files {
		if err := pool.WriteFile(filepath.Join(gd, filepath.FromSlash(f.name)), []byte(f.body), 0o644); err != nil {
			return fmt.Errorf("source: %w", err)
		}
	}
	return nil
}

// checkoutLocal checks out the pushed commit of a repository made by writeSkeleton, in
// Go when checkoutTree can (objects is where the objects are; "" leaves it to git) and
// with git otherwise, and lists the files changed since
// Before: at the same time (both only read the borrowed objects, and the checkout is the
// only writer of the work tree and index), or, when want is set, after the checkout and
// only if want says they are needed. Whether the commit is there is asked only when the
// checkout fails, to say why.
func checkoutLocal(ctx context.Context, g *gitRun, objects string, push domain.Push, want func(string) bool) ([]string, error) {
	checkout := func() error {
		if objects != "" {
			if ok, err := checkoutTree(ctx, objects, g.dir, push.Commit, g.maxBytes); err != nil || ok {
				return err
			}
		}
		_, err := g.run(ctx, "checkout", "-q", "--detach", push.Commit)
		return err
	}
	var files []string
	var err error
	if want == nil {
		changed := make(chan []string, 1)
		go func() { changed <- localChangedFiles(ctx, g, push) }()
		err = checkout()
		files = <-changed
	} else {
		// Asked after the checkout: a spec without path filters spares the diff's git
		// process, one of the dearest steps of a small build.
		if err = checkout(); err == nil && want(g.dir) {
			files = localChangedFiles(ctx, g, push)
		}
	}
	if err != nil {
		if kindOf(err) != failTooLarge && ctx.Err() == nil && !g.has(ctx, push.Commit) {
			return nil, errMissing
		}
		return nil, err
	}
	return files, nil
}

// localChangedFiles is changedFiles for a repository whose objects are all present:
// whether Before is there is found out by the diff itself (a failure means "unknown",
// which runs the pipeline rather than skipping it).
func localChangedFiles(ctx context.Context, g *gitRun, push domain.Push) []string {
	if push.Before == push.Commit && shaRE.MatchString(push.Before) {
		return []string{}
	}
	if !usefulBefore(push) {
		return nil
	}
	return diffNames(ctx, g, push)
}

// usefulBefore reports whether push.Before names a commit worth diffing against: a full
// SHA, not the all-zeros of a new branch, not the commit itself.
func usefulBefore(push domain.Push) bool {
	return shaRE.MatchString(push.Before) && strings.Trim(push.Before, "0") != "" && push.Before != push.Commit
}

// changedFiles diffs the trees of Before and Commit. Only Before's tree is fetched
// (depth 1): a tree diff needs no history. Any failure means "unknown" (nil), which
// makes the path filter run the pipeline rather than skip a change.
func (f *Fetcher) changedFiles(ctx context.Context, g *gitRun, u string, push domain.Push, haveBefore bool) []string {
	if push.Before == push.Commit && shaRE.MatchString(push.Before) {
		return []string{}
	}
	if !usefulBefore(push) {
		return nil
	}
	if !haveBefore && !g.has(ctx, push.Before) {
		// The branch fallback may have brought it; otherwise it is unreachable.
		return nil
	}
	return diffNames(ctx, g, push)
}

// diffNames lists the paths that differ between the trees of Before and Commit; nil
// when git cannot tell.
func diffNames(ctx context.Context, g *gitRun, push domain.Push) []string {
	out, err := g.run(ctx, "diff", "--name-only", "--no-renames", "-z", push.Before, push.Commit)
	if err != nil {
		return nil
	}
	files := []string{}
	for _, p := range strings.Split(out, "\x00") {
		if p != "" {
			files = append(files, p)
		}
	}
	return files
}

// remote is where to fetch from and how to authenticate.
type remote struct {
	url      string
	protocol string   // the only transport git may use (GIT_ALLOW_PROTOCOL)
	header   string   // Authorization header value, or ""
	secrets  []string // strings to scrub from git's messages
}

func (f *Fetcher) remote(ctx context.Context, push domain.Push) (remote, error) {
	switch push.Provider {
	case domain.ProviderLocal:
		return localRemote(push)
	case domain.ProviderGitHub:
		return f.githubRemote(ctx, push)
	case domain.ProviderCodeCommit:
		return f.codecommitRemote(ctx, push)
	}
	return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: unknown provider %q", push.Repository, push.Provider)
}

func localRemote(push domain.Push) (remote, error) {
	p := strings.TrimPrefix(push.CloneURL, "file://")
	if p == "" {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "local repository: no path in cloneUrl")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "local repository %s: %v", p, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: repository gone: %s does not exist", repoName(push), abs)
	}
	// file:// (not a bare path) so git uses the pack protocol, which honours --depth.
	return remote{url: (&url.URL{Scheme: "file", Path: abs}).String(), protocol: "file"}, nil
}

func httpsURL(push domain.Push, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, domain.Errorf(domain.SourceUnavailable, "%s: clone URL %q is not a URL", repoName(push), raw)
	}
	// Credentials go only over TLS, and never inside the URL.
	if u.Scheme != "https" {
		return nil, domain.Errorf(domain.SourceUnavailable, "%s: clone URL must be https, not %s", repoName(push), u.Scheme)
	}
	if u.User != nil {
		return nil, domain.Errorf(domain.SourceUnavailable, "%s: clone URL must not carry credentials", repoName(push))
	}
	return u, nil
}

func (f *Fetcher) githubRemote(ctx context.Context, push domain.Push) (remote, error) {
	u, err := httpsURL(push, push.CloneURL)
	if err != nil {
		return remote{}, err
	}
	hosts := f.o.GitHubHosts
	if hosts == nil {
		hosts = []string{"github.com"}
	}
	if !slices.Contains(hosts, strings.ToLower(u.Host)) {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: clone URL host %s is not a GitHub host shipgate fetches from (%s)", repoName(push), u.Host, strings.Join(hosts, ", "))
	}
	r := remote{url: u.String(), protocol: "https"}
	if f.o.GitHubToken == nil {
		return r, nil
	}
	tok, err := f.o.GitHubToken(ctx)
	if err != nil {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: bad credentials: cannot read the GitHub token: %w", repoName(push), err)
	}
	if tok = strings.TrimSpace(tok); tok != "" {
		r.header = basicAuth("x-access-token", tok)
		r.secrets = []string{tok, r.header}
	}
	return r, nil
}

func (f *Fetcher) codecommitRemote(ctx context.Context, push domain.Push) (remote, error) {
	raw := push.CloneURL
	if f.o.CodeCommitEndpoint != "" || raw == "" {
		base := strings.TrimRight(f.o.CodeCommitEndpoint, "/")
		if base == "" {
			if f.o.CodeCommitRegion == "" {
				return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: no clone URL and no CodeCommit region to build one", repoName(push))
			}
			base = "https://git-codecommit." + f.o.CodeCommitRegion + ".amazonaws.com"
		}
		if push.Repository == "" {
			return remote{}, domain.Errorf(domain.SourceUnavailable, "CodeCommit push without a repository name")
		}
		raw = base + "/v1/repos/" + url.PathEscape(push.Repository)
	}
	u, err := httpsURL(push, raw)
	if err != nil {
		return remote{}, err
	}
	// Without an endpoint override, only CodeCommit's own hosts get the signed
	// credentials (the user name carries the session token).
	if f.o.CodeCommitEndpoint == "" && regionFromHost(u.Hostname()) == "" {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: clone URL host %s is not a CodeCommit host", repoName(push), u.Host)
	}
	region := f.o.CodeCommitRegion
	if region == "" {
		region = regionFromHost(u.Hostname())
	}
	if region == "" {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: cannot tell the CodeCommit region from %s; set it", repoName(push), u.Host)
	}
	if f.o.CodeCommitCredentials == nil {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: bad credentials: no AWS credentials for CodeCommit", repoName(push))
	}
	creds, err := f.o.CodeCommitCredentials.Retrieve(ctx)
	if err != nil {
		return remote{}, domain.Errorf(domain.SourceUnavailable, "%s: bad credentials: cannot get AWS credentials: %w", repoName(push), err)
	}
	user, pass := CodeCommitGitCredentials(creds, region, u.Host, u.EscapedPath(), f.o.Now())
	h := basicAuth(user, pass)
	secrets := []string{pass, h}
	if creds.SessionToken != "" {
		secrets = append(secrets, creds.SessionToken)
	}
	return remote{url: u.String(), protocol: "https", header: h, secrets: secrets}, nil
}

// regionFromHost reads the region from git-codecommit[-fips].<region>.amazonaws.com.
func regionFromHost(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) >= 4 && strings.HasPrefix(parts[0], "git-codecommit") && parts[len(parts)-2] == "amazonaws" {
		return parts[1]
	}
	return ""
}

func repoName(push domain.Push) string {
	if push.Repository != "" {
		return push.Repository
	}
	return push.CloneURL
}

// env is git's whole environment: nothing inherited but locations, so neither the user's git
// config nor the orchestrator's AWS credentials reach git or anything it runs.
func (f *Fetcher) env(home string, r remote) []string {
	env := []string{
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"GIT_ALLOW_PROTOCOL=" + r.protocol,
		"LANG=C",
		"LC_ALL=C",
	}
	// Where git and its libraries live (a Lambda layer sets these), and which CAs curl
	// trusts: locations, not secrets.
	for _, k := range []string{"PATH", "GIT_EXEC_PATH", "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	cfg := [][2]string{
		{"protocol.version", "2"},
		{"credential.helper", ""},
		{"advice.detachedHead", "false"},
		{"gc.auto", "0"},
		{"maintenance.auto", "false"},
		{"core.hooksPath", "/dev/null"},
		{"fetch.recurseSubmodules", "false"},
		// The checkout lives for one stage; durability on power loss buys nothing.
		{"core.fsync", "none"},
	}
	if r.header != "" {
		cfg = append(cfg, [2]string{"http.extraHeader", "Authorization: " + r.header})
	}
	if f.o.CAFile != "" {
		cfg = append(cfg, [2]string{"http.sslCAInfo", f.o.CAFile})
	}
	env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(cfg)))
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env
}

// classify turns a git failure into the SourceUnavailable error people read.
// parent is the caller's context, ctx the one bounded by Options.Timeout: which one
// ended says whose limit was hit.
func (f *Fetcher) classify(parent, ctx context.Context, repo string, push domain.Push, err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	short := push.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	if errors.Is(parent.Err(), context.DeadlineExceeded) {
		return domain.Errorf(domain.SourceUnavailable, "%s: timed out fetching %s (the stage's deadline passed)", repo, short)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return domain.Errorf(domain.SourceUnavailable, "%s: timed out fetching %s (limit %s)", repo, short, f.o.Timeout)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return domain.Errorf(domain.SourceUnavailable, "%s: fetch of %s canceled: %w", repo, short, ctx.Err())
	}
	switch kindOf(err) {
	case failTooLarge:
		return domain.Errorf(domain.SourceUnavailable, "%s: too large: fetching %s needs more than %d MiB of disk", repo, short, f.o.MaxBytes>>20)
	case failAuth:
		return domain.Errorf(domain.SourceUnavailable, "%s: bad credentials: the server refused them (%s)", repo, gitMessage(err))
	case failGone:
		return domain.Errorf(domain.SourceUnavailable, "%s: repository gone: not found or no access (%s)", repo, gitMessage(err))
	case failMissing:
		return domain.Errorf(domain.SourceUnavailable, "%s: missing commit: %s is not in the repository (force-pushed away, or not pushed yet)", repo, push.Commit)
	}
	return domain.Errorf(domain.SourceUnavailable, "%s: fetching %s failed: %s", repo, short, gitMessage(err))
}

// emptyDir accepts a directory that does not exist or is empty: fetching into a used
// directory would mix files from elsewhere into the build.
func emptyDir(dir string) error {
	if dir == "" {
		return errors.New("source: no directory to fetch into")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("source: %s is not empty", dir)
	}
	return nil
}

// clearDir removes dir's contents, keeping dir itself (the caller's).
func clearDir(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
