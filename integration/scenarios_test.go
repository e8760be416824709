package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/asl"
	"github.com/shipgate/shipgate/shared/browsertest"
	"github.com/shipgate/shipgate/shared/local"
)

// cli runs the shipgate binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(shipgateBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run shipgate %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (w *world) status(runID string) string {
	d, err := w.stack.Engine.DescribeExecution(context.Background(), w.execARN(runID))
	if err != nil {
		return ""
	}
	return d.Status
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestApproveWithTheCLI(t *testing.T) {
	w := newWorld(t, worldOpts{})
	_, run := w.push()
	w.waitState(run, "RequestApproval")
	w.approvalLinks(w.git(w.work, "rev-parse", "HEAD"))
	out, errOut, code := cli(t, "approve", run, "--data", w.data, "--comment", "from the terminal")
	if code != 0 {
		t.Fatalf("shipgate approve: exit %d\n%s%s", code, out, errOut)
	}
	if d := w.waitEnd(run); d.Status != asl.StatusSucceeded {
		t.Fatalf("run %s: %s %s", d.Status, deref(d.Error), deref(d.Cause))
	}
	recs := w.auditAPI(url.Values{"run": {run}, "type": {"approval.final"}})
	if len(recs) != 1 || recs[0]["channel"] != "cli" || recs[0]["actor"] != "lead@example.com" {
		t.Fatalf("final decision records = %v, want one by lead@example.com through cli", recs)
	}
}

func TestRejectionEndsTheRunWithoutDeploying(t *testing.T) {
	w := newWorld(t, worldOpts{})
	commit, run := w.push()
	w.waitState(run, "RequestApproval")
	link := w.approvalLink(commit, "ops@example.com")
	if code, body := postDecision(t, link, "reject", "not on a Friday"); code != http.StatusOK {
		t.Fatalf("POST reject: %d %s", code, body)
	}
	d := w.waitEnd(run)
	if d.Status != asl.StatusFailed || deref(d.Error) != "ApprovalRejected" || !strings.Contains(deref(d.Cause), "not on a Friday") {
		t.Fatalf("run = %s %s %q, want FAILED ApprovalRejected with the comment", d.Status, deref(d.Error), deref(d.Cause))
	}
	for _, typ := range recordTypes(w.auditAPI(url.Values{"run": {run}})) {
		if strings.HasPrefix(typ, "deploy.") || typ == "stage.started:deploy" {
			t.Fatalf("a rejected run has a deploy record: %s", typ)
		}
	}
}

func TestExpiryOnAVirtualClock(t *testing.T) {
	w := newWorld(t, worldOpts{virtual: true})
	commit, run := w.push()
	w.waitState(run, "RequestApproval")
	w.approvalLinks(commit)
	w.clock.Advance(2 * time.Hour) // the spec's approval timeout is 1h
	d := w.waitEnd(run)
	if d.Status != asl.StatusFailed || deref(d.Error) != "ApprovalExpired" {
		t.Fatalf("run = %s %s, want FAILED ApprovalExpired", d.Status, deref(d.Error))
	}
	recs := w.auditAPI(url.Values{"run": {run}, "type": {"approval.expired"}})
	if len(recs) != 1 {
		t.Fatalf("approval.expired records = %d, want 1", len(recs))
	}
}

func TestFailingBuildReportsExitCodeAndLogTail(t *testing.T) {
	spec := strings.Replace(trivialSpec, `["mkdir -p dist && echo built > dist/app.txt"]`, `["echo compiling; echo 'undefined: frobnicate' >&2; exit 3"]`, 1)
	w := newWorld(t, worldOpts{spec: spec})
	_, run := w.push()
	d := w.waitEnd(run)
	if d.Status != asl.StatusFailed || deref(d.Error) != "BuildFailed" {
		t.Fatalf("run = %s %s, want FAILED BuildFailed", d.Status, deref(d.Error))
	}
	if c := deref(d.Cause); !strings.Contains(c, "3") || !strings.Contains(c, "frobnicate") {
		t.Errorf("cause %q should carry the exit code and the log tail", c)
	}
	w.eventually(10*time.Second, "a failure mail", func() bool {
		for _, m := range w.mails() {
			if strings.Contains(m.body, "frobnicate") {
				return true
			}
		}
		return false
	})
}

