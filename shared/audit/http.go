package audit

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

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
	pageTmpl.Execute(w, view)
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

var pageTmpl = template.Must(template.New("audit").Funcs(template.FuncMap{
	"ts":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": func(s string) string { return s[:min(len(s), 10)] },
	"detail": func(d map[string]any) string {
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			// The template escapes for HTML; JSON's own \u003c escaping would only garble it.
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.Encode(d[k])
			parts = append(parts, k+"="+strings.TrimSpace(b.String()))
		}
		return strings.Join(parts, " ")
	},
	"runURL": func(run string) string { return "?" + url.Values{"run": {run}}.Encode() },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Audit trail · shipgate</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #bbb;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
form{display:flex;flex-wrap:wrap;gap:.5rem .9rem;align-items:end;margin-bottom:1rem}
label{display:flex;flex-direction:column;font-size:.8rem}
.error{border:1px solid #c00;background:#fee;padding:.5rem;margin-bottom:1rem}
code{font-size:.85rem}
tr.suspect td{background:#fee}
</style></head><body>
<h1>Audit trail</h1>
<form method="get">
<label>Pipeline<input name="pipeline" value="{{.Q.Get "pipeline"}}"></label>
<label>Run<input name="run" value="{{.Q.Get "run"}}"></label>
<label>Commit<input name="commit" value="{{.Q.Get "commit"}}" size="12"></label>
<label>Approver<input name="approver" value="{{.Q.Get "approver"}}"></label>
<label>Since (RFC 3339, UTC)<input name="since" value="{{.Q.Get "since"}}" placeholder="2026-11-26T09:00:00Z"></label>
<label>Until<input name="until" value="{{.Q.Get "until"}}"></label>
<label>Decision<select name="decision"><option value="">any</option>{{$d := .Q.Get "decision"}}{{range .Decisions}}<option{{if eq (print .) $d}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Type<select name="type"><option value="">any</option>{{$t := .Q.Get "type"}}{{range .Types}}<option{{if eq . $t}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Limit<input name="limit" value="{{.Q.Get "limit"}}" size="4" placeholder="50"></label>
<label><span>Runs only</span><input type="checkbox" name="runs" value="true"{{if .Q.Get "runs"}} checked{{end}}></label>
<button type="submit">Filter</button>
</form>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Suspects}}<p class="error" role="alert">{{.Suspects}} record(s) on this page fail their integrity check (marked ⚠); run <code>shipgate audit verify</code>.</p>{{end}}
{{if .Page.Records}}
<table>
<thead><tr><th>Time (UTC)</th><th>Pipeline</th><th>Seq</th><th>Run</th><th>Type</th><th>Actor</th><th>Stage</th><th>Outcome</th><th>Channel</th><th>Commit</th><th>Detail</th></tr></thead>
<tbody>
{{range .Page.Records}}<tr{{if .Suspect}} class="suspect" title="integrity check failed: {{.Suspect}}"{{end}}><td>{{if .Suspect}}⚠ {{end}}{{ts .Time}}</td><td>{{.Pipeline}}</td><td>{{.Seq}}</td><td>{{if .RunID}}<a href="{{runURL .RunID}}">{{.RunID}}</a>{{end}}</td><td>{{.Type}}</td><td>{{.Actor}}</td><td>{{.Stage}}</td><td>{{.Outcome}}</td><td>{{.Channel}}</td><td><code title="{{.Commit}}">{{short .Commit}}</code></td><td>{{detail .Detail}}</td></tr>
{{end}}</tbody></table>
{{else if not .Error}}<p>No records match.</p>{{end}}
{{if .NextURL}}<p><a href="{{.NextURL}}" rel="next">Next page</a></p>{{end}}
</body></html>
`))
