package audit

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/htmlesc"
)

// renderPage builds the /audit page with plain code over htmlesc rather than
// html/template: the template engine's reflective method lookup (MethodByName) keeps
// every exported method of every reachable type, and since every Lambda links this
// package, the parsed template alone cost each of them a share of its 12 MB (issue 4).
// page_oracle_test.go renders the former template to check the page byte for byte.
func renderPage(v pageView) string {
	var b htmlesc.Builder
	b.Raw(`<!doctype html>
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
`)
	for _, f := range []struct{ label, name, extra string }{
		{"Pipeline", "pipeline", ""}, {"Run", "run", ""}, {"Commit", "commit", ` size="12"`}, {"Approver", "approver", ""},
		{"Since (RFC 3339, UTC)", "since", ` placeholder="2026-11-26T09:00:00Z"`}, {"Until", "until", ""},
	} {
		b.Raw("<label>" + f.label + `<input name="` + f.name + `" value="`)
		b.Text(v.Q.Get(f.name))
		b.Raw(`"` + f.extra + "></label>\n")
	}
	b.Raw(`<label>Decision<select name="decision"><option value="">any</option>`)
	d := v.Q.Get("decision")
	for _, o := range v.Decisions {
		b.Raw("<option")
		if string(o) == d {
			b.Raw(" selected")
		}
		b.Raw(">")
		b.Text(string(o))
		b.Raw("</option>")
	}
	b.Raw("</select></label>\n" + `<label>Type<select name="type"><option value="">any</option>`)
	ty := v.Q.Get("type")
	for _, o := range v.Types {
		b.Raw("<option")
		if o == ty {
			b.Raw(" selected")
		}
		b.Raw(">")
		b.Text(o)
		b.Raw("</option>")
	}
	b.Raw("</select></label>\n" + `<label>Limit<input name="limit" value="`)
	b.Text(v.Q.Get("limit"))
	b.Raw(`" size="4" placeholder="50"></label>` + "\n" + `<label><span>Runs only</span><input type="checkbox" name="runs" value="true"`)
	if v.Q.Get("runs") != "" {
		b.Raw(" checked")
	}
	b.Raw("></label>\n<button type=\"submit\">Filter</button>\n</form>\n")
	if v.Error != "" {
		b.Raw(`<p class="error" role="alert">`)
		b.Text(v.Error)
		b.Raw("</p>")
	}
	b.Raw("\n")
	if v.Suspects != 0 {
		b.Raw(`<p class="error" role="alert">`)
		b.Int(v.Suspects)
		b.Raw(" record(s) on this page fail their integrity check (marked ⚠); run <code>shipgate audit verify</code>.</p>")
	}
	b.Raw("\n")
	switch {
	case len(v.Page.Records) > 0:
		b.Raw("\n" + `<table>
<thead><tr><th>Time (UTC)</th><th>Pipeline</th><th>Seq</th><th>Run</th><th>Type</th><th>Actor</th><th>Stage</th><th>Outcome</th><th>Channel</th><th>Commit</th><th>Detail</th></tr></thead>
<tbody>
`)
		for _, e := range v.Page.Records {
			b.Raw("<tr")
			if e.Suspect != "" {
				b.Raw(` class="suspect" title="integrity check failed: `)
				b.Text(e.Suspect)
				b.Raw(`"`)
			}
			b.Raw("><td>")
			if e.Suspect != "" {
				b.Raw("⚠ ")
			}
			b.Text(e.Time.UTC().Format(time.RFC3339))
			b.Raw("</td><td>")
			b.Text(e.Pipeline)
			b.Raw("</td><td>")
			b.Raw(strconv.FormatInt(e.Seq, 10))
			b.Raw("</td><td>")
			if e.RunID != "" {
				b.Raw(`<a href="`)
				b.URL("?" + url.Values{"run": {e.RunID}}.Encode())
				b.Raw(`">`)
				b.Text(e.RunID)
				b.Raw("</a>")
			}
			b.Raw("</td><td>")
			b.Text(string(e.Type))
			b.Raw("</td><td>")
			b.Text(e.Actor)
			b.Raw("</td><td>")
			b.Text(e.Stage)
			b.Raw("</td><td>")
			b.Text(e.Outcome)
			b.Raw("</td><td>")
			b.Text(string(e.Channel))
			b.Raw(`</td><td><code title="`)
			b.Text(e.Commit)
			b.Raw(`">`)
			b.Text(e.Commit[:min(len(e.Commit), 10)])
			b.Raw("</code></td><td>")
			b.Text(detailText(e.Detail))
			b.Raw("</td></tr>\n")
		}
		b.Raw("</tbody></table>\n")
	case v.Error == "":
		b.Raw("<p>No records match.</p>")
	}
	b.Raw("\n")
	if v.NextURL != "" {
		b.Raw(`<p><a href="`)
		b.URL(v.NextURL)
		b.Raw(`" rel="next">Next page</a></p>`)
	}
	b.Raw("\n</body></html>\n")
	return b.String()
}

// detailText shows a record's detail as sorted key=JSON pairs; the page escapes it for
// HTML, so JSON's own \\u003c escaping would only garble it.
func detailText(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(d[k])
		parts = append(parts, k+"="+strings.TrimSpace(b.String()))
	}
	return strings.Join(parts, " ")
}
