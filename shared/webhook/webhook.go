// Package webhook is GitHub's door into shipgate: the http.Handler behind
// `POST /webhooks/github`, mounted by the local server and by the API Lambda's adapter.
//
// The endpoint is on the public internet, so nothing is trusted before the signature
// checks out: X-Hub-Signature-256 is verified (HMAC-SHA256, constant-time compare) over the
// raw body before the body is parsed, a handler with no secret refuses every delivery, and
// bodies over MaxBody are refused without being read. The only synchronous work after that
// is starting the run (package trigger), so GitHub gets its answer within its timeout.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/trigger"
)

// Path is the route the handler serves.
const Path = "/webhooks/github"

// DefaultMaxBody is GitHub's own cap on webhook payloads (25 MB); GitHub does not deliver
// larger ones, so anything bigger is not GitHub.
const DefaultMaxBody = 25 << 20

// DefaultTimeout bounds the synchronous work per delivery, under the 2 s answer.
const DefaultTimeout = 1800 * time.Millisecond

// Trigger is what the handler hands verified deliveries to (*trigger.Service).
type Trigger interface {
	Handle(ctx context.Context, ev trigger.Event) (trigger.Result, error)
}

var _ Trigger = (*trigger.Service)(nil)

// Options configure New.
type Options struct {
	// Secret is the webhook secret shared with GitHub. Empty refuses every delivery.
	Secret []byte
	// Trigger starts runs.
	Trigger Trigger
	// MaxBody caps the request body; 0 means DefaultMaxBody.
	MaxBody int64
	// Timeout bounds the work per delivery; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock (receipt time of a push); nil means time.Now.
	Now func() time.Time
	// Log receives refusals and failures; nil means slog.Default().
	Log *slog.Logger
}

// Handler serves GitHub webhook deliveries.
type Handler struct{ o Options }

