package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
	"github.com/shipgate/shipgate/shared/webhook"
)

// Run a target with a count budget, e.g.
//
//	go test -run '^$' -fuzz '^FuzzParseGitHub$' -fuzztime=30000x -fuzzminimizetime=3s ./shared/trigger/
//
// A wall-clock -fuzztime on go1.26 can end in a spurious "context deadline exceeded"
// without any failing input (Go's fuzz coordinator race, golang/go#75804); a count budget
// has no deadline to race. Inputs that once failed stay in testdata/fuzz as regressions.

// FuzzVerify: no signature header value panics the check, and one is accepted only if it
// is the body's HMAC-SHA256 under the secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"zen":"Keep it logically awesome."}`), webhook.SignatureValue(secret, []byte(`{"zen":"Keep it logically awesome."}`)))
	f.Add([]byte(`{}`), "sha256="+strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		err := webhook.Verify(secret, body, sig, "")
		if err == nil && !strings.EqualFold(sig, webhook.SignatureValue(secret, body)) {
			t.Fatalf("accepted %q for a body whose signature is %s", sig, webhook.SignatureValue(secret, body))
		}
		if err != nil && sig == webhook.SignatureValue(secret, body) {
			t.Fatalf("refused the correct signature: %v", err)
		}
	})
}

// recordingTrigger accepts every push without any network, so the fuzzer spends its
// time in the handler and the parser.
type recordingTrigger struct{ t *testing.T }

func (r recordingTrigger) Handle(_ context.Context, ev trigger.Event) (trigger.Result, error) {
	if ev.Ignored != "" {
		return trigger.Result{Outcome: trigger.Skipped, Reason: ev.Ignored}, nil
	}
	p := ev.Push
	if p.Repository == "" || !strings.HasPrefix(p.Ref, "refs/heads/") || len(p.Commit) < 40 {
		r.t.Fatalf("handler passed on a push that cannot be a run: %+v", p)
	}
	return trigger.Result{Outcome: trigger.Started, RunID: trigger.ExecutionName(p.Repository, p.Ref, p.Commit)}, nil
}

// FuzzServeHTTP: correctly signed but arbitrary deliveries never panic the handler and
// only ever get the documented answers.
func FuzzServeHTTP(f *testing.F) {
	examples, _ := triggertest.LoadGitHubExamples("push")
	for _, b := range examples {
		f.Add("push", "application/json", b)
	}
	f.Add("ping", "application/json", []byte(`{"zen":"z"}`))
	f.Add("push", "application/x-www-form-urlencoded", []byte(`payload=%7B%7D`))
	f.Fuzz(func(t *testing.T, event, contentType string, body []byte) {
		h, err := webhook.New(webhook.Options{Secret: secret, Trigger: recordingTrigger{t}, MaxBody: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
		if !validHeader(event) || !validHeader(contentType) {
			return // net/http would refuse to send these headers at all
		}
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Hub-Signature-256", webhook.SignatureValue(secret, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for event %q: %s", w.Code, event, w.Body)
		}
	})
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
