// Package approvaltest is the test bed for the approval gate and its callers (console,
// CLI, local mode): a Step Functions stand-in that speaks the JSON protocol for
// SendTaskSuccess/SendTaskFailure and counts calls, and an Env wiring the real gate to a
// real DynamoDB-protocol server (dynalite), an in-process S3 server, an outbox and a
// virtual clock, with a check that the task token never shows up in logs, mail or audit.
package approvaltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/s3local"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/table"
)

// SFNCall is one request the stand-in received.
type SFNCall struct {
	Op        string // SendTaskSuccess or SendTaskFailure
	TaskToken string
	Output    string
	Error     string
	Cause     string
}

// SFN is a Step Functions endpoint for the two calls that resume a waiting task. Fail,
// when set, decides per call whether to answer with an error (HTTP status and error type,
// e.g. 500 "ServiceUnavailable" or 400 "TaskTimedOut"); status 0 means success. A token is
// accepted once; later calls with it get TaskTimedOut, as Step Functions answers.
type SFN struct {
	URL  string
	Fail func(c SFNCall) (status int, errType string)
	// Delay, when set, is slept before answering (to widen race windows).
	Delay time.Duration

	mu       sync.Mutex
	calls    []SFNCall
	accepted []SFNCall
	used     map[string]bool
}

