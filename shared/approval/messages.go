package approval

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"

	"github.com/shipgate/shipgate/shared/notify"
)

// Message kinds (notify.Message.Kind).
const (
	KindRequest = "approval.request"
	KindExpired = "approval.expired"
)

// Short abbreviates a commit id for subjects and lists.
func Short(commit string) string {
	if len(commit) > 8 {
		return commit[:8]
	}
	return commit
}

type msgData struct {
	A        *Approval
	To       string
	Link     string
	Console  string
	Short    string
	Expires  string
	Others   string
	Required int
}

var funcs = template.FuncMap{"short": Short, "human": humanBytes}

var textTmpl = template.Must(template.New("t").Funcs(funcs).Parse(`{{with .A.Summary}}{{.Pusher.Name}}{{if .Pusher.Email}} <{{.Pusher.Email}}>{{end}} pushed {{short .Commit}} to {{.Repository}} ({{.Branch}}); it is built, tested and staged, and waits for your decision.

Commit:   {{.Commit}}
Message:  {{.Message}}
{{if .Tests}}Tests:    {{.Tests.Passed}} passed, {{.Tests.Failed}} failed, {{.Tests.Skipped}} skipped
{{end}}Manifest: {{$.A.ManifestDigest}}
{{if .Artifacts}}
Artifacts:
{{range .Artifacts}}  {{.Name}}  {{.Path}}  {{human .Size}}
    sha256:{{.SHA256}}
{{end}}{{end}}{{if .Commits}}
Commits in this push:
{{range .Commits}}  {{short .ID}} {{.Message}}{{if .Author}} ({{.Author}}){{end}}
{{end}}{{if .CommitsTruncated}}  (more commits not shown)
{{end}}{{end}}{{if .LastDeployed}}
Last deployed: {{short .LastDeployed.Commit}} (run {{.LastDeployed.RunID}}){{if .SinceURL}}
Changes since: {{.SinceURL}}{{end}}
{{end}}{{end}}
Approvals needed: {{.Required}} ({{.Others}})
Decide by:        {{.Expires}}

Review and decide (this link is yours alone; do not forward it):
{{.Link}}

Opening the link changes nothing; you decide on the page.
Console: {{.Console}}
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("h").Funcs(htmltemplate.FuncMap(funcs)).Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
{{with .A.Summary}}<p><b>{{.Pusher.Name}}</b>{{if .Pusher.Email}} &lt;{{.Pusher.Email}}&gt;{{end}} pushed <code>{{short .Commit}}</code> to <b>{{.Repository}}</b> ({{.Branch}}). It is built, tested and staged, and waits for your decision.</p>
<table>
<tr><th align="left">Commit</th><td><code>{{.Commit}}</code></td></tr>
<tr><th align="left">Message</th><td>{{.Message}}</td></tr>
{{if .Tests}}<tr><th align="left">Tests</th><td>{{.Tests.Passed}} passed, {{.Tests.Failed}} failed, {{.Tests.Skipped}} skipped</td></tr>{{end}}
<tr><th align="left">Manifest</th><td><code>{{$.A.ManifestDigest}}</code></td></tr>
</table>
{{if .Artifacts}}<h3>Artifacts</h3><ul>{{range .Artifacts}}<li>{{.Name}} <code>{{.Path}}</code> {{human .Size}}<br><code>sha256:{{.SHA256}}</code></li>{{end}}</ul>{{end}}
{{if .Commits}}<h3>Commits in this push</h3><ul>{{range .Commits}}<li><code>{{short .ID}}</code> {{.Message}}{{if .Author}} ({{.Author}}){{end}}</li>{{end}}</ul>{{end}}
{{if .LastDeployed}}<p>Last deployed: <code>{{short .LastDeployed.Commit}}</code> (run {{.LastDeployed.RunID}}){{if .SinceURL}}, <a href="{{.SinceURL}}">changes since</a>{{end}}</p>{{end}}
{{end}}<p>Approvals needed: {{.Required}} ({{.Others}}). Decide by {{.Expires}}.</p>
<p><a href="{{.Link}}">Review and decide</a> (this link is yours alone; opening it changes nothing).</p>
<p><a href="{{.Console}}">Console</a></p>
</body></html>
`))

func (s *Service) requestMessage(a *Approval, i int) (notify.Message, error) {
	tok, err := s.signer.Mint(a.ID, a.Approvers, i, a.ExpiresAt)
	if err != nil {
		return notify.Message{}, err
	}
	link := s.baseURL + Link(a.ID) + "?t=" + tok
	d := msgData{A: a, To: a.Approvers[i], Link: link, Console: s.baseURL + "/", Short: Short(a.Commit),
		Expires: a.ExpiresAt.UTC().Format(time.RFC3339), Required: a.Required,
		Others: "approvers: " + strings.Join(a.Approvers, ", ")}
	var tb, hb bytes.Buffer
	if err := textTmpl.Execute(&tb, d); err != nil {
		return notify.Message{}, err
	}
	if err := htmlTmpl.Execute(&hb, d); err != nil {
		return notify.Message{}, err
	}
	return notify.Message{
		To:      []string{a.Approvers[i]},
		Subject: fmt.Sprintf("[shipgate] Approve %s %s@%s: %s", a.Pipeline, a.Summary.Branch, Short(a.Commit), firstLine(a.Summary.Message)),
		Text:    tb.String(),
		HTML:    hb.String(),
		Links:   []string{link},
		Kind:    KindRequest,
		RunID:   a.RunID,
	}, nil
}

func (s *Service) expiredMessage(a *Approval, to string) notify.Message {
	text := fmt.Sprintf("Nobody decided on %s %s@%s before %s, so the run %s ended without deploying.\n\nPush again (or re-run) to ask for approval anew.\nConsole: %s/\n",
		a.Pipeline, a.Summary.Branch, Short(a.Commit), a.ExpiresAt.UTC().Format(time.RFC3339), a.RunID, s.baseURL)
	return notify.Message{
		To:      []string{to},
		Subject: fmt.Sprintf("[shipgate] Approval expired: %s %s@%s", a.Pipeline, a.Summary.Branch, Short(a.Commit)),
		Text:    text,
		Kind:    KindExpired,
		RunID:   a.RunID,
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
