package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
	"github.com/shipgate/shipgate/shared/webhook"
)

// branchPush is the real GitHub payload of a push to a branch.
func branchPush(t testing.TB) []byte {
	t.Helper()
	for _, b := range triggertest.GitHubExamples(t, "push") {
		var p struct {
			Ref     string
			Deleted bool
		}
		json.Unmarshal(b, &p)
		if strings.HasPrefix(p.Ref, "refs/heads/") && !p.Deleted {
			return b
		}
	}
	t.Fatal("no branch push among the examples")
	return nil
}

func TestValidSignedPushStartsExactlyOneExecution(t *testing.T) {
	s := newStack(t, webhook.Options{Secret: secret})
	body := branchPush(t)
	status, r := s.deliver(t, signed("push", body))
	if status != http.StatusCreated || r.Outcome != "started" || r.RunID == "" {
		t.Fatalf("first delivery: %d %+v, want 201 started with a run id", status, r)
	}
	// GitHub's redelivery: same body, same delivery id.
	status, r2 := s.deliver(t, signed("push", body))
	if status != http.StatusOK || r2.Outcome != "duplicate" || r2.RunID != r.RunID {
		t.Errorf("redelivery: %d %+v, want 200 duplicate of %s", status, r2, r.RunID)
	}
	execs := s.sfn.Executions()
	if len(execs) != 1 || execs[0].Name != r.RunID {
		t.Fatalf("executions %+v, want exactly one named %s", execs, r.RunID)
	}
	var in struct{ Run domain.Run }
	json.Unmarshal([]byte(execs[0].Input), &in)
	p := in.Run.Push
	if p.Provider != domain.ProviderGitHub || p.Repository != "Codertocat/Hello-World" || p.Branch != "master" ||
		p.Pusher.Login != "Codertocat" || p.DeliveryID != "72d3162e-cc78-11e3-81ab-4c9367dc0958" || p.ReceivedAt.IsZero() ||
		p.CompareURL == "" || p.Message == "" || len(p.Commits) == 0 {
		t.Errorf("run input push = %+v", p)
	}
	if n := len(s.audit.Records(domain.RecRunStarted)); n != 1 {
		t.Errorf("%d run.started records, want 1", n)
	}
}

func TestBadSignaturesAre401AndStartNothing(t *testing.T) {
	body := branchPush(t)
	good := webhook.SignatureValue(secret, body)
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	sha1Sig := "sha1=" + hex.EncodeToString(mac.Sum(nil))
	cases := []struct {
		name    string
		headers map[string]string
		body    []byte
		wantMsg string
	}{
		{"missing", map[string]string{"X-Hub-Signature-256": ""}, body, "header missing"},
		{"sha1 only", map[string]string{"X-Hub-Signature-256": "", "X-Hub-Signature": sha1Sig}, body, "only a sha1 signature"},
		{"sha1 value in the sha256 header", map[string]string{"X-Hub-Signature-256": sha1Sig}, body, "malformed"},
		{"no prefix", map[string]string{"X-Hub-Signature-256": strings.TrimPrefix(good, "sha256=")}, body, "malformed"},
		{"not hex", map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("zz", 32)}, body, "malformed"},
		{"too short", map[string]string{"X-Hub-Signature-256": good[:len(good)-2]}, body, "malformed"},
		{"empty value", map[string]string{"X-Hub-Signature-256": "sha256="}, body, "malformed"},
		{"wrong secret", map[string]string{"X-Hub-Signature-256": webhook.SignatureValue([]byte("guess"), body)}, body, "does not match"},
		{"body changed after signing", map[string]string{"X-Hub-Signature-256": good}, bytes.Replace(body, []byte("Codertocat"), []byte("Mallory123"), 1), "does not match"},
		{"body truncated after signing", map[string]string{"X-Hub-Signature-256": good}, body[:len(body)-1], "does not match"},
	}
	s := newStack(t, webhook.Options{Secret: secret})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := signed("push", c.body)
			for k, v := range c.headers {
				d.headers[k] = v
			}
			status, r := s.deliver(t, d)
			if status != http.StatusUnauthorized || !strings.Contains(r.Message, c.wantMsg) {
				t.Errorf("got %d %q, want 401 mentioning %q", status, r.Message, c.wantMsg)
			}
		})
	}
	if n := len(s.sfn.Executions()); n != 0 {
		t.Errorf("%d executions started by bad signatures", n)
	}
	if n := len(s.audit.Records()); n != 0 {
		t.Errorf("%d audit records from unauthenticated deliveries", n)
	}
}