// StartSFN serves the stand-in until the test ends.
func StartSFN(t testing.TB) *SFN {
	s := &SFN{used: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *SFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := strings.TrimPrefix(target, "AWSStepFunctions.")
	var body struct{ TaskToken, Output, Error, Cause string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (op != "SendTaskSuccess" && op != "SendTaskFailure") {
		writeErr(w, 400, "ValidationException", "unsupported request "+target)
		return
	}
	c := SFNCall{Op: op, TaskToken: body.TaskToken, Output: body.Output, Error: body.Error, Cause: body.Cause}
	if s.Delay > 0 {
		time.Sleep(s.Delay)
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	fail := s.Fail
	s.mu.Unlock()
	if fail != nil {
		if st, typ := fail(c); st != 0 {
			writeErr(w, st, typ, "stand-in failure")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used[c.TaskToken] {
		writeErr(w, 400, "TaskTimedOut", "Task Timed Out")
		return
	}
	s.used[c.TaskToken] = true
	s.accepted = append(s.accepted, c)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	io.WriteString(w, "{}")
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
}

// Calls returns every call received; Accepted those answered with success.
func (s *SFN) Calls() []SFNCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SFNCall(nil), s.calls...)
}

// Accepted returns the calls that resumed a task.
func (s *SFN) Accepted() []SFNCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SFNCall(nil), s.accepted...)
}

// Audit records appended records in memory and, when Next is set, passes them on.
type Audit struct {
	Next approval.Appender
	mu   sync.Mutex
	recs []domain.Record
}

// Append implements approval.Appender.
func (a *Audit) Append(ctx context.Context, r domain.Record) error {
	a.mu.Lock()
	a.recs = append(a.recs, r)
	a.mu.Unlock()
	if a.Next != nil {
		return a.Next.Append(ctx, r)
	}
	return nil
}

// Records returns the records of type typ (all when typ is empty).
func (a *Audit) Records(typ domain.RecordType) []domain.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []domain.Record
	for _, r := range a.recs {
		if typ == "" || r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Clock is a virtual clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the current virtual time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Env is one gate on its own table, bucket, outbox and clock.
type Env struct {
	T         testing.TB
	Cfg       app.Config
	Deps      *app.Deps
	DB        *dynamodb.Client
	S3        *s3.Client
	SFN       *SFN
	Audit     *Audit
	Clock     *Clock
	Logs      *SyncBuffer
	OutboxDir string
	Svc       *approval.Service

	mu     sync.Mutex
	tokens []string
	extra  []func() string // more text the leak check greps (HTTP bodies ...)
}

var seq atomic.Int64

// Options adjust NewEnv.
type Options struct {
	BaseURL string
	// ServiceOptions are passed to approval.New after the Env's own.
	ServiceOptions []approval.Option
	// RealAudit also appends every record to the real audit store (shared/audit) on the
	// Env's table, as local mode does.
	RealAudit bool
	// SFNRetries sets the SDK's max attempts for Step Functions calls (default 1, so a
	// stand-in failure reaches the gate at once).
	SFNRetries int
}

// NewEnv builds a gate against the dynalite at dynamoURL. At the end of the test it
// checks that no issued task token appears in the logs, the outbox or the audit records.
func NewEnv(t testing.TB, dynamoURL string, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	s3srv, err := s3local.Start(s3local.Options{Buckets: []string{"artifacts"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3srv.Close() })
	sf := StartSFN(t)
	ep := awsclient.Endpoints{DynamoDB: dynamoURL, S3: s3srv.URL, StepFunctions: sf.URL}
	ac, err := awsclient.Load(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	retries := o.SFNRetries
	if retries == 0 {
		retries = 1
	}
	e := &Env{T: t, SFN: sf, Audit: &Audit{}, Logs: &SyncBuffer{},
		Clock: NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)), OutboxDir: filepath.Join(t.TempDir(), "outbox")}
	e.DB = awsclient.DynamoDB(ac, ep)
	e.S3 = awsclient.S3(ac, ep)
	sfnClient := sfn.NewFromConfig(ac, func(so *sfn.Options) {
		so.BaseEndpoint = aws.String(sf.URL)
		so.RetryMaxAttempts = retries
	})
	name := fmt.Sprintf("approval-%d-%d", os.Getpid(), seq.Add(1))
	CreateTable(t, e.DB, name)
	if o.RealAudit {
		e.Audit.Next = audit.NewDynamo(e.DB, name, audit.WithClock(e.Clock.Now))
	}
	out, err := notify.NewOutbox(e.OutboxDir, e.Logs)
	if err != nil {
		t.Fatal(err)
	}
	out.Now = e.Clock.Now
	key := make([]byte, 32)
	rand.Read(key)
	base := o.BaseURL
	if base == "" {
		base = "http://127.0.0.1:1"
	}
	e.Cfg = app.Config{Table: name, Bucket: "artifacts", Pipeline: "demo", BaseURL: base, Endpoints: ep}
	e.Deps = &app.Deps{AWS: ac, S3: e.S3, DynamoDB: e.DB, SFN: sfnClient, Notify: out, SigningKey: key, Now: e.Clock.Now}
	opts := append([]approval.Option{approval.WithAudit(e.Audit),
		approval.WithLogger(slog.New(slog.NewTextHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, o.ServiceOptions...)
	e.Svc, err = approval.New(e.Cfg, e.Deps, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.checkNoLeak)
	return e
}

// CreateTable creates the shipgate table and polls until it is active (the SDK waiter
// sleeps 20 s on its first miss).
func CreateTable(t testing.TB, db *dynamodb.Client, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.CreateTable(ctx, table.Input(name)); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			return
		}
		if i == 500 {
			t.Fatalf("table %s not active: %v", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Watch adds text (e.g. HTTP response bodies) that the leak check greps.
func (e *Env) Watch(f func() string) { e.mu.Lock(); e.extra = append(e.extra, f); e.mu.Unlock() }

// Push describes the run a Request is for.
type Push struct {
	RunID  string
	Commit string
	Pusher domain.Identity
	// Branch defaults to main; ReceivedAt (when the push reached shipgate) to zero.
	Branch     string
	ReceivedAt time.Time
}

// SpecKey is where PutSpec stores a run's spec.
func SpecKey(runID string) string { return "runs/" + runID + "/spec.json" }

// Request stores the spec's approval section for the run and calls the gate's Request
// with a fresh random task token, which it returns.
func (e *Env) Request(p Push, ap spec.Approval) (*approval.Approval, string) {
	e.T.Helper()
	a, tok, err := e.TryRequest(p, ap)
	if err != nil {
		e.T.Fatalf("Request(%s): %v", p.RunID, err)
	}
	return a, tok
}

// TryRequest is Request returning the error.
func (e *Env) TryRequest(p Push, ap spec.Approval) (*approval.Approval, string, error) {
	ctx := context.Background()
	b, _ := json.Marshal(spec.Spec{Approval: ap})
	if _, err := e.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String(SpecKey(p.RunID)), Body: bytes.NewReader(b)}); err != nil {
		return nil, "", err
	}
	tok := e.NewTaskToken()
	a, err := e.Svc.Request(ctx, tok, State(p, 0))
	return a, tok, err
}

// NewTaskToken returns a random task token that the end-of-test leak check looks for.
func (e *Env) NewTaskToken() string {
	var r [24]byte
	rand.Read(r[:])
	tok := "TASKTOKEN" + hex.EncodeToString(r[:])
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
	return tok
}

// PutObject stores b in the Env's bucket (a run's spec, say).
func (e *Env) PutObject(key string, b []byte) error {
	_, err := e.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.Cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(b)})
	return err
}

// State is the state document at the gate for push p.
func State(p Push, timeoutSeconds int) domain.State {
	commit := p.Commit
	if commit == "" {
		commit = strings.Repeat("a", 40)
	}
	branch := p.Branch
	if branch == "" {
		branch = "main"
	}
	return domain.State{
		Run: domain.Run{ID: p.RunID, Pipeline: "demo", Push: domain.Push{
			Provider: domain.ProviderLocal, Repository: "acme/web", Branch: branch, Ref: "refs/heads/" + branch,
			Commit: commit, ReceivedAt: p.ReceivedAt, Message: "Fix the <checkout> button\n\nlonger text", Pusher: p.Pusher,
			Commits: []domain.Commit{{ID: commit, Message: "Fix the <checkout> button", Author: p.Pusher}},
		}},
		Build: &domain.BuildResult{SpecKey: SpecKey(p.RunID), ApprovalTimeoutSeconds: timeoutSeconds},
		Test:  &domain.TestResult{Passed: 12, Failed: 0, Skipped: 1},
		Stage: &domain.StageResult{ManifestKey: "runs/" + p.RunID + "/manifest.json", ManifestDigest: "sha256:" + strings.Repeat("d", 64),
			Artifacts: []domain.Artifact{{Name: "site", Path: "dist/site.tar.gz", Size: 2048, SHA256: strings.Repeat("e", 64)}}},
	}
}

// Mail is one parsed outbox message.
type Mail struct {
	To, Subject, Text, HTML, Kind, Run string
	Raw                                string
}

// Mails parses every message in the outbox, in file-name (time) order.
func (e *Env) Mails() []Mail {
	e.T.Helper()
	files, _ := filepath.Glob(filepath.Join(e.OutboxDir, "*.eml"))
	var out []Mail
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			e.T.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			e.T.Fatalf("%s: %v", f, err)
		}
		subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		ml := Mail{To: m.Header.Get("To"), Subject: subj, Kind: m.Header.Get("X-Shipgate-Kind"), Run: m.Header.Get("X-Shipgate-Run"), Raw: string(raw)}
		mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(m.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
					ml.HTML = string(b)
				} else {
					ml.Text = string(b)
				}
			}
		} else {
			b, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
			ml.Text = string(b)
		}
		out = append(out, ml)
	}
	return out
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/approvals/[a-z0-9-]+\?t=[A-Za-z0-9_-]+`)

// Links returns each approver's approval link for run (from the request mails).
func (e *Env) Links(runID string) map[string]string {
	out := map[string]string{}
	for _, m := range e.Mails() {
		if m.Kind != approval.KindRequest || m.Run != runID {
			continue
		}
		if l := linkRE.FindString(m.Text); l != "" {
			out[m.To] = l
		}
	}
	return out
}

// LinkToken is the t= value of a link.
func LinkToken(link string) string {
	_, tok, _ := strings.Cut(link, "?t=")
	return tok
}

// checkNoLeak fails the test if any task token appears in logs, mail or audit records.
func (e *Env) checkNoLeak() {
	e.mu.Lock()
	tokens := append([]string(nil), e.tokens...)
	e.mu.Unlock()
	if where := e.LeaksOf(tokens); len(where) > 0 {
		e.T.Errorf("task token leaked into: %s", strings.Join(where, ", "))
	}
}

// LeaksOf greps the logs, every outbox file, the audit records and the watched texts for
// each token (and its distinctive tail) and names where one was found.
func (e *Env) LeaksOf(tokens []string) []string {
	e.mu.Lock()
	extra := append([]func() string(nil), e.extra...)
	e.mu.Unlock()
	hay := map[string]string{"logs": e.Logs.String()}
	files, _ := filepath.Glob(filepath.Join(e.OutboxDir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		hay["mail "+filepath.Base(f)] = string(b)
	}
	b, _ := json.Marshal(e.Audit.Records(""))
	hay["audit records"] = string(b)
	for i, f := range extra {
		hay[fmt.Sprintf("watched text %d", i)] = f()
	}
	var where []string
	for _, tok := range tokens {
		tail := tok
		if len(tok) > 24 {
			tail = tok[len(tok)-24:]
		}
		for name, h := range hay {
			if strings.Contains(h, tok) || strings.Contains(h, tail) {
				where = append(where, name)
			}
		}
	}
	return where
}

// Searched reports how much text the leak check would grep (a test asserts it is not
// vacuous).
func (e *Env) Searched() (logBytes, mails, records int) {
	return len(e.Logs.String()), len(e.Mails()), len(e.Audit.Records(""))
}
