// Package integration runs whole pipeline runs against the real local stack: real git
// pushes, real HTTP, the real AWS SDK against dynalite and the in-process S3 server, the
// ASL engine running the embedded CDK definition, and the handlers invoked in process.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	stdmail "net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/asl"
	"github.com/shipgate/shipgate/shared/local"
	"github.com/shipgate/shipgate/shared/trigger"
)

// trivialSpec is a pipeline whose stages do real but tiny work.
const trivialSpec = `branches: [main]
build:
  commands: ["mkdir -p dist && echo built > dist/app.txt"]
test:
  commands: ["test -f dist/app.txt"]
artifacts:
  - name: app
    paths: ["dist/*.txt"]
approval:
  approvers: [lead@example.com, ops@example.com]
  timeout: 1h
deploy:
  commands: ["cat dist/app.txt"]
`

// world is one test's repositories and stack.
type world struct {
	t     testing.TB
	bare  string // watched repository
	work  string // clone the test commits in and pushes from
	data  string
	stack *local.Stack
	out   *syncBuffer
	clock *asl.VirtualClock
	user  string
	// overTCP: the handlers' AWS clients use the stand-ins' TCP endpoints.
	overTCP bool
	scratch string
	// onEvent, when set, observes the engine's history events (benchmarks).
	onEvent func(arn, name string, ev asl.Event)
}

type worldOpts struct {
	user    string // the local stack's signed-in user (default lead@example.com)
	spec    string
	files   map[string]string
	virtual bool   // engine on a virtual clock (expiry tests)
	overTCP bool   // the handlers' AWS clients use the stand-ins' TCP endpoints
	scratch string // where the stages make their workspaces (local.Options.Scratch)
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{t: t, bare: filepath.Join(root, "app.git"), work: filepath.Join(root, "work"), data: filepath.Join(root, "data"), out: &syncBuffer{}}
	w.git(root, "init", "-q", "--bare", "-b", "main", w.bare)
	w.git(root, "init", "-q", "-b", "main", w.work)
	w.git(w.work, "remote", "add", "origin", w.bare)
	if o.spec == "" {
		o.spec = trivialSpec
	}
	files := map[string]string{"shipgate.yml": o.spec, "README.md": "app\n"}
	for k, v := range o.files {
		files[k] = v
	}
	w.write(files)
	w.git(w.work, "add", ".")
	w.git(w.work, "commit", "-q", "-m", "initial")
	if o.virtual {
		w.clock = asl.NewVirtualClock(time.Now(), false)
	}
	w.user = o.user
	w.overTCP = o.overTCP
	w.scratch = o.scratch
	w.start()
	return w
}

func (w *world) start() {
	w.t.Helper()
	user := w.user
	if user == "" {
		user = "lead@example.com"
	}
	o := local.Options{Repo: w.bare, Data: w.data, User: user, Out: w.out, OverTCP: w.overTCP, Scratch: w.scratch}
	if w.clock != nil {
		o.Clock = w.clock
	}
	o.OnEvent = w.onEvent
	s, err := local.Start(context.Background(), o)
	if err != nil {
		w.t.Fatalf("start local stack: %v", err)
	}
	w.stack = s
	w.t.Cleanup(func() {
		if w.stack != nil {
			w.stack.Close()
		}
	})
}

func (w *world) stop() {
	w.t.Helper()
	if err := w.stack.Close(); err != nil {
		w.t.Fatalf("stop: %v", err)
	}
	w.stack = nil
}