func TestFailingTestsNameTheFailures(t *testing.T) {
	spec := strings.Replace(trivialSpec, `test:
  commands: ["test -f dist/app.txt"]`, `test:
  commands: ["sh run-tests.sh"]
  reports: ["reports/*.xml"]`, 1)
	report := `mkdir -p reports
cat > reports/junit.xml <<XML
<testsuite name="unit" tests="2"><testcase classname="calc" name="adds"/><testcase classname="calc" name="divides"><failure message="division by zero"/></testcase></testsuite>
XML
exit 1
`
	w := newWorld(t, worldOpts{spec: spec, files: map[string]string{"run-tests.sh": report}})
	_, run := w.push()
	d := w.waitEnd(run)
	if d.Status != asl.StatusFailed || deref(d.Error) != "TestsFailed" {
		t.Fatalf("run = %s %s, want FAILED TestsFailed", d.Status, deref(d.Error))
	}
	if !strings.Contains(deref(d.Cause), "divides") {
		t.Errorf("cause %q should name the failing test", deref(d.Cause))
	}
}

func TestRestartWhileAnApprovalWaits(t *testing.T) {
	w := newWorld(t, worldOpts{})
	commit, run := w.push()
	w.waitState(run, "RequestApproval")
	link := w.approvalLink(commit, "lead@example.com")
	oldBase := w.stack.Endpoints.Console
	w.stop()
	w.start()
	// The console moved to a new port; the link's path and token still work there.
	link = strings.Replace(link, oldBase, w.stack.Endpoints.Console, 1)
	if code, body := get(t, link); code != http.StatusOK {
		t.Fatalf("GET link after restart: %d\n%s", code, body)
	}
	if code, body := postDecision(t, link, "approve", "after a restart"); code != http.StatusOK {
		t.Fatalf("POST after restart: %d %s", code, body)
	}
	if d := w.waitEnd(run); d.Status != asl.StatusSucceeded {
		t.Fatalf("run after restart: %s %s %s", d.Status, deref(d.Error), deref(d.Cause))
	}
}

func TestASecondStackOnTheSameDataRefuses(t *testing.T) {
	w := newWorld(t, worldOpts{})
	_, err := local.Start(context.Background(), local.Options{Repo: w.bare, Data: w.data})
	if err == nil || !strings.Contains(err.Error(), "already using") {
		t.Fatalf("second stack: err = %v, want a refusal naming the data directory", err)
	}
	_, errOut, code := cli(t, "local", "--repo", w.bare, "--data", w.data)
	if code == 0 || !strings.Contains(errOut, "already using") {
		t.Fatalf("shipgate local on used data: exit %d, stderr %q", code, errOut)
	}
}

// TestDataFromDynaliteIsRefused: a data directory whose table an earlier shipgate kept in
// dynalite is refused, not silently started with an empty table.
func TestDataFromDynaliteIsRefused(t *testing.T) {
	w := newWorld(t, worldOpts{})
	old := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(old, "dynamodb"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "dynamodb", "CURRENT"), []byte("MANIFEST-000004\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := local.Start(context.Background(), local.Options{Repo: w.bare, Data: old})
	if err == nil {
		s.Close()
		t.Fatal("a stack started on a dynalite table")
	}
	if !strings.Contains(err.Error(), "earlier shipgate (dynalite)") || !strings.Contains(err.Error(), old) {
		t.Errorf("error = %q, want it to say the table is dynalite's and name the data directory", err)
	}
}

func TestAuditThroughTheCLIAndTheAWSCLI(t *testing.T) {
	w := newWorld(t, worldOpts{})
	commit, run := w.push()
	w.waitState(run, "RequestApproval")
	postDecision(t, w.approvalLink(commit, "lead@example.com"), "approve", "audited")
	w.waitEnd(run)

	out, errOut, code := cli(t, "audit", "--run", run, "--data", w.data, "--format", "json")
	if code != 0 {
		t.Fatalf("shipgate audit: exit %d %s", code, errOut)
	}
	if !strings.Contains(out, `"approval.final"`) || !strings.Contains(out, commit) {
		t.Errorf("shipgate audit --run output lacks the final decision or the commit:\n%s", out)
	}
	if _, errOut, code := cli(t, "audit", "verify", "--pipeline", w.stack.Endpoints.Pipeline, "--data", w.data); code != 0 {
		t.Errorf("shipgate audit verify: exit %d %s", code, errOut)
	}
	if _, _, code := cli(t, "audit", "--since", "yesterday", "--data", w.data); code != 2 {
		t.Errorf("bad --since: exit %d, want 2", code)
	}

	awsCLI := "/usr/bin/aws"
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skip("AWS CLI v2 not installed (apt-get install awscli): skipping the aws dynamodb query part")
	}
	ep := w.stack.Endpoints
	cmd := exec.Command(awsCLI, "dynamodb", "query", "--endpoint-url", ep.DynamoDB, "--region", "us-east-1",
		"--table-name", ep.Table, "--index-name", "GSI1", "--key-condition-expression", "GSI1PK = :r",
		"--expression-attribute-values", `{":r":{"S":"RUN#`+run+`"}}`, "--output", "json")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_PAGER=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws dynamodb query: %v\n%s", err, b)
	}
	var res struct{ Count int }
	if err := json.Unmarshal(b, &res); err != nil || res.Count < 10 {
		t.Fatalf("aws dynamodb query found %d records (%v), want the run's ~15\n%s", res.Count, err, b)
	}
}

