package console

import (
	"fmt"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/domain"
)

// The html/template pages the console rendered before pages.go built them with plain
// code (to keep the template engine's reflection out of the Api Lambda); kept here as
// the oracle that every page still comes out byte for byte.

var oracleFuncs = template.FuncMap{
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

const oracleLayout = `{{define "top"}}<!doctype html>
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

var oraclePages = template.Must(template.New("pages").Funcs(oracleFuncs).Parse(oracleLayout + `
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

func oracleApproval(mut func(a *approval.Approval)) *approval.Approval {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a := &approval.Approval{
		ID: "ap-1", Pipeline: "web & <co>", RunID: "run-1", Commit: "0123456789abcdef0123456789abcdef01234567",
		ManifestDigest: "sha256:beef", Approvers: []string{"ana@example.com", "bo+x@example.com"}, Required: 2,
		ExpiresAt: at.Add(time.Hour), Status: approval.StatusPending,
		Summary: approval.Summary{
			Repository: "org/<repo>", Branch: "feat/a&b", Commit: "0123456789abcdef0123456789abcdef01234567",
			Message: "Fix \"it\" <now>\n\nbody + more",
			Pusher:  domain.Identity{Name: "Zoë", Email: "zoe@example.com", Login: "zoe'"},
			Tests:   &approval.TestCounts{Passed: 3, Failed: 1, Skipped: 0},
			Artifacts: []approval.ArtifactLine{
				{Name: "a", Path: "dist/a b.tgz", Size: 5 << 20, SHA256: "aa"},
				{Name: "b<", Path: "b", Size: 1500, SHA256: "bb"},
				{Name: "c", Path: "c", Size: 7, SHA256: "cc"},
			},
			Commits:          []approval.CommitLine{{ID: "1234567890", Message: "one & two", Author: "Ann"}, {ID: "ab", Message: "<x>"}},
			CommitsTruncated: true,
			CompareURL:       "https://github.com/org/repo/compare/a...b?x=<1>",
			LastDeployed:     &approval.DeployedRef{Commit: "fedcba9876543210", RunID: "run-0", At: at.Add(-time.Hour)},
			SinceURL:         "https://github.com/org/repo/compare/fedcba98...01234567",
		},
		Votes: []approval.Vote{
			{Approver: "ana@example.com", Outcome: domain.Approved, Channel: domain.ChannelEmail, Comment: "ok <3", At: at},
			{Approver: "bo+x@example.com", Outcome: domain.Rejected, Channel: domain.ChannelConsole, At: at},
		},
	}
	if mut != nil {
		mut(a)
	}
	return a
}

func TestPagesMatchFormerTemplates(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	dec := &domain.Decision{Outcome: domain.Rejected, Approvers: []string{"bo+x@example.com", "ana@example.com"}, Channel: domain.ChannelConsole, Comment: "no & <never>", DecidedAt: at}
	bareDec := &domain.Decision{Outcome: domain.Expired, Channel: domain.ChannelSystem, DecidedAt: at}
	minimal := func(a *approval.Approval) {
		a.Summary = approval.Summary{Repository: "r", Branch: "b", Commit: "c"}
		a.Votes, a.Approvers, a.Required = nil, []string{"one@example.com"}, 1
	}
	cases := []struct {
		name, page string
		d          pageData
	}{
		{"approval pending", "approval", pageData{Title: "Approve org/<repo>", Base: "https://gate.example.test", A: oracleApproval(nil), Who: "ana@example.com", LinkToken: "tok+/=&x"}},
		{"approval minimal", "approval", pageData{Title: "t", A: oracleApproval(minimal), Who: "one@example.com", LinkToken: "t"}},
		{"approval decided", "approval", pageData{Title: "t", Base: "/p", A: oracleApproval(func(a *approval.Approval) { a.Final, a.Status = dec, approval.StatusDecided })}},
		{"approval closed", "approval", pageData{Title: "t", A: oracleApproval(func(a *approval.Approval) { a.Status = approval.StatusClosed })}},
		{"approval truncated without compare", "approval", pageData{Title: "t", A: oracleApproval(func(a *approval.Approval) { a.Summary.CompareURL, a.Summary.SinceURL = "", "" })}},
		{"approval unsafe urls", "approval", pageData{Title: "t", Base: "javascript:alert(1)//", A: oracleApproval(func(a *approval.Approval) { a.Summary.SinceURL, a.ID = "javascript:x", "id with space/<>" })}},
		{"decided problem", "decided", pageData{Title: "t", Problem: "it <broke>", Back: "https://gate.example.test/"}},
		{"decided vote waiting", "decided", pageData{Title: "t", A: oracleApproval(nil), Vote: &approval.Vote{Approver: "ana@example.com", Outcome: domain.Approved, Comment: "fine"}}},
		{"decided vote without approver", "decided", pageData{Title: "t", Vote: &approval.Vote{}}},
		{"decided final resumed", "decided", pageData{Title: "t", Final: dec, Resumed: true, Vote: &approval.Vote{Approver: "bo", Outcome: domain.Rejected}}},
		{"decided final pending resume", "decided", pageData{Title: "t", Final: bareDec, Back: "javascript:alert(1)"}},
		{"home empty", "home", pageData{Title: "shipgate: p", User: "ana@example.com", Pipeline: "p<"}},
		{"home items", "home", pageData{Title: "shipgate: p", Base: "https://g.example.test", User: "ana", Pipeline: "p", Items: []homeItem{
			{A: oracleApproval(nil), CanDecide: true, Form: "form+tok"},
			{A: oracleApproval(minimal)},
		}}},
		{"run waiting", "run", pageData{Title: "Run run-1", A: oracleApproval(nil)}},
		{"run final", "run", pageData{Title: "Run run-1", A: oracleApproval(nil), Final: dec}},
		{"error", "error", pageData{Title: "Not Found", Message: "no approval \"x<y>\"", Code: 404, Base: "https://g.example.test"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want strings.Builder
			if err := oraclePages.ExecuteTemplate(&want, c.page, c.d); err != nil {
				t.Fatal(err)
			}
			got, err := renderPage(c.page, c.d)
			if err != nil {
				t.Fatal(err)
			}
			if got != want.String() {
				t.Errorf("page %s differs:\n%s", c.page, firstDiff(got, want.String()))
			}
		})
	}
}

func TestRenderPageRefusesBadInput(t *testing.T) {
	cases := []struct {
		name, page string
		d          pageData
	}{
		{"unknown page", "nope", pageData{}},
		{"approval without approval", "approval", pageData{}},
		{"run without approval", "run", pageData{}},
		{"home item without approval", "home", pageData{Items: []homeItem{{}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, err := renderPage(c.page, c.d); err == nil {
				t.Errorf("renderPage(%q) = %q, nil; want an error", c.page, got)
			}
		})
	}
}

func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-60)
	return fmt.Sprintf("at byte %d\ngot  %q\nwant %q", i, got[lo:min(len(got), i+60)], want[lo:min(len(want), i+60)])
}
