package htmlesc

import (
	"html/template"
	"strings"
	"testing"
)

// oracle renders the same value in the same three contexts with html/template itself.
var oracle = template.Must(template.New("o").Parse(`<p title="{{.}}">{{.}}</p><a href="{{.}}/x/{{.}}">`))

func viaBuilder(s string) string {
	var b Builder
	b.Raw(`<p title="`)
	b.Text(s)
	b.Raw(`">`)
	b.Text(s)
	b.Raw(`</p><a href="`)
	b.URL(s)
	b.Raw(`/x/`)
	b.URLPart(s)
	b.Raw(`">`)
	return b.String()
}

func TestMatchesHTMLTemplate(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"plain", "hello world"},
		{"markup", `<script>alert("x")</script>`},
		{"quotes and amp", `Tom & "Jerry" 'said' a+b`},
		{"nul", "a\x00b"},
		{"unicode", "Zoë – “quoted” 漢字"},
		{"invalid utf8", "a\xffb\xc3"},
		{"https url", "https://example.test/a b?q=1&r=<2>#frag"},
		{"javascript url", "javascript:alert(1)"},
		{"data url upper", "DATA:text/html,x"},
		{"mailto", "mailto:a@example.test"},
		{"relative with colon", "/a:b"},
		{"percent", "%41%zz%4"},
		{"controls", "tab\there\nnl\r"},
		{"specials", "!#$&*+,/:;=?@[]-._~()'`{}|\\^"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want strings.Builder
			if err := oracle.Execute(&want, c.in); err != nil {
				t.Fatal(err)
			}
			if got := viaBuilder(c.in); got != want.String() {
				t.Errorf("got  %q\nwant %q", got, want.String())
			}
		})
	}
}

func FuzzMatchesHTMLTemplate(f *testing.F) {
	f.Add("<a href='x'>&amp;</a>")
	f.Add("javascript:x")
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		if err := oracle.Execute(&want, s); err != nil {
			t.Skip()
		}
		if got := viaBuilder(s); got != want.String() {
			t.Errorf("got  %q\nwant %q", got, want.String())
		}
	})
}
