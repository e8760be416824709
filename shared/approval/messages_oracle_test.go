package approval

import (
	htmltemplate "html/template"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
)

// The templates the request mail was rendered with before requestText and requestHTML
// replaced them (to keep text/template's reflection out of the Lambdas); kept here as
// the oracle that the plain code still says the same thing, byte for byte.

var oracleFuncs = template.FuncMap{"short": Short, "human": humanBytes}

var oracleText = template.Must(template.New("t").Funcs(oracleFuncs).Parse(`{{with .A.Summary}}{{.Pusher.Name}}{{if .Pusher.Email}} <{{.Pusher.Email}}>{{end}} pushed {{short .Commit}} to {{.Repository}} ({{.Branch}}); it is built, tested and staged, and waits for your decision.

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

var oracleHTML = htmltemplate.Must(htmltemplate.New("h").Funcs(htmltemplate.FuncMap(oracleFuncs)).Parse(`<!doctype html>
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

func TestRequestMailMatchesFormerTemplates(t *testing.T) {
	full := func() *Approval {
		return &Approval{
			ID: "ap1", Pipeline: "web", RunID: "run-1", Commit: "0123456789abcdef0123456789abcdef01234567",
			ManifestDigest: "sha256:feed", Approvers: []string{"a@example.test", "b@example.test"}, Required: 2,
			ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Summary: Summary{
				Repository: "org/repo", Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567",
				Message: "Fix <b>bold</b> & 'quotes' + \"more\"\nsecond line",
				Pusher:  domain.Identity{Name: "Zoë <x>", Email: "zoe+tag@example.test"},
				Tests:   &TestCounts{Passed: 10, Failed: 0, Skipped: 2},
				Artifacts: []ArtifactLine{
					{Name: "site", Path: "dist/site.tar.gz", Size: 3 << 20, SHA256: "ab12"},
					{Name: "tiny", Path: "a b/<c>", Size: 12, SHA256: "cd34"},
					{Name: "mid", Path: "m", Size: 2048, SHA256: "ef56"},
				},
				Commits: []CommitLine{
					{ID: "1111111111", Message: "one <script>", Author: "Ann & Bob"},
					{ID: "22", Message: "two"},
				},
				CommitsTruncated: true,
				LastDeployed:     &DeployedRef{Commit: "fedcba9876543210", RunID: "run-0"},
				SinceURL:         "https://github.com/org/repo/compare/fedcba98...01234567?x=1&y=<2>",
			},
		}
	}
	bare := &Approval{ID: "ap2", Pipeline: "p", RunID: "r", Commit: "c", Approvers: []string{"x@example.test"}, Required: 1}
	noSince := full()
	noSince.Summary.SinceURL = ""
	noSince.Summary.CommitsTruncated = false
	evilURL := full()
	evilURL.Summary.SinceURL = "javascript:alert(1)"
	cases := []struct {
		name string
		a    *Approval
		link string
	}{
		{"full summary", full(), "https://gate.example.test/approvals/ap1?t=abc+def/=="},
		{"bare approval", bare, "http://127.0.0.1:8080/approvals/ap2?t=x"},
		{"no since url, not truncated", noSince, "https://gate.example.test/approvals/ap1?t=t"},
		{"unsafe since url", evilURL, "https://gate.example.test/approvals/ap1?t=t"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := msgData{A: c.a, To: c.a.Approvers[0], Link: c.link, Console: "https://gate.example.test/",
				Short: Short(c.a.Commit), Expires: c.a.ExpiresAt.UTC().Format(time.RFC3339), Required: c.a.Required,
				Others: "approvers: " + strings.Join(c.a.Approvers, ", ")}
			var wantText, wantHTML strings.Builder
			if err := oracleText.Execute(&wantText, d); err != nil {
				t.Fatal(err)
			}
			if err := oracleHTML.Execute(&wantHTML, d); err != nil {
				t.Fatal(err)
			}
			if got := requestText(d); got != wantText.String() {
				t.Errorf("text:\ngot  %q\nwant %q", got, wantText.String())
			}
			if got := requestHTML(d); got != wantHTML.String() {
				t.Errorf("html:\ngot  %q\nwant %q", got, wantHTML.String())
			}
		})
	}
}