func TestNoSecretConfiguredRefusesEveryDelivery(t *testing.T) {
	s := newStack(t, webhook.Options{Secret: nil})
	for _, key := range [][]byte{secret, nil, {}} {
		body := branchPush(t)
		d := signed("push", body)
		d.headers["X-Hub-Signature-256"] = webhook.SignatureValue(key, body)
		status, r := s.deliver(t, d)
		if status != http.StatusUnauthorized || !strings.Contains(r.Message, "no webhook secret configured") {
			t.Errorf("key %q: %d %q, want 401 no secret configured", key, status, r.Message)
		}
	}
	status, _ := s.deliver(t, signed("ping", []byte(`{}`)))
	if status != http.StatusUnauthorized {
		t.Errorf("ping without a secret: %d, want 401", status)
	}
	if n := len(s.sfn.Executions()); n != 0 {
		t.Errorf("%d executions", n)
	}
}

func TestPingIs200(t *testing.T) {
	s := newStack(t, webhook.Options{Secret: secret})
	status, r := s.deliver(t, signed("ping", triggertest.GitHubExamples(t, "ping")[0]))
	if status != http.StatusOK || r.Outcome != "pong" {
		t.Errorf("ping: %d %+v, want 200 pong", status, r)
	}
}

func TestNonBranchDeliveriesAre202IgnoredAndRecorded(t *testing.T) {
	pushes := triggertest.GitHubExamples(t, "push")
	var tagPush, tagDelete []byte
	for _, b := range pushes {
		var p struct {
			Ref              string
			Created, Deleted bool
		}
		json.Unmarshal(b, &p)
		if strings.HasPrefix(p.Ref, "refs/tags/") && p.Created && tagPush == nil {
			tagPush = b
		}
		if p.Deleted && tagDelete == nil {
			tagDelete = b
		}
	}
	branchDelete := []byte(`{"ref":"refs/heads/feature","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"0000000000000000000000000000000000000000","deleted":true,"repository":{"full_name":"Codertocat/Hello-World"},"pusher":{"name":"Codertocat"}}`)
	cases := []struct {
		name, event string
		body        []byte
		wantMsg     string
	}{
		{"tag push", "push", tagPush, "ignored: tag simple-tag (tags do not start runs)"},
		{"tag deleted", "push", tagDelete, "ignored: tag simple-tag deleted"},
		{"branch deleted", "push", branchDelete, "ignored: branch feature deleted"},
		{"create event", "create", triggertest.GitHubExamples(t, "create")[0], `ignored: event "create" is not a push`},
		{"pull request", "pull_request", triggertest.GitHubExamples(t, "pull_request")[0], `ignored: event "pull_request" is not a push`},
	}
	s := newStack(t, webhook.Options{Secret: secret})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.audit.Records(domain.RecPushSkipped))
			status, r := s.deliver(t, signed(c.event, c.body))
			if status != http.StatusAccepted || r.Message != c.wantMsg {
				t.Errorf("got %d %q, want 202 %q", status, r.Message, c.wantMsg)
			}
			recs := s.audit.Records(domain.RecPushSkipped)
			if len(recs) != before+1 || "ignored: "+recs[len(recs)-1].Detail["reason"].(string) != c.wantMsg {
				t.Errorf("push.skipped records %+v, want one more with the reason", recs)
			}
		})
	}
	if n := len(s.sfn.Executions()); n != 0 {
		t.Errorf("%d executions", n)
	}
}

