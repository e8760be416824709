package source

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/source/gitserver"
)

// fixture is a repository with three commits on main and one on a branch, held bare the
// way each provider serves it: root/acme/app.git (GitHub), root/v1/repos/app (CodeCommit).
type fixture struct {
	work             *gitserver.Repo
	root             string
	bare             string // root/acme/app.git
	c1, c2, c3, side string
	sideOld          string // on branch side, not its tip
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f, err := makeFixture(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// shared is one fixture for the tests that only read it (making one costs a dozen git
// processes).
var shared struct {
	once sync.Once
	dir  string
	f    *fixture
	err  error
}

func sharedFixture(t *testing.T) *fixture {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "source-fixture-"); shared.err == nil {
			shared.f, shared.err = makeFixture(shared.dir)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.f
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func makeFixture(base string) (f *fixture, err error) {
	f = &fixture{root: filepath.Join(base, "root")}
	f.work, err = gitserver.InitRepo(filepath.Join(base, "work"), "main")
	if err != nil {
		return nil, err
	}
	must := func(sha string, e error) string {
		if e != nil && err == nil {
			err = e
		}
		return sha
	}
	f.c1 = must(f.work.Commit("first", map[string]string{"shipgate.yml": "x: 1\n", "src/main.go": "package main\n", "README.md": "hi\n"}))
	f.c2 = must(f.work.Commit("second", map[string]string{"src/main.go": "package main\n\nfunc main() {}\n", "docs/a.md": "a\n"}))
	f.c3 = must(f.work.Remove("third", "README.md"))
	must(f.work.Git("checkout", "-q", "-b", "side", f.c1))
	f.sideOld = must(f.work.Commit("side old", map[string]string{"side.txt": "old\n"}))
	f.side = must(f.work.Commit("side", map[string]string{"side.txt": "s\n"}))
	must(f.work.Git("checkout", "-q", "main"))
	f.bare = filepath.Join(f.root, "acme", "app.git")
	if err != nil {
		return nil, err
	}
	for _, dst := range []string{f.bare, filepath.Join(f.root, "v1", "repos", "app")} {
		if err := f.work.PushBare(dst); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func push(provider domain.Provider, cloneURL, commit, before string) domain.Push {
	return domain.Push{Provider: provider, Repository: "acme/app", CloneURL: cloneURL, Ref: "refs/heads/main", Branch: "main", Commit: commit, Before: before}
}

// wantSource checks a Fetch error: SourceUnavailable whose message contains want, and
// no secret anywhere in it.
func wantSource(t *testing.T, err error, want string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Fetch succeeded; want SourceUnavailable %q", want)
	}
	if k := domain.KindOf(err); k != domain.SourceUnavailable {
		t.Errorf("kind: got %s want SourceUnavailable (%v)", k, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message: got %q, want it to contain %q", err.Error(), want)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("message leaks a secret: %q", err.Error())
		}
	}
}

// checkout verifies dir holds commit, checked out, with file contents as committed.
func checkout(t *testing.T, dir, commit string, files map[string]string) {
	t.Helper()
	r := &gitserver.Repo{Dir: dir}
	head, err := r.Git("rev-parse", "HEAD")
	if err != nil || head != commit {
		t.Errorf("HEAD: got %q (%v), want %s", head, err, commit)
	}
	if st, err := r.Git("status", "--porcelain"); err != nil || st != "" {
		t.Errorf("worktree not clean: %q (%v)", st, err)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if want == "" {
			if err == nil {
				t.Errorf("%s exists, want it absent", p)
			}
			continue
		}
		if string(got) != want {
			t.Errorf("%s: got %q want %q (%v)", p, got, want, err)
		}
	}
}

func TestFetchLocal(t *testing.T) {
	f := sharedFixture(t)
	tests := []struct {
		name        string
		push        domain.Push
		wantChanged []string // nil: unknown
		files       map[string]string
		shallow     bool
	}{
		{"tip with before", push(domain.ProviderLocal, f.bare, f.c3, f.c2), []string{"README.md"},
			map[string]string{"src/main.go": "package main\n\nfunc main() {}\n", "README.md": ""}, true},
		{"two commits pushed at once", push(domain.ProviderLocal, f.bare, f.c3, f.c1), []string{"README.md", "docs/a.md", "src/main.go"}, nil, true},
		{"older commit", push(domain.ProviderLocal, f.bare, f.c1, ""), nil,
			map[string]string{"README.md": "hi\n", "src/main.go": "package main\n"}, true},
		{"new branch: before is zeros", push(domain.ProviderLocal, f.bare, f.side, strings.Repeat("0", 40)), nil, map[string]string{"side.txt": "s\n"}, true},
		{"before equals commit", push(domain.ProviderLocal, f.bare, f.c2, f.c2), []string{}, nil, true},
		{"before unknown to the repository", push(domain.ProviderLocal, f.bare, f.c2, strings.Repeat("ab", 20)), nil, nil, true},
		{"force push: before on another branch", push(domain.ProviderLocal, f.bare, f.side, f.c3), []string{"README.md", "docs/a.md", "side.txt", "src/main.go"}, nil, true},
		{"working repository, file:// URL", push(domain.ProviderLocal, "file://"+f.work.Dir, f.c2, f.c1), []string{"docs/a.md", "src/main.go"}, nil, true},
	}
	fe := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ws")
			res, err := fe.Fetch(context.Background(), tt.push, dir)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Commit != tt.push.Commit {
				t.Errorf("Result.Commit: got %s want %s", res.Commit, tt.push.Commit)
			}
			if !reflect.DeepEqual(res.ChangedFiles, tt.wantChanged) {
				t.Errorf("ChangedFiles: got %#v want %#v", res.ChangedFiles, tt.wantChanged)
			}
			if res.Bytes <= 0 {
				t.Errorf("Bytes: got %d, want the directory's size", res.Bytes)
			}
			checkout(t, dir, tt.push.Commit, tt.files)
			// Local repositories are borrowed through alternates, not fetched.
			_, err = os.Stat(filepath.Join(dir, ".git", "objects", "info", "alternates"))
			if got := err == nil; got != tt.shallow {
				t.Errorf("objects borrowed through alternates: got %v want %v", got, tt.shallow)
			}
		})
	}
}

func TestFetchLocalErrors(t *testing.T) {
	f := sharedFixture(t)
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		push domain.Push
		dir  string
		want string
		kind domain.Kind
	}{
		{"missing commit", push(domain.ProviderLocal, f.bare, strings.Repeat("1", 40), ""), "", "missing commit: 1111111111111111111111111111111111111111 is not in the repository", domain.SourceUnavailable},
		{"repository gone", push(domain.ProviderLocal, filepath.Join(f.root, "gone.git"), f.c1, ""), "", "repository gone", domain.SourceUnavailable},
		{"not a repository", push(domain.ProviderLocal, t.TempDir(), f.c1, ""), "", "repository gone: not found or no access (fatal: '/", domain.SourceUnavailable},
		{"short sha", push(domain.ProviderLocal, f.bare, f.c1[:12], ""), "", "is not a full lowercase SHA", domain.SourceUnavailable},
		{"unknown provider", push("gitlab", f.bare, f.c1, ""), "", `unknown provider "gitlab"`, domain.SourceUnavailable},
		{"directory in use", push(domain.ProviderLocal, f.bare, f.c1, ""), used, "is not empty", domain.Internal},
	}
	fe := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "ws")
			}
			_, err := fe.Fetch(context.Background(), tt.push, dir)
			if err == nil {
				t.Fatalf("Fetch succeeded; want %q", tt.want)
			}
			if entries, _ := os.ReadDir(dir); tt.dir == "" && len(entries) > 0 {
				t.Errorf("a failed fetch left %d entries in the directory", len(entries))
			}
			if k := domain.KindOf(err); k != tt.kind {
				t.Errorf("kind: got %s want %s (%v)", k, tt.kind, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message: got %q, want it to contain %q", err.Error(), tt.want)
			}
		})
	}
}

