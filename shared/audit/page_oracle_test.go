package audit

import (
	"encoding/json"
	"html/template"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
)

// The html/template page /audit rendered before renderPage built it with plain code (to
// keep the template engine's reflection out of the Lambdas); kept as the oracle that the
// page still comes out byte for byte.
var oraclePage = template.Must(template.New("audit").Funcs(template.FuncMap{
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

func TestAuditPageMatchesFormerTemplate(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	rec := func(r domain.Record, seq int64, suspect string) Entry {
		return Entry{Record: r, Seq: seq, Suspect: suspect}
	}
	records := []Entry{
		rec(domain.Record{Type: "run.started", Pipeline: "web", RunID: "run-1&x", Commit: "0123456789abcdef", Actor: "ana@example.com", Time: at,
			Detail: map[string]any{"ref": "refs/heads/<main>", "n": 3, "list": []string{"a+b"}}}, 1, ""),
		rec(domain.Record{Type: "approval.decided", Pipeline: "web", Actor: "bo", Time: at, Outcome: "approved", Channel: domain.ChannelConsole, Commit: "abc"}, 2, "hash <mismatch>"),
		rec(domain.Record{Type: "stage.finished", Pipeline: "web", RunID: "r2", Stage: "build", Outcome: "failed", Time: at}, 3, ""),
	}
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	cases := []struct {
		name string
		v    pageView
	}{
		{"empty", pageView{Q: url.Values{}, Decisions: Decisions, Types: typeNames()}},
		{"error", pageView{Q: q("since=bad<&>"), Error: "since: \"bad<&>\" is not a time", Decisions: Decisions, Types: typeNames()}},
		{"records with filters", pageView{Q: q("pipeline=web&run=r%2B1&commit=c&approver=a%22b&since=x&until=y&decision=rejected&type=run.started&limit=5&runs=true"),
			Page: Page{Records: records, Next: "tok"}, NextURL: "?page=tok&x=%3Cy%3E", Decisions: Decisions, Types: typeNames(), Suspects: 1}},
		{"records no next", pageView{Q: url.Values{}, Page: Page{Records: records[:1]}, Decisions: Decisions, Types: typeNames()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want strings.Builder
			if err := oraclePage.Execute(&want, c.v); err != nil {
				t.Fatal(err)
			}
			if got := renderPage(c.v); got != want.String() {
				i := 0
				for i < len(got) && i < len(want.String()) && got[i] == want.String()[i] {
					i++
				}
				t.Errorf("differs at byte %d:\ngot  %q\nwant %q", i, got[max(0, i-80):min(len(got), i+80)], want.String()[max(0, i-80):min(want.Len(), i+80)])
			}
		})
	}
}