func TestBadRequestsNameTheProblem(t *testing.T) {
	body := branchPush(t)
	form := []byte("payload=" + url.QueryEscape(string(body)))
	cases := []struct {
		name       string
		d          delivery
		wantStatus int
		wantMsg    string
	}{
		{"GET", func() delivery { d := signed("push", body); d.method = http.MethodGet; return d }(), http.StatusMethodNotAllowed, "GitHub delivers with POST"},
		{"no event header", signed("", body), http.StatusBadRequest, "X-GitHub-Event header missing"},
		{"truncated json", signed("push", body[:100]), http.StatusBadRequest, "push payload"},
		{"null repository", signed("push", []byte(`{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":null}`)), http.StatusBadRequest, "repository.full_name missing"},
		{"xml", func() delivery { d := signed("push", body); d.headers["Content-Type"] = "application/xml"; return d }(), http.StatusBadRequest, "not supported"},
		{"form without payload", func() delivery {
			d := signed("push", []byte("x=1"))
			d.headers["Content-Type"] = "application/x-www-form-urlencoded"
			return d
		}(), http.StatusBadRequest, `no "payload" field`},
		{"form payload starts", func() delivery {
			d := signed("push", form)
			d.headers["Content-Type"] = "application/x-www-form-urlencoded"
			return d
		}(), http.StatusCreated, "started run"},
	}
	s := newStack(t, webhook.Options{Secret: secret})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, r := s.deliver(t, c.d)
			if status != c.wantStatus || !strings.Contains(r.Message, c.wantMsg) {
				t.Errorf("got %d %q, want %d mentioning %q", status, r.Message, c.wantStatus, c.wantMsg)
			}
		})
	}
}

// countingReader serves n bytes of 'x' and counts what was read.
type countingReader struct{ left, read int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > c.left {
		n = c.left
	}
	for i := range p[:n] {
		p[i] = 'x'
	}
	c.left -= n
	c.read += n
	return int(n), nil
}

func TestOversizedBodiesAre413WithoutBeingRead(t *testing.T) {
	h, err := webhook.New(webhook.Options{Secret: secret, Trigger: refuseAll{t}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name          string
		size          int64
		contentLength int64 // -1: chunked, length unknown
		maxRead       int64
	}{
		{"declared over the cap", 100 << 20, 100 << 20, 0},
		{"chunked over the cap", 100 << 20, -1, webhook.DefaultMaxBody + 64<<10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := &countingReader{left: c.size}
			req := httptest.NewRequest(http.MethodPost, webhook.Path, body)
			req.ContentLength = c.contentLength
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("00", 32))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", w.Code)
			}
			if body.read > c.maxRead {
				t.Errorf("read %d bytes of a %d-byte body, want at most %d", body.read, c.size, c.maxRead)
			}
		})
	}
	// And through the real route with a small cap: the server answers 413.
	s := newStack(t, webhook.Options{Secret: secret, MaxBody: 1024})
	big := bytes.Repeat([]byte("x"), 4096)
	status, r := s.deliver(t, signed("push", big))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Message, "1024-byte cap") {
		t.Errorf("real route: %d %q, want 413 naming the cap", status, r.Message)
	}
}

// refuseAll fails the test if a delivery gets past the checks.
type refuseAll struct{ t *testing.T }

func (r refuseAll) Handle(context.Context, trigger.Event) (trigger.Result, error) {
	r.t.Error("delivery reached the trigger")
	return trigger.Result{}, nil
}

func TestStepFunctionsDownIs503(t *testing.T) {
	s := newStack(t, webhook.Options{Secret: secret})
	s.sfn.Close()
	status, r := s.deliver(t, signed("push", branchPush(t)))
	if status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "redeliver") {
		t.Errorf("got %d %q, want 503 asking for a redelivery", status, r.Message)
	}
}