func TestConsoleApprovalInHeadlessChromium(t *testing.T) {
	browsertest.Require(t) // skip before building the world
	w := newWorld(t, worldOpts{})
	_, run := w.push()
	w.waitState(run, "RequestApproval")
	var ap *approval.Approval
	w.eventually(30*time.Second, "the pending approval of "+run, func() bool {
		a, err := w.stack.Gate.ByRun(context.Background(), run)
		ap = a
		return err == nil && a != nil
	})
	tctx := browsertest.New(t)
	err := chromedp.Do(tctx,
		chromedp.Navigate(w.stack.Endpoints.Console+"/"),
		chromedp.WaitVisible(chromedp.ID("approve-"+ap.ID)),
		chromedp.SendKeys(chromedp.ID("comment-"+ap.ID), "approved in the console"),
		chromedp.Click(chromedp.ID("approve-"+ap.ID)),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	if err != nil {
		t.Fatalf("console approve flow: %v", err)
	}
	outcome, err := chromedp.Run(tctx, chromedp.Text(chromedp.ID("outcome")))
	if err != nil {
		t.Fatalf("read the outcome: %v", err)
	}
	if d := w.waitEnd(run); d.Status != asl.StatusSucceeded {
		t.Fatalf("run after console approval: %s (page said %q)", d.Status, outcome)
	}
	recs := w.auditAPI(url.Values{"run": {run}, "type": {"approval.final"}})
	if len(recs) != 1 || recs[0]["channel"] != "console" {
		t.Fatalf("final decision = %v, want one through the console", recs)
	}
}

func TestCommitInAWorkingRepositoryStartsARun(t *testing.T) {
	root := t.TempDir()
	w := &world{t: t, work: filepath.Join(root, "work"), data: filepath.Join(root, "data"), out: &syncBuffer{}}
	w.git(root, "init", "-q", "-b", "main", w.work)
	w.write(map[string]string{"shipgate.yml": trivialSpec})
	w.git(w.work, "add", ".")
	w.git(w.work, "commit", "-q", "-m", "initial")
	w.bare = w.work // the watched repository is the working one
	w.start()
	w.write(map[string]string{"main.txt": "change"})
	w.git(w.work, "add", ".")
	w.git(w.work, "commit", "-q", "-m", "a change")
	commit := w.git(w.work, "rev-parse", "HEAD")
	run := strings.TrimSpace(runIDFor(w, commit))
	w.waitState(run, "RequestApproval")
	if out, err := exec.Command("git", "-C", w.work, "status", "--porcelain").Output(); err != nil || strings.Contains(string(out), ".shipgate") {
		t.Errorf("the data directory shows in git status: %q", out)
	}
}

// The local console signs every visitor in, so it listens only on loopback and answers
// only to loopback host names (no DNS rebinding from a web page).
func TestLocalConsoleStaysOnThisMachine(t *testing.T) {
	w := newWorld(t, worldOpts{})
	root := t.TempDir()
	_, err := local.Start(context.Background(), local.Options{Repo: w.bare, Data: filepath.Join(root, "d"), Addr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("non-loopback --addr: err = %v, want a refusal", err)
	}
	req, _ := http.NewRequest(http.MethodGet, w.stack.Endpoints.Console+"/", nil)
	req.Host = "attacker.example:80"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("request with a foreign Host: %d, want 421", res.StatusCode)
	}
	if code, _ := get(t, w.stack.Endpoints.Console+"/"); code != http.StatusOK {
		t.Fatalf("console at its own address: %d, want 200", code)
	}
}

// The pusher is a listed approver but the spec forbids self-approval: their email link
// and the CLI (the local stack's user is the pusher here) are refused and audited, and
// the run still waits for someone else.
func TestPusherCannotApproveTheirOwnPush(t *testing.T) {
	spec := strings.Replace(trivialSpec, "approvers: [lead@example.com, ops@example.com]", "approvers: [dev@example.com, lead@example.com]", 1)
	w := newWorld(t, worldOpts{spec: spec, user: "dev@example.com"})
	commit, run := w.push() // committed and pushed by dev@example.com
	w.waitState(run, "RequestApproval")
	link := w.approvalLink(commit, "dev@example.com")
	if code, body := postDecision(t, link, "approve", "my own change"); code != http.StatusForbidden {
		t.Fatalf("pusher's own link POST: %d, want 403\n%s", code, body)
	}
	if out, errOut, code := cli(t, "approve", run, "--data", w.data); code != 1 {
		t.Fatalf("shipgate approve as the pusher: exit %d, want 1 (refused)\n%s%s", code, out, errOut)
	}
	if s := w.status(run); s != asl.StatusRunning {
		t.Fatalf("after the pusher's attempts the run is %s, want still RUNNING", s)
	}
	if recs := w.auditAPI(url.Values{"run": {run}, "type": {"approval.refused"}}); len(recs) < 2 {
		t.Fatalf("approval.refused records = %d, want one per attempt (2)", len(recs))
	}
	// Someone else may approve.
	if code, body := postDecision(t, w.approvalLink(commit, "lead@example.com"), "approve", "reviewed"); code != http.StatusOK {
		t.Fatalf("lead's approval: %d %s", code, body)
	}
	if d := w.waitEnd(run); d.Status != asl.StatusSucceeded {
		t.Fatalf("run = %s, want SUCCEEDED after lead's approval", d.Status)
	}
}

// The approval mail says what going live also ships: the pushes since the last deploy
// that were never deployed.
func TestApprovalMailListsPushesSinceTheLastDeploy(t *testing.T) {
	w := newWorld(t, worldOpts{})
	first, run1 := w.push()
	w.waitState(run1, "RequestApproval")
	postDecision(t, w.approvalLink(first, "lead@example.com"), "approve", "first")
	if d := w.waitEnd(run1); d.Status != asl.StatusSucceeded {
		t.Fatalf("first run: %s", d.Status)
	}
	second, run2 := w.commitAndPush(map[string]string{"a.txt": "2"}, "second change")
	w.waitState(run2, "RequestApproval")
	postDecision(t, w.approvalLink(second, "lead@example.com"), "reject", "not this one")
	w.waitEnd(run2)
	third, run3 := w.commitAndPush(map[string]string{"a.txt": "3"}, "third change")
	w.waitState(run3, "RequestApproval")
	w.approvalLink(third, "lead@example.com")
	var body string
	for _, m := range w.mails() {
		if addrOf(m.to) == "lead@example.com" && strings.Contains(m.subject, third[:8]) {
			body = m.body
		}
	}
	if !strings.Contains(body, "Last deployed: "+first[:8]) {
		t.Errorf("mail does not name the last deployed commit %s:\n%s", first[:8], body)
	}
	if !strings.Contains(body, "never deployed") || !strings.Contains(body, second[:8]+" second change") {
		t.Errorf("mail does not list the undeployed push %s:\n%s", second[:8], body)
	}
	// The approval page the link opens shows the same list.
	code, page := get(t, w.approvalLink(third, "lead@example.com"))
	if code != http.StatusOK || !strings.Contains(page, `id="undeployed"`) || !strings.Contains(page, second[:8]) {
		t.Errorf("approval page (%d) does not list the undeployed push %s", code, second[:8])
	}
}

// TestStagesWorkInTheScratchDirectory: with --scratch, every stage that runs commands
// does so in a workspace under it, and leaves nothing behind; a scratch path that cannot
// hold workspaces stops the stack at start.
func TestStagesWorkInTheScratchDirectory(t *testing.T) {
	stamps := t.TempDir()
	spec := fmt.Sprintf(`branches: [main]
build:
  commands: ["pwd > %[1]s/build; mkdir -p dist && echo built > dist/app.txt"]
test:
  commands: ["pwd > %[1]s/test"]
artifacts:
  - name: app
    paths: ["dist/*.txt"]
approval:
  approvers: [ops@example.com]
deploy:
  commands: ["pwd > %[1]s/deploy"]
`, stamps)
	scratch := filepath.Join(t.TempDir(), "not", "yet")
	file := filepath.Join(t.TempDir(), "a-file")
	data1, data2 := t.TempDir(), t.TempDir()
	w := newWorld(t, worldOpts{spec: spec, scratch: scratch})
	// A stage still making its workspace in $TMPDIR now fails the run: every stage,
	// including Stage, which runs no command to report where it worked, must use scratch.
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "no-such-directory"))
	commit, run := w.push()
	w.waitState(run, "RequestApproval")
	if code, body := postDecision(t, w.approvalLink(commit, "ops@example.com"), "approve", ""); code != http.StatusOK {
		t.Fatalf("POST approve: %d %s", code, body)
	}
	if d := w.waitEnd(run); d.Status != asl.StatusSucceeded {
		t.Fatalf("run = %s %s %s", d.Status, deref(d.Error), deref(d.Cause))
	}
	for _, stage := range []string{"build", "test", "deploy"} {
		b, err := os.ReadFile(filepath.Join(stamps, stage))
		if err != nil {
			t.Fatalf("%s did not run its command: %v", stage, err)
		}
		if dir := strings.TrimSpace(string(b)); !strings.HasPrefix(dir, scratch+string(filepath.Separator)) {
			t.Errorf("%s ran in %s, want a workspace under %s", stage, dir, scratch)
		}
	}
	// While the stack runs, each stage keeps the next workspace made ahead, empty; the
	// used ones are gone once the next is handed out, and a closed stack leaves nothing.
	// (A set is made in the background at a low priority: one may be found half made.)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, err := os.ReadDir(scratch)
		var notSpare []string
		for _, e := range left {
			for _, sub := range []string{"ws", "home"} {
				if es, err := os.ReadDir(filepath.Join(scratch, e.Name(), sub)); err != nil || len(es) != 0 {
					notSpare = append(notSpare, fmt.Sprintf("%s/%s: %d entries (%v)", e.Name(), sub, len(es), err))
				}
			}
		}
		if err == nil && len(left) <= 4 && len(notSpare) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the run, the scratch directory holds %d entries (%v), of which not empty spares: %q", len(left), err, notSpare)
		}
	}
	if err := w.stack.Close(); err != nil {
		t.Fatal(err)
	}
	if left, err := os.ReadDir(scratch); err != nil || len(left) != 0 {
		t.Errorf("the closed stack left %d entries in the scratch directory: %v (%v)", len(left), left, err)
	}

	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := local.Start(context.Background(), local.Options{Repo: w.bare, Data: data1, Scratch: file})
	if err == nil {
		s.Close()
		t.Fatal("a stack started with a regular file as its scratch directory")
	}
	if !strings.Contains(err.Error(), "scratch directory") || !strings.Contains(err.Error(), file) {
		t.Errorf("error = %q, want it to name the scratch directory", err)
	}
	_, errOut, code := cli(t, "local", "--repo", w.bare, "--data", data2, "--scratch", file)
	if code == 0 || !strings.Contains(errOut, "scratch directory") {
		t.Errorf("shipgate local --scratch FILE: exit %d, stderr %q", code, errOut)
	}
}