func TestFetchGitHub(t *testing.T) {
	f := sharedFixture(t)
	const token = "ghs_RightToken0123456789"
	srv, err := gitserver.Start(gitserver.Options{Root: f.root, Auth: gitserver.GitHubToken(token)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tok := func(s string) TokenFunc { return func(context.Context) (string, error) { return s, nil } }
	url := srv.URL + "/acme/app.git"
	tests := []struct {
		name  string
		token TokenFunc
		push  domain.Push
		want  string // "" means success
	}{
		{"right token", tok(token), push(domain.ProviderGitHub, url, f.c3, f.c2), ""},
		{"wrong token", tok("ghs_WrongToken"), push(domain.ProviderGitHub, url, f.c3, f.c2), "acme/app: bad credentials: the server refused them (HTTP 401: the server wants other credentials)"},
		{"no token", nil, push(domain.ProviderGitHub, url, f.c3, ""), "bad credentials"},
		{"token unreadable", func(context.Context) (string, error) { return "", errors.New("AccessDeniedException") }, push(domain.ProviderGitHub, url, f.c3, ""), "bad credentials: cannot read the GitHub token: AccessDeniedException"},
		{"repository gone", tok(token), push(domain.ProviderGitHub, srv.URL+"/acme/gone.git", f.c3, ""), "repository gone"},
		{"missing commit", tok(token), push(domain.ProviderGitHub, url, strings.Repeat("2", 40), ""), "missing commit"},
		{"plain http refused", tok(token), push(domain.ProviderGitHub, strings.Replace(url, "https:", "http:", 1), f.c3, ""), "clone URL must be https"},
		{"credentials in URL refused", tok(token), push(domain.ProviderGitHub, strings.Replace(url, "https://", "https://x:y@", 1), f.c3, ""), "must not carry credentials"},
		{"token kept from other hosts", tok(token), push(domain.ProviderGitHub, strings.Replace(url, "127.0.0.1", "localhost", 1), f.c3, ""), "is not a GitHub host shipgate fetches from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := New(Options{GitHubToken: tt.token, GitHubHosts: []string{host(srv.URL)}, CAFile: srv.CAFile, Timeout: 30 * time.Second})
			dir := filepath.Join(t.TempDir(), "ws")
			res, err := fe.Fetch(context.Background(), tt.push, dir)
			if tt.want != "" {
				wantSource(t, err, tt.want, token)
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if want := []string{"README.md"}; !reflect.DeepEqual(res.ChangedFiles, want) {
				t.Errorf("ChangedFiles: got %q want %q", res.ChangedFiles, want)
			}
			checkout(t, dir, tt.push.Commit, map[string]string{"docs/a.md": "a\n"})
			noSecretOnDisk(t, dir, token)
		})
	}
}

// noSecretOnDisk fails if a credential was written anywhere under dir (.git/config,
// FETCH_HEAD, logs).
func noSecretOnDisk(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains a credential", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFetchCodeCommit(t *testing.T) {
	f := sharedFixture(t)
	keys := gitserver.CodeCommitKeys{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret/EXAMPLE+key", SessionToken: "session-token-EXAMPLE", Region: "eu-west-1"}
	srv, err := gitserver.Start(gitserver.Options{Root: f.root, Auth: gitserver.CodeCommitSigV4(keys), DeniedStatus: 403})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	right := credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, keys.SessionToken)
	ccPush := func(commit string) domain.Push {
		p := push(domain.ProviderCodeCommit, "", commit, f.c2)
		p.Repository = "app"
		return p
	}
	tests := []struct {
		name  string
		creds aws.CredentialsProvider
		now   func() time.Time
		push  domain.Push
		want  string
	}{
		{"role credentials", right, nil, ccPush(f.c3), ""},
		{"wrong secret key", credentials.NewStaticCredentialsProvider(keys.AccessKeyID, "wrong", keys.SessionToken), nil, ccPush(f.c3), "app: bad credentials: the server refused them (fatal: unable to access '" + srv.URL + "/v1/repos/app/': The requested URL returned error: 403)"},
		{"expired session token", credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, "old-token"), nil, ccPush(f.c3), "bad credentials"},
		{"clock skew beyond 15 minutes", right, func() time.Time { return time.Now().Add(-time.Hour) }, ccPush(f.c3), "bad credentials"},
		{"credentials unavailable", aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no EC2 IMDS role found")
		}), nil, ccPush(f.c3), "bad credentials: cannot get AWS credentials: no EC2 IMDS role found"},
		{"repository gone", right, nil, func() domain.Push { p := ccPush(f.c3); p.Repository = "deleted"; return p }(), "repository gone"},
		{"missing commit", right, nil, ccPush(strings.Repeat("3", 40)), "missing commit"},
	}
	t.Run("clone URL on another host", func(t *testing.T) {
		fe := New(Options{CodeCommitCredentials: right, CodeCommitRegion: keys.Region, CAFile: srv.CAFile})
		p := ccPush(f.c3)
		p.CloneURL = srv.URL + "/v1/repos/app"
		_, err := fe.Fetch(context.Background(), p, filepath.Join(t.TempDir(), "ws"))
		wantSource(t, err, "is not a CodeCommit host", keys.SessionToken)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := New(Options{CodeCommitCredentials: tt.creds, CodeCommitRegion: keys.Region, CodeCommitEndpoint: srv.URL, CAFile: srv.CAFile, Now: tt.now, Timeout: 30 * time.Second})
			dir := filepath.Join(t.TempDir(), "ws")
			res, err := fe.Fetch(context.Background(), tt.push, dir)
			if tt.want != "" {
				wantSource(t, err, tt.want, keys.SecretAccessKey, keys.SessionToken)
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if want := []string{"README.md"}; !reflect.DeepEqual(res.ChangedFiles, want) {
				t.Errorf("ChangedFiles: got %q want %q", res.ChangedFiles, want)
			}
			checkout(t, dir, tt.push.Commit, nil)
			noSecretOnDisk(t, dir, keys.SessionToken)
		})
	}
	if srv.Denied.Load() == 0 || srv.Served.Load() == 0 {
		t.Errorf("server counted %d denied and %d served requests; want both > 0", srv.Denied.Load(), srv.Served.Load())
	}
}