func TestDecodeBodyUndoesAPIGatewayBase64(t *testing.T) {
	raw := branchPush(t)
	sig := webhook.SignatureValue(secret, raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	cases := []struct {
		name    string
		body    string
		isB64   bool
		wantErr string
		wantOK  bool
	}{
		{"base64 flagged", enc, true, "", true},
		{"plain", string(raw), false, "", true},
		{"base64 text verified as is", enc, false, "", false},
		{"flagged but not base64", "%%%", true, "not valid base64", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := webhook.DecodeBody(c.body, c.isB64)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok := webhook.Verify(secret, b, sig, "") == nil; ok != c.wantOK {
				t.Errorf("signature verifies: %v, want %v", ok, c.wantOK)
			}
		})
	}
}

type fakeSecrets struct {
	out *secretsmanager.GetSecretValueOutput
	err error
	id  string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.id = aws.ToString(in.SecretId)
	return f.out, f.err
}

func TestLoadSecret(t *testing.T) {
	cases := []struct {
		name    string
		id      string
		api     *fakeSecrets
		want    string
		wantErr string
	}{
		{"string", "shipgate/webhook", &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{SecretString: aws.String("s3cret")}}, "s3cret", ""},
		{"binary", "shipgate/webhook", &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{SecretBinary: []byte("b1n")}}, "b1n", ""},
		{"empty", "shipgate/webhook", &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{SecretString: aws.String(" ")}}, "", "is empty"},
		{"no id", "", &fakeSecrets{}, "", "no secret id"},
		{"api error", "shipgate/webhook", &fakeSecrets{err: errors.New("AccessDenied")}, "", "AccessDenied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := webhook.LoadSecret(context.Background(), c.api, c.id)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || string(got) != c.want || c.api.id != c.id {
				t.Errorf("got %q, %v (asked for %q), want %q", got, err, c.api.id, c.want)
			}
		})
	}
	dir := t.TempDir()
	for _, c := range []struct{ name, content, want, wantErr string }{
		{"trailing newline dropped", "s3cret\n", "s3cret", ""},
		{"crlf dropped", "s3cret\r\n", "s3cret", ""},
		{"inner spaces kept", " s3 cret ", " s3 cret ", ""},
		{"empty", "\n", "", "is empty"},
	} {
		t.Run("file "+c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			os.WriteFile(p, []byte(c.content), 0o600)
			got, err := webhook.ReadSecretFile(p)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Errorf("got %q, %v, want %q", got, err, c.want)
			}
		})
	}
	if _, err := webhook.ReadSecretFile(filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing secret file is not an error")
	}
}

// TestSlowStartIsCutAtTheTimeout: the synchronous work is bounded (Options.Timeout,
// default 1.8 s under GitHub-facing 2 s), and a delivery cut short asks for a redelivery.
func TestSlowStartIsCutAtTheTimeout(t *testing.T) {
	s := newStack(t, webhook.Options{Secret: secret, Timeout: 100 * time.Millisecond})
	s.sfn.SetDelay(2 * time.Second)
	status, r := s.deliver(t, signed("push", branchPush(t)))
	if status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "redeliver") {
		t.Errorf("got %d %q, want 503 asking for a redelivery", status, r.Message)
	}
	s.sfn.SetDelay(0)
	// The redelivery completes the start with the input the first delivery claimed.
	status, r = s.deliver(t, signed("push", branchPush(t)))
	if status != http.StatusCreated && status != http.StatusOK {
		t.Errorf("redelivery: %d %q, want the run started", status, r.Message)
	}
	if n := len(s.audit.Records(domain.RecRunStarted)); n != 1 {
		t.Errorf("%d run.started records, want 1", n)
	}
}
