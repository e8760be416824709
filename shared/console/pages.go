package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/domain"
)

type pageData struct {
	Title     string
	Base      string
	A         *approval.Approval
	Who       string // the approver a link belongs to
	LinkToken string
	User      string
	Pipeline  string
	Items     []homeItem
	Vote      *approval.Vote
	Final     *domain.Decision
	Resumed   bool
	Back      string
	Problem   string
	Message   string
	Code      int
}

type homeItem struct {
	A         *approval.Approval
	CanDecide bool
	Form      string
}

var pageFuncs = template.FuncMap{
	"short": approval.Short,
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"human": func(n int64) string {
		switch {
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
}

const layout = `{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .6rem;vertical-align:top}
code{font-size:.9em}.card{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.approved{color:#0a6b2d}.rejected,.expired,.superseded{color:#a11}textarea{width:100%;min-height:4rem}
button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}#message{white-space:pre-wrap}
</style></head><body>
<header><a href="{{.Base}}/">shipgate</a></header>
{{end}}
{{define "bottom"}}</body></html>{{end}}

{{define "summary"}}{{with .Summary}}
<table class="summary">
<tr><th>Repository</th><td id="repo">{{.Repository}}</td></tr>
<tr><th>Branch</th><td id="branch">{{.Branch}}</td></tr>
<tr><th>Commit</th><td><code id="commit">{{.Commit}}</code><br><span id="message">{{.Message}}</span></td></tr>
<tr><th>Pushed by</th><td id="pusher">{{.Pusher.Name}}{{if .Pusher.Email}} &lt;{{.Pusher.Email}}&gt;{{end}}{{if .Pusher.Login}} ({{.Pusher.Login}}){{end}}</td></tr>
{{if .Tests}}<tr><th>Tests</th><td id="tests">{{.Tests.Passed}} passed, {{.Tests.Failed}} failed, {{.Tests.Skipped}} skipped</td></tr>{{end}}
<tr><th>Manifest</th><td><code id="digest">{{$.ManifestDigest}}</code></td></tr>
</table>
{{if .Artifacts}}<h3>Artifacts</h3><table id="artifacts"><tr><th>Name</th><th>Path</th><th>Size</th><th>SHA-256</th></tr>
{{range .Artifacts}}<tr><td>{{.Name}}</td><td><code>{{.Path}}</code></td><td>{{human .Size}}</td><td><code>{{.SHA256}}</code></td></tr>{{end}}</table>{{end}}
{{if .Commits}}<h3>Commits in this push</h3><ul id="commits">{{range .Commits}}<li><code>{{short .ID}}</code> {{.Message}}{{if .Author}} ({{.Author}}){{end}}</li>{{end}}
{{if .CommitsTruncated}}<li>more commits not shown{{if .CompareURL}}: <a href="{{.CompareURL}}">compare</a>{{end}}</li>{{end}}</ul>{{end}}
{{if .LastDeployed}}<p id="last-deployed">Last deployed: <code>{{short .LastDeployed.Commit}}</code> (run {{.LastDeployed.RunID}}, {{when .LastDeployed.At}}){{if .SinceURL}}: <a href="{{.SinceURL}}">changes since then</a>{{end}}</p>{{end}}
{{end}}
<p>Run <code>{{.RunID}}</code> of pipeline <b>{{.Pipeline}}</b>. Needs {{.Required}} approval{{if gt .Required 1}}s{{end}} from: {{range $i, $a := .Approvers}}{{if $i}}, {{end}}{{$a}}{{end}}. Decide by {{when .ExpiresAt}}.</p>
{{if .Votes}}<h3>Decisions so far</h3><ul id="votes">{{range .Votes}}<li class="{{.Outcome}}">{{.Approver}}: {{.Outcome}} via {{.Channel}} at {{when .At}}{{if .Comment}}: “{{.Comment}}”{{end}}</li>{{end}}</ul>{{end}}
{{end}}

{{define "final"}}<p id="outcome" class="{{.Outcome}}">Outcome: <b>{{.Outcome}}</b>{{if .Approvers}} by {{range $i, $a := .Approvers}}{{if $i}}, {{end}}{{$a}}{{end}}{{end}} via {{.Channel}} at {{when .DecidedAt}}{{if .Comment}}: “{{.Comment}}”{{end}}</p>{{end}}
`

var pages = template.Must(template.New("pages").Funcs(pageFuncs).Parse(layout + `
{{define "approval"}}{{template "top" .}}
<h1>Approve deploy of {{.A.Summary.Repository}} {{.A.Summary.Branch}}@{{short .A.Commit}}?</h1>
<p>This link belongs to <b id="who">{{.Who}}</b>. Opening it changed nothing.</p>
{{template "summary" .A}}
{{if .A.Final}}{{template "final" .A.Final}}
{{else if eq (print .A.Status) "pending"}}
<form method="post" action="{{.Base}}/approvals/{{.A.ID}}" class="card">
<input type="hidden" name="t" value="{{.LinkToken}}">
<input type="hidden" name="digest" value="{{.A.ManifestDigest}}">
<label for="comment">Comment (required to reject)</label><br>
<textarea id="comment" name="comment" maxlength="2000"></textarea><br>
<button id="approve" type="submit" name="decision" value="approve">Approve</button>
<button id="reject" type="submit" name="decision" value="reject">Reject</button>
</form>
{{else}}<p id="outcome">This approval is {{.A.Status}}.</p>{{end}}
{{template "bottom" .}}{{end}}

{{define "decided"}}{{template "top" .}}
<h1>{{if .Problem}}Not recorded as asked{{else}}Decision recorded{{end}}</h1>
{{if .Problem}}<p id="problem">{{.Problem}}</p>{{end}}
{{if .Vote}}{{if .Vote.Approver}}<p id="vote">{{.Vote.Approver}}: {{.Vote.Outcome}}{{if .Vote.Comment}}: “{{.Vote.Comment}}”{{end}}</p>{{end}}{{end}}
{{if .Final}}{{template "final" .Final}}{{if .Resumed}}<p id="resumed">The run has been resumed.</p>{{else}}<p id="resumed">The run will be resumed shortly.</p>{{end}}
{{else if .A}}<p id="outcome">Waiting for {{.A.Required}} approvals in total.</p>{{end}}
{{if .Back}}<p><a href="{{.Back}}">Back to the console</a></p>{{end}}
{{template "bottom" .}}{{end}}

{{define "home"}}{{template "top" .}}
<h1>Pending approvals: {{.Pipeline}}</h1>
<p>Signed in as <b id="user">{{.User}}</b>.</p>
{{if not .Items}}<p id="none">Nothing waits for a decision.</p>{{end}}
{{range .Items}}<section class="card approval" id="approval-{{.A.ID}}">
<h2>{{.A.Summary.Repository}} {{.A.Summary.Branch}}@{{short .A.Commit}}: {{.A.Summary.Message}}</h2>
{{template "summary" .A}}
{{if .CanDecide}}<form method="post" action="{{$.Base}}/approvals/{{.A.ID}}">
<input type="hidden" name="f" value="{{.Form}}">
<input type="hidden" name="digest" value="{{.A.ManifestDigest}}">
<label for="comment-{{.A.ID}}">Comment (required to reject)</label><br>
<textarea id="comment-{{.A.ID}}" name="comment" maxlength="2000"></textarea><br>
<button id="approve-{{.A.ID}}" type="submit" name="decision" value="approve">Approve</button>
<button id="reject-{{.A.ID}}" type="submit" name="decision" value="reject">Reject</button>
</form>{{else}}<p>You are not an approver of this run.</p>{{end}}
</section>{{end}}
{{template "bottom" .}}{{end}}

{{define "run"}}{{template "top" .}}
<h1>Run {{.A.RunID}}</h1>
{{template "summary" .A}}
{{if .Final}}{{template "final" .Final}}{{else}}<p id="outcome">Waiting for a decision.</p>{{end}}
{{template "bottom" .}}{{end}}

{{define "error"}}{{template "top" .}}
<h1>{{.Title}}</h1><p id="problem">{{.Message}}</p>
{{template "bottom" .}}{{end}}
`))

func (h *Handler) render(w http.ResponseWriter, code int, name string, d pageData) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, d); err != nil {
		h.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

func (h *Handler) errorPage(w http.ResponseWriter, code int, msg string) {
	h.render(w, code, "error", pageData{Title: http.StatusText(code), Message: msg, Code: code, Base: h.o.BaseURL})
}
