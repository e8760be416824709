// Package console serves the people-facing HTTP side of the approval gate, the same
// locally and behind API Gateway: the approval page an email link opens (GET and HEAD
// only show; the page's POST decides), the console home listing pending approvals with
// approve/reject forms for the signed-in approver, a run page, and JSON under
// /api/approvals. It decides nothing itself: every decision goes through the gate, which
// authorizes, records and resumes.
package console

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/web"
)

// Gate is what the console needs of the approval gate (*approval.Service).
type Gate interface {
	View(ctx context.Context, id, linkToken string) (*approval.Approval, string, error)
	Decide(ctx context.Context, req approval.DecideRequest) (*approval.DecideResult, error)
	Get(ctx context.Context, id string) (*approval.Approval, error)
	Pending(ctx context.Context) ([]*approval.Approval, error)
	Pipeline() string
}

var _ Gate = (*approval.Service)(nil)

// Options configure New.
type Options struct {
	// BaseURL is the public URL of the HTTP API (absolute, no trailing slash); pages use
	// it for absolute links. Empty: links are relative.
	BaseURL string
	// Identity says who the signed-in user is: on AWS the API Gateway adapter puts the
	// JWT's email claim in the request (web.Identity, the default); locally LocalUser.
	Identity func(*http.Request) (email string, ok bool)
	// LocalUser, when set, signs every request in as this email (local mode).
	LocalUser string
	// FormKey signs the console forms' anti-CSRF tokens. Every instance serving the same
	// users must share it (pass the link signing key on AWS); empty: a random key, right
	// for a single local process.
	FormKey []byte
	// Audit, when set, records refused console form posts (a missing or forged form
	// token); the gate audits every other refusal itself.
	Audit approval.Appender
	// Logger receives errors (never tokens). Default: discard.
	Logger *slog.Logger
}

// Handler is the console's http.Handler.
type Handler struct {
	gate  Gate
	o     Options
	forms *approval.Signer
	mux   *http.ServeMux
	log   *slog.Logger
}

