// Package kittest holds test fixtures for the stage handlers: the local S3 and DynamoDB
// stand-ins reached through the real SDK, real git repositories in a temp dir, and a
// recording audit fake. Only tests import it.
package kittest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/s3local"
	"github.com/shipgate/shipgate/shared/table"
)

// Bucket and Table are the names the fixtures create.
const (
	Bucket   = "shipgate-artifacts"
	Target   = "deploy-target"
	Table    = "shipgate"
	Pipeline = "demo"
)

// Stack is a running set of stand-ins.
type Stack struct {
	Endpoints awsclient.Endpoints
	S3        *s3.Client
	DynamoDB  *dynamodb.Client
}

// Start starts the S3 stand-in and, when withDynamo, dynalite with the table created.
func Start(t testing.TB, withDynamo bool) *Stack {
	t.Helper()
	ctx := context.Background()
	srv, err := s3local.Start(s3local.Options{Buckets: []string{Bucket, Target}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	st := &Stack{Endpoints: awsclient.Endpoints{S3: srv.URL}}
	cfg, err := awsclient.Load(ctx, st.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	st.S3 = awsclient.S3(cfg, st.Endpoints)
	if withDynamo {
		d, err := dynalite.Start(ctx, dynalite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Stop() })
		st.UseDynamo(t, d.URL)
	}
	return st
}

// UseDynamo points the stack's DynamoDB client at the DynamoDB-protocol server at url
// (dynalite, or local mode's own) and creates the table there.
func (s *Stack) UseDynamo(t testing.TB, url string) {
	t.Helper()
	ctx := context.Background()
	s.Endpoints.DynamoDB = url
	cfg, err := awsclient.Load(ctx, s.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	s.DynamoDB = awsclient.DynamoDB(cfg, s.Endpoints)
	if err := table.Ensure(ctx, s.DynamoDB, Table); err != nil {
		t.Fatal(err)
	}
}

// Config is the app configuration for the stack.
func (s *Stack) Config() app.Config {
	return app.Config{Table: Table, Bucket: Bucket, Pipeline: Pipeline, BaseURL: "http://127.0.0.1:8080", Endpoints: s.Endpoints}
}

// Deps are app.Deps with the stack's clients.
func (s *Stack) Deps() *app.Deps { return &app.Deps{S3: s.S3, DynamoDB: s.DynamoDB} }

// Repo is a real git repository made for a test.
type Repo struct {
	Dir     string
	Commits []string // in order
	t       testing.TB
}

// NewRepo creates a repository whose first commit holds files.
func NewRepo(t testing.TB, files map[string]string) *Repo {
	t.Helper()
	r := &Repo{Dir: t.TempDir(), t: t}
	r.git("init", "-q", "-b", "main")
	r.Commit(files, "initial")
	return r
}

// Commit writes files (name -> content) and commits everything, returning the SHA.
func (r *Repo) Commit(files map[string]string, msg string) string {
	r.t.Helper()
	for name, body := range files {
		p := filepath.Join(r.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	sha := r.git("rev-parse", "HEAD")
	r.Commits = append(r.Commits, sha)
	return sha
}

func (r *Repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.Dir, "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Run is a run of the latest commit of the repository on main.
func (r *Repo) Run(id string) domain.Run {
	c := r.Commits[len(r.Commits)-1]
	before := ""
	if len(r.Commits) > 1 {
		before = r.Commits[len(r.Commits)-2]
	}
	return domain.Run{ID: id, Pipeline: Pipeline, Push: domain.Push{
		Provider: domain.ProviderLocal, Repository: "demo", CloneURL: r.Dir, Ref: "refs/heads/main", Branch: "main",
		Commit: c, Before: before, Pusher: domain.Identity{Name: "Dev", Email: "dev@example.com"}, ReceivedAt: time.Now().UTC(),
	}}
}

// Audit records what it is given.
type Audit struct {
	mu      sync.Mutex
	Records []domain.Record
	// Err, when set, is returned by Append.
	Err error
}

// Append records r.
func (a *Audit) Append(_ context.Context, r domain.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Err != nil {
		return a.Err
	}
	a.Records = append(a.Records, r)
	return nil
}

// Types lists the recorded types with their outcome, e.g. "stage.finished:failed".
func (a *Audit) Types() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.Records {
		s := string(r.Type)
		if r.Outcome != "" {
			s += ":" + r.Outcome
		}
		out = append(out, s)
	}
	return out
}

// TmpfsDir is a fresh directory under /dev/shm, removed when tb ends, or "" when
// /dev/shm is not a tmpfs. Benchmarks use it to show how much of a stage's time is a
// disk-backed /tmp's file operations (`shipgate local --scratch`).
func TmpfsDir(tb testing.TB) string {
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) != nil || st.Type != 0x01021994 { // TMPFS_MAGIC
		return ""
	}
	dir, err := os.MkdirTemp("/dev/shm", "shipgate-bench-")
	if err != nil {
		return ""
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
