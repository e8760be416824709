package audit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate/shared/domain"
)

// HTTP routes served by NewHTTP.
const (
	RouteAPI  = "/api/audit"
	RoutePage = "/audit"
)

// HTTPOption configures NewHTTP.
type HTTPOption func(*httpHandler)

// WithDefaultPipeline is the pipeline shown when a request names no pipeline, run,
// commit or approver (the stack's own pipeline).
func WithDefaultPipeline(p string) HTTPOption { return func(h *httpHandler) { h.pipeline = p } }

type httpHandler struct {
	q        Querier
	pipeline string
}

// NewHTTP serves GET /api/audit (JSON: {"records": [...], "next": "<token>"}) and
// GET /audit (the console page) with the filters of `shipgate audit` as query
// parameters: pipeline, run, commit, approver, since, until, decision, type, runs, order,
// limit, page. Bad values answer 400 naming the problem.
func NewHTTP(q Querier, opts ...HTTPOption) http.Handler {
	h := &httpHandler{q: q}
	for _, o := range opts {
		o(h)
	}
	return h
}

// FilterFromQuery reads a Filter from URL query parameters.
func FilterFromQuery(v url.Values) (Filter, error) {
	f := Filter{
		Pipeline: strings.TrimSpace(v.Get("pipeline")), Run: strings.TrimSpace(v.Get("run")),
		Commit: strings.TrimSpace(v.Get("commit")), Approver: strings.TrimSpace(v.Get("approver")),
		Type: domain.RecordType(v.Get("type")), Order: Order(v.Get("order")), PageToken: v.Get("page"),
	}
	var err error
	if s := v.Get("since"); s != "" {
		if f.Since, err = ParseTime(s); err != nil {
			return f, domain.Errorf(domain.Invalid, "since: %w", err)
		}
	}
	if s := v.Get("until"); s != "" {
		if f.Until, err = ParseTime(s); err != nil {
			return f, domain.Errorf(domain.Invalid, "until: %w", err)
		}
	}
	if s := v.Get("decision"); s != "" {
		if f.Decision, err = ParseDecision(s); err != nil {
			return f, err
		}
	}
	if s := v.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 {
			return f, domain.Errorf(domain.Invalid, "limit %q: want 1..%d", s, MaxLimit)
		}
	}
	switch v.Get("runs") {
	case "", "0", "false":
	case "1", "true", "on":
		f.RunsOnly = true
	default:
		return f, domain.Errorf(domain.Invalid, "runs %q: want true or false", v.Get("runs"))
	}
	return f, nil
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isAPI := strings.HasSuffix(r.URL.Path, RouteAPI)
	if !isAPI && !strings.HasSuffix(r.URL.Path, RoutePage) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	f, err := FilterFromQuery(r.URL.Query())
	var page Page
	if err == nil {
		if f.Pipeline == "" && f.Run == "" && f.Commit == "" && f.Approver == "" {
			f.Pipeline = h.pipeline
		}
		page, err = h.q.Query(r.Context(), f)
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(err)
	}
	if isAPI {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		if err != nil {
			enc.Encode(map[string]string{"error": publicError(err)})
			return
		}
		enc.Encode(page)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	view := pageView{Q: r.URL.Query(), Page: page, Decisions: Decisions, Types: typeNames()}
	if err != nil {
		view.Error = publicError(err)
	}
	for _, e := range page.Records {
		if e.Suspect != "" {
			view.Suspects++
		}
	}
	if page.Next != "" {
		next := url.Values{}
		for k, v := range r.URL.Query() {
			next[k] = v
		}
		next.Set("page", page.Next)
		view.NextURL = "?" + next.Encode()
	}
	io.WriteString(w, renderPage(view))
}

func statusOf(err error) int {
	switch domain.KindOf(err) {
	case domain.Invalid:
		return http.StatusBadRequest
	case domain.Transient:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// publicError keeps store internals (endpoints, request ids) out of responses; bad input
// is explained in full because the caller can fix it.
func publicError(err error) string {
	switch domain.KindOf(err) {
	case domain.Invalid:
		return err.Error()
	case domain.Transient:
		return "the audit table is unreachable right now; try again"
	}
	return "internal error reading the audit trail"
}

type pageView struct {
	Q         url.Values
	Page      Page
	Error     string
	NextURL   string
	Decisions []domain.Outcome
	Types     []string
	Suspects  int
}