// A host that refuses to send commits by SHA (protocol v0, no allowAnySHA1InWant) still
// serves the commit through its branch.
func TestFetchFallsBackToTheBranch(t *testing.T) {
	f := sharedFixture(t)
	srv, err := gitserver.Start(gitserver.Options{Root: f.root, ProtocolV0: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fe := New(Options{CAFile: srv.CAFile, GitHubHosts: []string{host(srv.URL)}, Timeout: 30 * time.Second})
	for _, tt := range []struct {
		name   string
		commit string
		want   string
	}{
		{"tip~1 through the branch", f.c2, ""},
		{"not on the branch", f.sideOld, "missing commit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ws")
			_, err := fe.Fetch(context.Background(), push(domain.ProviderGitHub, srv.URL+"/acme/app.git", tt.commit, ""), dir)
			if tt.want != "" {
				wantSource(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			checkout(t, dir, tt.commit, map[string]string{"README.md": "hi\n"})
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	f := sharedFixture(t)
	srv, err := gitserver.Start(gitserver.Options{Root: f.root, Delay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fe := New(Options{CAFile: srv.CAFile, GitHubHosts: []string{host(srv.URL)}, Timeout: 700 * time.Millisecond})
	start := time.Now()
	_, err = fe.Fetch(context.Background(), push(domain.ProviderGitHub, srv.URL+"/acme/app.git", f.c3, ""), filepath.Join(t.TempDir(), "ws"))
	wantSource(t, err, "timed out fetching "+f.c3[:12]+" (limit 700ms)")
	// The bound is the point: git and its helpers are killed, not waited for.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Fetch returned after %v; the 700ms limit was not enforced", d)
	}

	// The caller's deadline (the Lambda's) is reported as such.
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	fe = New(Options{CAFile: srv.CAFile, GitHubHosts: []string{host(srv.URL)}})
	_, err = fe.Fetch(ctx, push(domain.ProviderGitHub, srv.URL+"/acme/app.git", f.c3, ""), filepath.Join(t.TempDir(), "ws"))
	wantSource(t, err, "timed out fetching "+f.c3[:12]+" (the stage's deadline passed)")
}

func TestFetchTooLarge(t *testing.T) {
	f := newFixture(t)
	big := make([]byte, 4<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	c, err := f.work.Commit("big", map[string]string{"blob.bin": string(big)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.work.PushBare(f.bare); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		maxBytes int64
		want     string
	}{
		{"limit below the repository", 1 << 20, "too large: fetching " + c[:12] + " needs more than 1 MiB of disk"},
		{"limit above it", 64 << 20, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := New(Options{MaxBytes: tt.maxBytes})
			res, err := fe.Fetch(context.Background(), push(domain.ProviderLocal, f.bare, c, ""), filepath.Join(t.TempDir(), "ws"))
			if tt.want != "" {
				wantSource(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Bytes < 4<<20 {
				t.Errorf("Bytes: got %d, want at least the 4 MiB blob", res.Bytes)
			}
		})
	}
}

func TestCodeCommitGitCredentials(t *testing.T) {
	// Expected values computed with botocore's SigV4Auth (the signer git-remote-codecommit
	// uses) over the same canonical request, so this checks the scheme, not our own
	// reading of it.
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const wantPass = "20260102T030405Z6632a63f2ab79a3a82dfa158ff5cd1f30200897a54ce483fc8436d66ac1fda20"
	tests := []struct {
		name     string
		creds    aws.Credentials
		wantUser string
	}{
		{"long-term keys", aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, "AKIDEXAMPLE"},
		{"role session", aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "FwoGZXIvYXdzEXAMPLETOKEN"}, "AKIDEXAMPLE%FwoGZXIvYXdzEXAMPLETOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := CodeCommitGitCredentials(tt.creds, "eu-west-1", "git-codecommit.eu-west-1.amazonaws.com", "/v1/repos/my-repo", at.In(time.FixedZone("CET", 3600)))
			if user != tt.wantUser || pass != wantPass {
				t.Errorf("got %q / %q\nwant %q / %q", user, pass, tt.wantUser, wantPass)
			}
		})
	}
}

func TestRegionFromHost(t *testing.T) {
	for host, want := range map[string]string{
		"git-codecommit.eu-west-1.amazonaws.com":      "eu-west-1",
		"git-codecommit-fips.us-east-1.amazonaws.com": "us-east-1",
		"github.com":       "",
		"127.0.0.1":        "",
		"example.com.evil": "",
	} {
		if got := regionFromHost(host); got != want {
			t.Errorf("regionFromHost(%q) = %q, want %q", host, got, want)
		}
	}
}

// BenchmarkFetchLocal is the source part of the Build stage's own overhead on a small
// repository: init, shallow fetch, checkout, verify, diff against Before.
func BenchmarkFetchLocal(b *testing.B) {
	root := b.TempDir()
	work, err := gitserver.InitRepo(filepath.Join(root, "work"), "main")
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{}
	for i := range 50 {
		files[filepath.Join("src", string(rune('a'+i%26)), "f"+string(rune('a'+i/26))+".go")] = strings.Repeat("package x\n", 100)
	}
	before, err := work.Commit("one", files)
	if err != nil {
		b.Fatal(err)
	}
	commit, err := work.Commit("two", map[string]string{"src/a/fa.go": "package a\n"})
	if err != nil {
		b.Fatal(err)
	}
	bare := filepath.Join(root, "bare.git")
	if err := work.PushBare(bare); err != nil {
		b.Fatal(err)
	}
	fe := New(Options{})
	p := push(domain.ProviderLocal, bare, commit, before)
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(root, "ws", string(rune('a'+i%26))+time.Now().Format("150405.000000000"))
		if _, err := fe.Fetch(context.Background(), p, dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/fetch")
}

// TestSizeWatchKillsTheProcessGroup runs Fetch with a stand-in git that, asked to fetch,
// writes past the limit and then waits in a child process: the watcher must stop it
// while it runs (not when it exits), and kill the child too.
func TestSizeWatchKillsTheProcessGroup(t *testing.T) {
	f := sharedFixture(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	fake := fakeGit(t, `if [ "$1" = fetch ] || [ "$1" = checkout ]; then
  head -c 3000000 /dev/zero > .git/objects/pack-in-progress
  sleep 60 &
  echo $! > `+pidFile+`
  wait
  exit 0
fi`)
	fe := New(Options{Git: fake, MaxBytes: 1 << 20})
	fe.gitCheckout = true // the checkout that git makes is the one watched
	dir := filepath.Join(t.TempDir(), "ws")
	start := time.Now()
	_, err := fe.Fetch(context.Background(), push(domain.ProviderLocal, f.bare, f.c3, ""), dir)
	wantSource(t, err, "too large: fetching "+f.c3[:12]+" needs more than 1 MiB of disk")
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Fetch returned after %v: the fetch was not stopped while running", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !gone(pid, 5*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("git's child %d survived the kill", pid)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the failed fetch left %d entries in the directory", len(entries))
	}
}

// fakeGit is a git that runs the shell lines first, and the real git for whatever
// they let through.
func fakeGit(t *testing.T, lines string) string {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\n" + lines + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

// gone waits for a process to exit: absent, or a zombie waiting for its new parent to
// reap it (it no longer runs).
func gone(pid int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		// The state follows the parenthesized command name.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Repositories in SHA-256 object format have 64-hex commit IDs; the checkout is made in
// the same format.
func TestFetchSHA256Repository(t *testing.T) {
	work := &gitserver.Repo{Dir: filepath.Join(t.TempDir(), "work")}
	if err := os.MkdirAll(work.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := work.Git("init", "-q", "-b", "main", "--object-format=sha256"); err != nil {
		t.Skipf("git cannot make SHA-256 repositories here: %v", err)
	}
	c1, err := work.Commit("one", map[string]string{"a": "1\n"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := work.Commit("two", map[string]string{"b": "2\n"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2) != 64 {
		t.Fatalf("commit id %q is not SHA-256", c2)
	}
	dir := filepath.Join(t.TempDir(), "ws")
	res, err := New(Options{}).Fetch(context.Background(), push(domain.ProviderLocal, work.Dir, c2, c1), dir)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if res.Commit != c2 || !reflect.DeepEqual(res.ChangedFiles, []string{"b"}) {
		t.Errorf("got %s %q, want %s [b]", res.Commit, res.ChangedFiles, c2)
	}
	checkout(t, dir, c2, map[string]string{"a": "1\n", "b": "2\n"})
}

// host is a server URL's host:port, for Options.GitHubHosts.
func host(rawURL string) string { return strings.TrimPrefix(rawURL, "https://") }

// TestWantChangesDecidesAfterTheCheckout: asked with the checked-out directory, WantChanges
// decides whether a local fetch lists the changed files at all.
func TestWantChangesDecidesAfterTheCheckout(t *testing.T) {
	work, err := gitserver.InitRepo(filepath.Join(t.TempDir(), "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := work.Commit("one", map[string]string{"a": "1\n"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := work.Commit("two", map[string]string{"b": "2\n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
		got  []string
	}{{"wanted", true, []string{"b"}}, {"not wanted", false, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			var sawCheckout bool
			f := New(Options{WantChanges: func(dir string) bool {
				_, err := os.Stat(filepath.Join(dir, "b"))
				sawCheckout = err == nil
				return tc.want
			}})
			res, err := f.Fetch(context.Background(), push(domain.ProviderLocal, work.Dir, c2, c1), filepath.Join(t.TempDir(), "ws"))
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !sawCheckout {
				t.Error("WantChanges was asked before the commit was checked out")
			}
			if !reflect.DeepEqual(res.ChangedFiles, tc.got) {
				t.Errorf("ChangedFiles: got %#v, want %#v", res.ChangedFiles, tc.got)
			}
		})
	}
}