// New returns the console over gate.
func New(gate Gate, o Options) (*Handler, error) {
	if gate == nil {
		return nil, errors.New("console: gate is nil")
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.LocalUser != "" {
		u := o.LocalUser
		o.Identity = func(*http.Request) (string, bool) { return u, true }
	}
	if o.Identity == nil {
		o.Identity = web.Identity
	}
	key := o.FormKey
	if len(key) == 0 {
		key = make([]byte, approval.MinKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("console: form key: %w", err)
		}
	}
	forms, err := approval.NewSigner(key)
	if err != nil {
		return nil, fmt.Errorf("console: form key: %w", err)
	}
	h := &Handler{gate: gate, o: o, forms: forms, mux: http.NewServeMux(), log: o.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	// GET patterns also answer HEAD; both only read.
	h.mux.HandleFunc("GET /approvals/{id}", h.approvalPage)
	h.mux.HandleFunc("POST /approvals/{id}", h.approvalPost)
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("GET /runs/{id}", h.runPage)
	h.mux.HandleFunc("GET /api/approvals", h.apiList)
	h.mux.HandleFunc("GET /api/approvals/{id}", h.apiGet)
	h.mux.HandleFunc("POST /api/approvals/{id}", h.apiDecide)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) user(r *http.Request) (string, bool) { return h.o.Identity(r) }

// status maps an error's kind to the HTTP status a caller should see.
func status(err error) int {
	switch domain.KindOf(err) {
	case domain.Forbidden:
		return http.StatusForbidden
	case domain.NotFound:
		return http.StatusNotFound
	case domain.Conflict:
		return http.StatusConflict
	case domain.Invalid:
		return http.StatusBadRequest
	case domain.Transient:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// publicMessage is what a person may be told about err: the gate's own classified
// messages, but nothing from an unclassified (internal) error.
func publicMessage(err error) string {
	if domain.KindOf(err) == domain.Internal {
		return "something went wrong on our side; try again later"
	}
	var e *domain.Error
	if errors.As(err, &e) && e.Msg != "" {
		return e.Msg
	}
	return err.Error()
}

func (h *Handler) logErr(r *http.Request, err error) {
	if domain.KindOf(err) == domain.Internal || domain.KindOf(err) == domain.Transient {
		h.log.Error("console", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// approvalPage shows what an email link would approve. It changes nothing, so link
// scanners and prefetchers that GET or HEAD it (following redirects) decide nothing.
func (h *Handler) approvalPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tok := r.URL.Query().Get("t")
	a, who, err := h.gate.View(r.Context(), id, tok)
	if err != nil {
		h.logErr(r, err)
		h.errorPage(w, status(err), publicMessage(err))
		return
	}
	h.render(w, http.StatusOK, "approval", pageData{Title: "Approve " + a.Summary.Repository, A: a, Who: who, LinkToken: tok, Base: h.o.BaseURL})
}

// approvalPost decides from the approval page (link token in the body: a cross-site
// form cannot know it) or from the console (signed-in user plus the form token).
func (h *Handler) approvalPost(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !approval.ValidID(id) {
		// Nothing to decide and nothing worth a record in the trail.
		h.errorPage(w, http.StatusNotFound, "no such approval")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, http.StatusBadRequest, "could not read the form")
		return
	}
	req := approval.DecideRequest{ApprovalID: id, Comment: r.PostForm.Get("comment"), ManifestDigest: r.PostForm.Get("digest")}
	switch r.PostForm.Get("decision") {
	case "approve":
		req.Outcome = domain.Approved
	case "reject":
		req.Outcome = domain.Rejected
	default:
		h.errorPage(w, http.StatusBadRequest, "choose approve or reject")
		return
	}
	back := ""
	if tok := r.PostForm.Get("t"); tok != "" {
		req.LinkToken, req.Channel = tok, domain.ChannelEmail
	} else {
		user, ok := h.user(r)
		if !ok {
			h.errorPage(w, http.StatusUnauthorized, "sign in to decide from the console")
			return
		}
		if !h.forms.CheckFormToken(user, id, r.PostForm.Get("f")) {
			h.refuseForm(r, id, user)
			h.errorPage(w, http.StatusForbidden, "this form is not valid; reload the console and try again")
			return
		}
		req.Actor, req.Channel = domain.Identity{Email: user}, domain.ChannelConsole
		back = h.o.BaseURL + "/"
	}
	res, err := h.gate.Decide(r.Context(), req)
	if err != nil && (res == nil || res.Final == nil || domain.KindOf(err) == domain.Forbidden || domain.KindOf(err) == domain.Invalid) {
		h.logErr(r, err)
		h.errorPage(w, status(err), publicMessage(err))
		return
	}
	d := pageData{Title: "Decision recorded", A: res.Approval, Vote: &res.Vote, Final: res.Final, Resumed: res.Resumed, Back: back, Base: h.o.BaseURL}
	code := http.StatusOK
	if err != nil {
		h.logErr(r, err)
		d.Problem = publicMessage(err)
		code = status(err)
	}
	h.render(w, code, "decided", d)
}

func (h *Handler) refuseForm(r *http.Request, id, user string) {
	if h.o.Audit == nil {
		return
	}
	a, err := h.gate.Get(r.Context(), id)
	rec := domain.Record{Type: domain.RecApprovalRefused, Pipeline: h.gate.Pipeline(), Actor: user,
		Channel: domain.ChannelConsole, ApprovalID: id, Detail: map[string]any{"reason": "console form token missing or invalid"}}
	if err == nil {
		rec.RunID, rec.Commit = a.RunID, a.Commit
	}
	if err := h.o.Audit.Append(r.Context(), rec); err != nil {
		h.log.Error("audit append failed", "err", err)
	}
}

// home lists the pending approvals with forms for the signed-in approver.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	user, ok := h.user(r)
	if !ok {
		h.errorPage(w, http.StatusUnauthorized, "sign in to use the console")
		return
	}
	list, err := h.gate.Pending(r.Context())
	if err != nil {
		h.logErr(r, err)
		h.errorPage(w, status(err), publicMessage(err))
		return
	}
	var items []homeItem
	for _, a := range list {
		// The index lists summaries; votes are read per approval to show progress.
		full, err := h.gate.Get(r.Context(), a.ID)
		if err != nil || full.Final != nil {
			continue // decided a moment ago: the run is being resumed
		}
		items = append(items, homeItem{A: full, CanDecide: isApprover(full, user), Form: h.forms.FormToken(user, full.ID)})
	}
	h.render(w, http.StatusOK, "home", pageData{Title: "shipgate: " + h.gate.Pipeline(), User: user, Items: items, Pipeline: h.gate.Pipeline(), Base: h.o.BaseURL})
}

func isApprover(a *approval.Approval, user string) bool {
	u := strings.ToLower(strings.TrimSpace(user))
	for _, ap := range a.Approvers {
		if ap == u {
			return true
		}
	}
	return false
}

// runPage shows a run's approval: what was asked, the votes and the outcome.
func (h *Handler) runPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.user(r); !ok {
		h.errorPage(w, http.StatusUnauthorized, "sign in to use the console")
		return
	}
	a, err := h.gate.Get(r.Context(), approval.ID(h.gate.Pipeline(), r.PathValue("id")))
	if err != nil {
		h.errorPage(w, status(err), publicMessage(err))
		return
	}
	h.render(w, http.StatusOK, "run", pageData{Title: "Run " + a.RunID, A: a, Final: a.Final, Base: h.o.BaseURL})
}

// API: JSON for scripts and the console. The approval JSON has no task token field.

func (h *Handler) apiList(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.user(r); !ok {
		writeJSONError(w, http.StatusUnauthorized, "sign in first")
		return
	}
	list, err := h.gate.Pending(r.Context())
	if err != nil {
		h.logErr(r, err)
		writeJSONError(w, status(err), publicMessage(err))
		return
	}
	if list == nil {
		list = []*approval.Approval{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipeline": h.gate.Pipeline(), "approvals": list})
}

func (h *Handler) apiGet(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.user(r); !ok {
		writeJSONError(w, http.StatusUnauthorized, "sign in first")
		return
	}
	a, err := h.gate.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeJSONError(w, status(err), publicMessage(err))
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// DecisionRequest is the JSON body of POST /api/approvals/{id}.
type DecisionRequest struct {
	Decision       string `json:"decision"` // approve | reject
	Comment        string `json:"comment,omitempty"`
	ManifestDigest string `json:"manifestDigest,omitempty"`
}

func (h *Handler) apiDecide(w http.ResponseWriter, r *http.Request) {
	user, ok := h.user(r)
	if !ok {
		writeJSONError(w, http.StatusUnauthorized, "sign in first")
		return
	}
	// A cross-site form cannot send application/json without a preflight, which this API
	// does not grant: requiring it is the CSRF defence for cookie-less JSON callers.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "send the decision as application/json")
		return
	}
	var body DecisionRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return
	}
	req := approval.DecideRequest{ApprovalID: r.PathValue("id"), Actor: domain.Identity{Email: user}, Channel: domain.ChannelConsole,
		Comment: body.Comment, ManifestDigest: body.ManifestDigest}
	switch body.Decision {
	case "approve":
		req.Outcome = domain.Approved
	case "reject":
		req.Outcome = domain.Rejected
	default:
		writeJSONError(w, http.StatusBadRequest, `decision must be "approve" or "reject"`)
		return
	}
	res, err := h.gate.Decide(r.Context(), req)
	if err != nil {
		h.logErr(r, err)
		out := map[string]any{"error": publicMessage(err)}
		if res != nil && res.Final != nil {
			out["final"] = res.Final
		}
		writeJSON(w, status(err), out)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"vote": res.Vote, "final": res.Final, "resumed": res.Resumed})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