// New returns the handler. An empty Secret is accepted (the handler then refuses every
// delivery, so a misconfigured stack fails closed but still answers).
func New(o Options) (*Handler, error) {
	if o.Trigger == nil {
		return nil, errors.New("webhook: no Trigger to hand deliveries to")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Handler{o: o}, nil
}

// Response is the JSON body of every answer.
type Response struct {
	Outcome string `json:"outcome"` // started, duplicate, ignored, pong, refused, error
	Message string `json:"message"`
	RunID   string `json:"runId,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.o.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.answer(w, http.StatusMethodNotAllowed, Response{Outcome: "refused", Message: "method " + r.Method + " not allowed: GitHub delivers with POST"})
		return
	}
	if len(h.o.Secret) == 0 {
		h.o.Log.Error("webhook: no secret configured, refusing delivery", "delivery", r.Header.Get("X-GitHub-Delivery"))
		h.answer(w, http.StatusUnauthorized, Response{Outcome: "refused", Message: "no webhook secret configured: every delivery is refused"})
		return
	}
	if r.ContentLength > h.o.MaxBody {
		h.answer(w, http.StatusRequestEntityTooLarge, Response{Outcome: "refused", Message: fmt.Sprintf("body of %d bytes exceeds the %d-byte cap", r.ContentLength, h.o.MaxBody)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.answer(w, http.StatusRequestEntityTooLarge, Response{Outcome: "refused", Message: fmt.Sprintf("body exceeds the %d-byte cap", h.o.MaxBody)})
		return
	}
	if err != nil {
		h.answer(w, http.StatusBadRequest, Response{Outcome: "refused", Message: "read body: " + err.Error()})
		return
	}
	if err := Verify(h.o.Secret, body, r.Header.Get(SignatureHeader), r.Header.Get(LegacySignatureHeader)); err != nil {
		h.o.Log.Warn("webhook: signature refused", "delivery", r.Header.Get("X-GitHub-Delivery"), "err", err)
		h.answer(w, http.StatusUnauthorized, Response{Outcome: "refused", Message: err.Error()})
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "" {
		h.answer(w, http.StatusBadRequest, Response{Outcome: "refused", Message: "X-GitHub-Event header missing"})
		return
	}
	if event == "ping" {
		h.answer(w, http.StatusOK, Response{Outcome: "pong", Message: "pong"})
		return
	}
	payload, err := Payload(r.Header.Get("Content-Type"), body)
	if err != nil {
		h.answer(w, http.StatusBadRequest, Response{Outcome: "refused", Message: err.Error()})
		return
	}
	ev, err := trigger.ParseGitHub(event, payload, r.Header.Get("X-GitHub-Delivery"), received)
	if err != nil {
		h.answer(w, http.StatusBadRequest, Response{Outcome: "refused", Message: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.Timeout)
	defer cancel()
	res, err := h.o.Trigger.Handle(ctx, ev)
	if err != nil {
		h.o.Log.Error("webhook: start failed", "delivery", ev.Push.DeliveryID, "err", err)
		status, msg := http.StatusInternalServerError, "could not start the run: "+err.Error()
		switch {
		case domain.IsKind(err, domain.Invalid):
			status = http.StatusBadRequest
		case domain.IsKind(err, domain.Transient), errors.Is(err, context.DeadlineExceeded):
			status, msg = http.StatusServiceUnavailable, "could not start the run in time, redeliver: "+err.Error()
		}
		h.answer(w, status, Response{Outcome: "error", Message: msg})
		return
	}
	switch res.Outcome {
	case trigger.Started:
		h.answer(w, http.StatusCreated, Response{Outcome: string(res.Outcome), Message: "started run " + res.RunID, RunID: res.RunID})
	case trigger.Duplicate:
		h.answer(w, http.StatusOK, Response{Outcome: string(res.Outcome), Message: "already started: " + res.Reason, RunID: res.RunID})
	default:
		h.answer(w, http.StatusAccepted, Response{Outcome: "ignored", Message: "ignored: " + res.Reason})
	}
}

func (h *Handler) answer(w http.ResponseWriter, status int, r Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(r)
}

// Signature headers GitHub sets.
const (
	SignatureHeader       = "X-Hub-Signature-256"
	LegacySignatureHeader = "X-Hub-Signature" // SHA-1: never accepted
)

// Verify checks sig256, the X-Hub-Signature-256 value, against body. legacy, the SHA-1
// header, only makes the refusal message precise: SHA-1 alone is never enough.
func Verify(secret, body []byte, sig256, legacy string) error {
	if len(secret) == 0 {
		return errors.New("no webhook secret configured")
	}
	if sig256 == "" {
		if legacy != "" {
			return errors.New("only a sha1 signature (X-Hub-Signature) was sent; X-Hub-Signature-256 is required")
		}
		return errors.New("X-Hub-Signature-256 header missing")
	}
	hexSig, ok := strings.CutPrefix(sig256, "sha256=")
	if !ok {
		return errors.New(`X-Hub-Signature-256 malformed: want "sha256=<64 hex digits>"`)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errors.New(`X-Hub-Signature-256 malformed: want "sha256=<64 hex digits>"`)
	}
	if !hmac.Equal(got, Sign(secret, body)) {
		return errors.New("X-Hub-Signature-256 does not match the body")
	}
	return nil
}

// Sign is HMAC-SHA256 of body under secret (the raw digest).
func Sign(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// SignatureValue is the X-Hub-Signature-256 header GitHub would send for body.
func SignatureValue(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(Sign(secret, body))
}

// DecodeBody returns the raw bytes of an API Gateway request body: base64-decoded when
// API Gateway set isBase64Encoded. GitHub signed the raw bytes, so the API adapter must
// verify (hand this handler) the decoded body, never the base64 text.
func DecodeBody(body string, isBase64Encoded bool) ([]byte, error) {
	if !isBase64Encoded {
		return []byte(body), nil
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("body marked base64 but not valid base64: %w", err)
	}
	return b, nil
}

// Payload extracts the JSON payload from a verified body: the body itself for
// application/json, the "payload" form field for application/x-www-form-urlencoded (the
// other content type a GitHub webhook can be configured with).
func Payload(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/json", nil
	}
	if err != nil {
		return nil, fmt.Errorf("Content-Type %q: %v", contentType, err)
	}
	switch mt {
	case "application/json":
		return body, nil
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("form body: %v", err)
		}
		p := v.Get("payload")
		if p == "" {
			return nil, errors.New(`form body has no "payload" field`)
		}
		return []byte(p), nil
	}
	return nil, fmt.Errorf("Content-Type %q not supported: use application/json", contentType)
}
