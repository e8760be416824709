package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/htmlesc"
)

// The pages are built with plain code over htmlesc rather than html/template: the
// template engine's reflective field access (reflect.Value.MethodByName) keeps every
// exported method of every reachable type, which made the Api Lambda twice the 12 MB
// issue 4 allows. htmlesc escapes by html/template's rules, and pages_oracle_test.go
// renders the former templates to check every page still comes out byte for byte.

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

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// renderPage builds the named page; an unknown name is a programming error reported as
// such rather than a blank page.
func renderPage(name string, d pageData) (string, error) {
	var b htmlesc.Builder
	switch name {
	case "approval":
		if d.A == nil {
			return "", fmt.Errorf("page %q needs an approval", name)
		}
		approvalPage(&b, d)
	case "decided":
		decidedPage(&b, d)
	case "home":
		for _, it := range d.Items {
			if it.A == nil {
				return "", fmt.Errorf("page %q: item without an approval", name)
			}
		}
		homePage(&b, d)
	case "run":
		if d.A == nil {
			return "", fmt.Errorf("page %q needs an approval", name)
		}
		runPage(&b, d)
	case "error":
		top(&b, d)
		b.Raw("\n<h1>")
		b.Text(d.Title)
		b.Raw(`</h1><p id="problem">`)
		b.Text(d.Message)
		b.Raw("</p>\n")
		bottom(&b)
	default:
		return "", fmt.Errorf("no page %q", name)
	}
	return b.String(), nil
}

