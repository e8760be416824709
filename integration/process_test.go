package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-github/v75/github"

	"github.com/shipgate/shipgate/shared/local"
	"github.com/shipgate/shipgate/shared/webhook"
)

// localProc is `shipgate local` running as its own process, as a user runs it.
type localProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startLocalProc(t *testing.T, w *world) *localProc {
	t.Helper()
	p := &localProc{out: &syncBuffer{}}
	p.cmd = exec.Command(shipgateBin, "local", "--repo", w.bare, "--data", w.data, "--user", "lead@example.com")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	os.Remove(filepath.Join(w.data, "endpoints.json"))
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	w.eventually(30*time.Second, "endpoints.json", func() bool {
		_, err := os.Stat(filepath.Join(w.data, "endpoints.json"))
		return err == nil
	})
	return p
}

func runsJSON(t *testing.T, data string) []map[string]any {
	t.Helper()
	out, errOut, code := cli(t, "runs", "--data", data, "--format", "json")
	if code != 0 {
		t.Fatalf("shipgate runs: exit %d %s", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("shipgate runs --format json: %v\n%s", err, out)
	}
	return rows
}

func runStatus(t *testing.T, data, run string) string {
	for _, r := range runsJSON(t, data) {
		if r["id"] == run {
			s, _ := r["status"].(string)
			return s
		}
	}
	return ""
}

// kill -9 while a run waits at the gate: start again on the same data and everything is
// there; the CLI approves and the run deploys.
func TestKill9WhileWaitingThenResume(t *testing.T) {
	root := t.TempDir()
	w := &world{t: t, bare: filepath.Join(root, "app.git"), work: filepath.Join(root, "work"), data: filepath.Join(root, "data"), out: &syncBuffer{}}
	w.git(root, "init", "-q", "--bare", "-b", "main", w.bare)
	w.git(root, "init", "-q", "-b", "main", w.work)
	w.git(w.work, "remote", "add", "origin", w.bare)
	w.write(map[string]string{"shipgate.yml": trivialSpec})
	w.git(w.work, "add", ".")
	w.git(w.work, "commit", "-q", "-m", "initial")

	p := startLocalProc(t, w)
	commit, run := w.push()
	w.approvalLinks(commit)
	w.eventually(30*time.Second, "WAITING_APPROVAL in shipgate runs", func() bool { return runStatus(t, w.data, run) == "WAITING_APPROVAL" })

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()

	p = startLocalProc(t, w)
	if s := runStatus(t, w.data, run); s != "WAITING_APPROVAL" {
		t.Fatalf("after kill -9 and restart the run is %q, want WAITING_APPROVAL\n%s", s, p.out.String())
	}
	if out, errOut, code := cli(t, "approve", run, "--data", w.data, "--comment", "after a crash"); code != 0 {
		t.Fatalf("approve after restart: exit %d %s %s", code, out, errOut)
	}
	w.eventually(60*time.Second, "SUCCEEDED after the restart", func() bool { return runStatus(t, w.data, run) == "SUCCEEDED" })

	// Ctrl-C (SIGINT) stops cleanly and removes endpoints.json.
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shipgate local after Ctrl-C: %v\n%s", err, p.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("shipgate local did not stop within 30s of Ctrl-C")
	}
	if _, err := os.Stat(filepath.Join(w.data, "endpoints.json")); !os.IsNotExist(err) {
		t.Errorf("endpoints.json still there after a clean stop: %v", err)
	}
}

// A signed GitHub push webhook to the local route starts the run of that commit.
func TestSignedGitHubWebhookStartsALocalRun(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.git(w.work, "push", "-q", "origin", "main") // the commit must exist locally
	commit := w.git(w.work, "rev-parse", "HEAD")
	secret, err := os.ReadFile(local.DataDir{Root: w.data}.WebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	payload := map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": commit,
		"repository": map[string]any{"full_name": "acme/app", "clone_url": "https://github.com/acme/app.git", "html_url": "https://github.com/acme/app"},
		"pusher":     map[string]any{"name": "dev", "email": "dev@example.com"},
		"sender":     map[string]any{"login": "dev"},
		"head_commit": map[string]any{"id": commit, "message": "initial", "timestamp": time.Now().Format(time.RFC3339),
			"author": map[string]any{"name": "Dev", "email": "dev@example.com"}},
		"commits": []any{map[string]any{"id": commit, "message": "initial", "author": map[string]any{"name": "Dev", "email": "dev@example.com"}}},
	}
	var ev github.PushEvent // the body must parse as the library's push payload
	body, _ := json.Marshal(payload)
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, w.stack.Endpoints.Console+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "d-1")
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureValue(secret, body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("webhook: %d %s", res.StatusCode, b)
	}
	var ack struct {
		RunID string `json:"runId"`
	}
	json.Unmarshal(b, &ack)
	if ack.RunID == "" {
		t.Fatalf("webhook answer has no run id: %s", b)
	}
	w.waitState(ack.RunID, "RequestApproval")
	// The same delivery again starts nothing new.
	req2, _ := http.NewRequest(http.MethodPost, w.stack.Endpoints.Console+"/webhooks/github", bytes.NewReader(body))
	req2.Header = req.Header.Clone()
	res2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res2.Body)
	sc.Scan()
	res2.Body.Close()
	if !strings.Contains(sc.Text(), "duplicate") {
		t.Errorf("redelivery answered %q, want duplicate", sc.Text())
	}
}

// `shipgate demo` walks through a whole run unattended with --auto-approve --exit, and a
// second demo may clear only a directory the demo made.
func TestDemoRunsEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out, errOut, code := cli(t, "demo", "--dir", dir, "--auto-approve", "--exit")
	if code != 0 {
		t.Fatalf("shipgate demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Build: started", "RequestApproval: waiting for a decision", "/approvals/", "The run ended: SUCCEEDED",
		"deployed: " + filepath.Join(dir, "deployed", "hello.tar.gz"), "approval.final", "run.finished"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "deployed", "hello.tar.gz")); err != nil {
		t.Errorf("the demo's deploy left nothing: %v", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "precious"), []byte("keep"), 0o644)
	if _, errOut, code := cli(t, "demo", "--dir", other, "--exit"); code == 0 || !strings.Contains(errOut, "refusing to clear") {
		t.Fatalf("demo on a foreign directory: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(other, "precious")); err != nil {
		t.Fatalf("demo removed a file it did not create: %v", err)
	}
}