// TestTheStackCollectsGarbageLessOften: while a stack runs, Go's collector runs at
// local.LocalGCPercent unless GOGC says otherwise, and the setting is given back when
// the stack closes.
func TestTheStackCollectsGarbageLessOften(t *testing.T) {
	gc := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	before := gc()
	if before == local.LocalGCPercent {
		t.Fatalf("GC percent before any stack = %d: a stack closed earlier did not give it back", before)
	}
	w := newWorld(t, worldOpts{})
	if got := gc(); got != local.LocalGCPercent {
		t.Errorf("GC percent while the stack runs = %d, want %d", got, local.LocalGCPercent)
	}
	// A second stack in the process, closed after the first: the setting holds until
	// the last one closes.
	w2 := newWorld(t, worldOpts{})
	if err := w.stack.Close(); err != nil {
		t.Fatal(err)
	}
	if got := gc(); got != local.LocalGCPercent {
		t.Errorf("GC percent with one stack of two closed = %d, want %d", got, local.LocalGCPercent)
	}
	if err := w2.stack.Close(); err != nil {
		t.Fatal(err)
	}
	if got := gc(); got != before {
		t.Errorf("GC percent after the last Close = %d, want %d back", got, before)
	}

	t.Setenv("GOGC", "150")
	w = newWorld(t, worldOpts{})
	if got := gc(); got != before {
		t.Errorf("with GOGC set, GC percent = %d, want it untouched (%d)", got, before)
	}
}