func top(b *htmlesc.Builder, d pageData) {
	b.Raw(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<title>`)
	b.Text(d.Title)
	b.Raw(`</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .6rem;vertical-align:top}
code{font-size:.9em}.card{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.approved{color:#0a6b2d}.rejected,.expired,.superseded{color:#a11}textarea{width:100%;min-height:4rem}
button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}#message{white-space:pre-wrap}
</style></head><body>
<header><a href="`)
	b.URL(d.Base)
	b.Raw(`/">shipgate</a></header>
`)
}

func bottom(b *htmlesc.Builder) { b.Raw("</body></html>") }

// names writes a comma-separated list.
func names(b *htmlesc.Builder, list []string) {
	for i, s := range list {
		if i > 0 {
			b.Raw(", ")
		}
		b.Text(s)
	}
}

func summary(b *htmlesc.Builder, a *approval.Approval) {
	sm := &a.Summary
	b.Raw("\n<table class=\"summary\">\n<tr><th>Repository</th><td id=\"repo\">")
	b.Text(sm.Repository)
	b.Raw("</td></tr>\n<tr><th>Branch</th><td id=\"branch\">")
	b.Text(sm.Branch)
	b.Raw("</td></tr>\n<tr><th>Commit</th><td><code id=\"commit\">")
	b.Text(sm.Commit)
	b.Raw("</code><br><span id=\"message\">")
	b.Text(sm.Message)
	b.Raw("</span></td></tr>\n<tr><th>Pushed by</th><td id=\"pusher\">")
	b.Text(sm.Pusher.Name)
	if sm.Pusher.Email != "" {
		b.Raw(" &lt;")
		b.Text(sm.Pusher.Email)
		b.Raw("&gt;")
	}
	if sm.Pusher.Login != "" {
		b.Raw(" (")
		b.Text(sm.Pusher.Login)
		b.Raw(")")
	}
	b.Raw("</td></tr>\n")
	if t := sm.Tests; t != nil {
		b.Raw("<tr><th>Tests</th><td id=\"tests\">")
		approval.TestsHTML(b, t)
		b.Raw("</td></tr>")
	}
	b.Raw("\n<tr><th>Manifest</th><td><code id=\"digest\">")
	b.Text(a.ManifestDigest)
	b.Raw("</code></td></tr>\n</table>\n")
	if len(sm.Artifacts) > 0 {
		b.Raw("<h3>Artifacts</h3><table id=\"artifacts\"><tr><th>Name</th><th>Path</th><th>Size</th><th>SHA-256</th></tr>\n")
		for _, x := range sm.Artifacts {
			b.Raw("<tr><td>")
			b.Text(x.Name)
			b.Raw("</td><td><code>")
			b.Text(x.Path)
			b.Raw("</code></td><td>")
			b.Text(approval.HumanBytes(x.Size))
			b.Raw("</td><td><code>")
			b.Text(x.SHA256)
			b.Raw("</code></td></tr>")
		}
		b.Raw("</table>")
	}
	b.Raw("\n")
	if len(sm.Commits) > 0 {
		b.Raw("<h3>Commits in this push</h3><ul id=\"commits\">")
		approval.CommitItemsHTML(b, sm.Commits)
		b.Raw("\n")
		if sm.CommitsTruncated {
			b.Raw("<li>more commits not shown")
			if sm.CompareURL != "" {
				b.Raw(": <a href=\"")
				b.URL(sm.CompareURL)
				b.Raw("\">compare</a>")
			}
			b.Raw("</li>")
		}
		b.Raw("</ul>")
	}
	b.Raw("\n")
	if ld := sm.LastDeployed; ld != nil {
		b.Raw("<p id=\"last-deployed\">Last deployed: <code>")
		b.Text(approval.Short(ld.Commit))
		b.Raw("</code> (run ")
		b.Text(ld.RunID)
		b.Raw(", ")
		b.Text(when(ld.At))
		b.Raw(")")
		if sm.SinceURL != "" {
			b.Raw(": <a href=\"")
			b.URL(sm.SinceURL)
			b.Raw("\">changes since then</a>")
		}
		b.Raw("</p>")
		approval.UndeployedHTML(b, sm)
	}
	b.Raw("\n\n<p>Run <code>")
	b.Text(a.RunID)
	b.Raw("</code> of pipeline <b>")
	b.Text(a.Pipeline)
	b.Raw("</b>. Needs ")
	b.Int(a.Required)
	b.Raw(" approval")
	if a.Required > 1 {
		b.Raw("s")
	}
	b.Raw(" from: ")
	names(b, a.Approvers)
	b.Raw(". Decide by ")
	b.Text(when(a.ExpiresAt))
	b.Raw(".</p>\n")
	if len(a.Votes) > 0 {
		b.Raw("<h3>Decisions so far</h3><ul id=\"votes\">")
		for _, v := range a.Votes {
			b.Raw("<li class=\"")
			b.Text(string(v.Outcome))
			b.Raw("\">")
			b.Text(v.Approver)
			b.Raw(": ")
			b.Text(string(v.Outcome))
			via(b, v.Channel, v.At, v.Comment)
			b.Raw("</li>")
		}
		b.Raw("</ul>")
	}
	b.Raw("\n")
}

// via writes how and when a vote or a final decision was made, and its comment.
func via(b *htmlesc.Builder, ch domain.Channel, at time.Time, comment string) {
	b.Raw(" via ")
	b.Text(string(ch))
	b.Raw(" at ")
	b.Text(when(at))
	if comment != "" {
		b.Raw(": “")
		b.Text(comment)
		b.Raw("”")
	}
}

func final(b *htmlesc.Builder, f *domain.Decision) {
	b.Raw("<p id=\"outcome\" class=\"")
	b.Text(string(f.Outcome))
	b.Raw("\">Outcome: <b>")
	b.Text(string(f.Outcome))
	b.Raw("</b>")
	if len(f.Approvers) > 0 {
		b.Raw(" by ")
		names(b, f.Approvers)
	}
	via(b, f.Channel, f.DecidedAt, f.Comment)
	b.Raw("</p>")
}

func approvalPage(b *htmlesc.Builder, d pageData) {
	a := d.A
	top(b, d)
	b.Raw("\n<h1>Approve deploy of ")
	b.Text(a.Summary.Repository)
	b.Raw(" ")
	b.Text(a.Summary.Branch)
	b.Raw("@")
	b.Text(approval.Short(a.Commit))
	b.Raw("?</h1>\n<p>This link belongs to <b id=\"who\">")
	b.Text(d.Who)
	b.Raw("</b>. Opening it changed nothing.</p>\n")
	summary(b, a)
	b.Raw("\n")
	switch {
	case a.Final != nil:
		final(b, a.Final)
		b.Raw("\n")
	case a.Status == approval.StatusPending:
		b.Raw("\n<form method=\"post\" action=\"")
		b.URL(d.Base)
		b.Raw("/approvals/")
		b.URLPart(a.ID)
		b.Raw("\" class=\"card\">\n<input type=\"hidden\" name=\"t\" value=\"")
		b.Text(d.LinkToken)
		b.Raw("\">\n<input type=\"hidden\" name=\"digest\" value=\"")
		b.Text(a.ManifestDigest)
		b.Raw(`">
<label for="comment">Comment (required to reject)</label><br>
<textarea id="comment" name="comment" maxlength="2000"></textarea><br>
<button id="approve" type="submit" name="decision" value="approve">Approve</button>
<button id="reject" type="submit" name="decision" value="reject">Reject</button>
</form>
`)
	default:
		b.Raw("<p id=\"outcome\">This approval is ")
		b.Text(string(a.Status))
		b.Raw(".</p>")
	}
	b.Raw("\n")
	bottom(b)
}

func decidedPage(b *htmlesc.Builder, d pageData) {
	top(b, d)
	b.Raw("\n<h1>")
	if d.Problem != "" {
		b.Raw("Not recorded as asked")
	} else {
		b.Raw("Decision recorded")
	}
	b.Raw("</h1>\n")
	if d.Problem != "" {
		b.Raw("<p id=\"problem\">")
		b.Text(d.Problem)
		b.Raw("</p>")
	}
	b.Raw("\n")
	if v := d.Vote; v != nil && v.Approver != "" {
		b.Raw("<p id=\"vote\">")
		b.Text(v.Approver)
		b.Raw(": ")
		b.Text(string(v.Outcome))
		if v.Comment != "" {
			b.Raw(": “")
			b.Text(v.Comment)
			b.Raw("”")
		}
		b.Raw("</p>")
	}
	b.Raw("\n")
	switch {
	case d.Final != nil:
		final(b, d.Final)
		if d.Resumed {
			b.Raw("<p id=\"resumed\">The run has been resumed.</p>")
		} else {
			b.Raw("<p id=\"resumed\">The run will be resumed shortly.</p>")
		}
		b.Raw("\n")
	case d.A != nil:
		b.Raw("<p id=\"outcome\">Waiting for ")
		b.Int(d.A.Required)
		b.Raw(" approvals in total.</p>")
	}
	b.Raw("\n")
	if d.Back != "" {
		b.Raw("<p><a href=\"")
		b.URL(d.Back)
		b.Raw("\">Back to the console</a></p>")
	}
	b.Raw("\n")
	bottom(b)
}

func homePage(b *htmlesc.Builder, d pageData) {
	top(b, d)
	b.Raw("\n<h1>Pending approvals: ")
	b.Text(d.Pipeline)
	b.Raw("</h1>\n<p>Signed in as <b id=\"user\">")
	b.Text(d.User)
	b.Raw("</b>.</p>\n")
	if len(d.Items) == 0 {
		b.Raw("<p id=\"none\">Nothing waits for a decision.</p>")
	}
	b.Raw("\n")
	for _, it := range d.Items {
		a := it.A
		b.Raw("<section class=\"card approval\" id=\"approval-")
		b.Text(a.ID)
		b.Raw("\">\n<h2>")
		b.Text(a.Summary.Repository)
		b.Raw(" ")
		b.Text(a.Summary.Branch)
		b.Raw("@")
		b.Text(approval.Short(a.Commit))
		b.Raw(": ")
		b.Text(a.Summary.Message)
		b.Raw("</h2>\n")
		summary(b, a)
		b.Raw("\n")
		if it.CanDecide {
			b.Raw("<form method=\"post\" action=\"")
			b.URL(d.Base)
			b.Raw("/approvals/")
			b.URLPart(a.ID)
			b.Raw("\">\n<input type=\"hidden\" name=\"f\" value=\"")
			b.Text(it.Form)
			b.Raw("\">\n<input type=\"hidden\" name=\"digest\" value=\"")
			b.Text(a.ManifestDigest)
			b.Raw("\">\n<label for=\"comment-")
			b.Text(a.ID)
			b.Raw("\">Comment (required to reject)</label><br>\n<textarea id=\"comment-")
			b.Text(a.ID)
			b.Raw("\" name=\"comment\" maxlength=\"2000\"></textarea><br>\n<button id=\"approve-")
			b.Text(a.ID)
			b.Raw("\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n<button id=\"reject-")
			b.Text(a.ID)
			b.Raw("\" type=\"submit\" name=\"decision\" value=\"reject\">Reject</button>\n</form>")
		} else {
			b.Raw("<p>You are not an approver of this run.</p>")
		}
		b.Raw("\n</section>")
	}
	b.Raw("\n")
	bottom(b)
}

func runPage(b *htmlesc.Builder, d pageData) {
	top(b, d)
	b.Raw("\n<h1>Run ")
	b.Text(d.A.RunID)
	b.Raw("</h1>\n")
	summary(b, d.A)
	b.Raw("\n")
	if d.Final != nil {
		final(b, d.Final)
	} else {
		b.Raw("<p id=\"outcome\">Waiting for a decision.</p>")
	}
	b.Raw("\n")
	bottom(b)
}

func (h *Handler) render(w http.ResponseWriter, code int, name string, d pageData) {
	page, err := renderPage(name, d)
	if err != nil {
		h.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	w.Write([]byte(page))
}

func (h *Handler) errorPage(w http.ResponseWriter, code int, msg string) {
	h.render(w, code, "error", pageData{Title: http.StatusText(code), Message: msg, Code: code, Base: h.o.BaseURL})
}