func (w *world) write(files map[string]string) {
	for name, content := range files {
		p := filepath.Join(w.work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) git(dir string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// push pushes main and returns the run id the push maps to.
func (w *world) push() (commit, runID string) {
	w.t.Helper()
	w.git(w.work, "push", "-q", "origin", "main")
	commit = w.git(w.work, "rev-parse", "HEAD")
	return commit, trigger.ExecutionName(w.bare, "refs/heads/main", commit)
}

// commitAndPush changes a file, commits and pushes.
func (w *world) commitAndPush(files map[string]string, msg string) (commit, runID string) {
	w.write(files)
	w.git(w.work, "add", ".")
	w.git(w.work, "commit", "-q", "-m", msg)
	return w.push()
}

func (w *world) execARN(runID string) string {
	return w.stack.Engine.ExecutionARNFor(local.StateMachineName, runID)
}

// waitStatus waits for the run to reach a status (RUNNING waits for it to exist).
func (w *world) waitEnd(runID string) *asl.ExecutionDescription {
	w.t.Helper()
	w.waitExists(runID)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := w.stack.Engine.WaitExecution(ctx, w.execARN(runID))
	if err != nil {
		w.t.Fatalf("wait for %s: %v\n%s", runID, err, w.out.String())
	}
	return d
}

func (w *world) waitExists(runID string) {
	w.t.Helper()
	w.eventually(10*time.Second, "run "+runID+" to start", func() bool {
		_, err := w.stack.Engine.DescribeExecution(context.Background(), w.execARN(runID))
		return err == nil
	})
}

// waitState waits until the run has entered state.
func (w *world) waitState(runID, state string) {
	w.t.Helper()
	w.waitExists(runID)
	w.eventually(60*time.Second, runID+" to reach "+state, func() bool {
		evs, err := w.stack.Engine.GetExecutionHistory(context.Background(), w.execARN(runID))
		if err != nil {
			return false
		}
		for _, e := range evs {
			if strings.HasSuffix(e.Type, "StateEntered") && e.StateName == state {
				return true
			}
		}
		return false
	})
}

func (w *world) eventually(d time.Duration, what string, ok func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s\nterminal:\n%s", what, w.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/approvals/[A-Za-z0-9_-]+\?t=[A-Za-z0-9_.~%-]+`)

// approvalLink waits for the approval link mailed to approver for the commit's run.
func (w *world) approvalLink(commit, approver string) string {
	w.t.Helper()
	var link string
	w.eventually(30*time.Second, "an approval mail to "+approver, func() bool {
		link = w.linksNow(commit)[approver]
		return link != ""
	})
	return link
}

// approvalLinks waits for approval mails for the commit's run and returns the link
// mailed to each approver so far.
func (w *world) approvalLinks(commit string) map[string]string {
	w.t.Helper()
	var links map[string]string
	w.eventually(30*time.Second, "approval mails for "+commit, func() bool {
		links = w.linksNow(commit)
		return len(links) > 0
	})
	return links
}

// linksNow reads the approval links in the outbox for the commit, by approver.
func (w *world) linksNow(commit string) map[string]string {
	links := map[string]string{}
	for _, m := range w.mails() {
		if !strings.Contains(m.subject, commit[:8]) && !strings.Contains(m.body, commit[:8]) {
			continue
		}
		if l := linkRE.FindString(m.body); l != "" {
			links[addrOf(m.to)] = l
		}
	}
	return links
}

type mail struct{ name, to, subject, body string }

// mails reads the outbox, oldest first, decoding each message's text part.
func (w *world) mails() []mail {
	dir := filepath.Join(w.data, "outbox")
	ents, _ := os.ReadDir(dir)
	var out []mail
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		msg, err := stdmail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			w.t.Errorf("outbox %s is not an RFC 5322 message: %v", e.Name(), err)
			continue
		}
		dec := new(mime.WordDecoder)
		subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		out = append(out, mail{name: e.Name(), to: msg.Header.Get("To"), subject: subject, body: textPart(w.t, msg)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// textPart returns the decoded text/plain part of a (multipart) message.
func textPart(t testing.TB, msg *stdmail.Message) string {
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Errorf("bad Content-Type: %v", err)
		return ""
	}
	decode := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, _ := io.ReadAll(r)
		return string(b)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return decode(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return decode(p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
}

// postDecision submits the approval page's form for a link, as the browser would.
func postDecision(t testing.TB, link, decision, comment string) (int, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"decision": {decision}, "comment": {comment}, "t": {u.Query().Get("t")}}
	u.RawQuery = ""
	res, err := http.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func get(t testing.TB, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// auditAPI reads the run's records through GET /api/audit.
func (w *world) auditAPI(q url.Values) []map[string]any {
	w.t.Helper()
	code, body := get(w.t, w.stack.Endpoints.Console+"/api/audit?"+q.Encode())
	if code != http.StatusOK {
		w.t.Fatalf("GET /api/audit: %d %s", code, body)
	}
	var res struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		w.t.Fatalf("decode /api/audit: %v\n%s", err, body)
	}
	return res.Records
}

func recordTypes(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		s, _ := r["type"].(string)
		if st, _ := r["stage"].(string); st != "" {
			s += ":" + st
		}
		out = append(out, s)
	}
	return out
}

// syncBuffer is the stack's terminal, safe for the stack's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// addrOf returns the bare address of a To header.
func addrOf(h string) string {
	if a, err := stdmail.ParseAddress(h); err == nil {
		return a.Address
	}
	return h
}

// runIDFor is the run id of a push of commit to main of the watched repository.
func runIDFor(w *world, commit string) string {
	return trigger.ExecutionName(w.bare, "refs/heads/main", commit)
}
