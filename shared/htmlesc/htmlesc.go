// Package htmlesc builds HTML from trusted markup and untrusted strings, escaping each
// string as html/template would in the three contexts shipgate's pages use: text (and
// quoted attribute values), a URL attribute's start, and the rest of a URL attribute.
//
// It exists for binary size: html/template and text/template reach values through
// reflect.Value.MethodByName, which stops the linker from dropping any exported method of
// any reachable type, and doubled the Approval and Api Lambdas (issue 4 caps each at 12 MB).
// The escaping rules are html/template's own, so the pages read the same byte for byte.
package htmlesc

import (
	"strconv"
	"strings"
)

// Builder accumulates a page. The zero value is ready to use.
type Builder struct {
	strings.Builder
}

// Raw appends trusted markup unchanged; never pass it data.
func (b *Builder) Raw(s string) { b.WriteString(s) }

// Text appends s escaped for HTML text, RCDATA (title) and quoted attribute values.
func (b *Builder) Text(s string) { writeEscaped(&b.Builder, s) }

// Int appends a decimal integer (no escaping needed).
func (b *Builder) Int(n int) { b.WriteString(strconv.Itoa(n)) }

// URL appends s as the start of a URL attribute value: a scheme other than http, https
// or mailto (javascript:, data:, ...) is replaced by "#ZgotmplZ", as html/template does, and
// bytes outside a URL's character set are percent-encoded before HTML escaping.
func (b *Builder) URL(s string) {
	if !safeURL(s) {
		s = "#ZgotmplZ"
	}
	b.URLPart(s)
}

// URLPart appends s inside a URL attribute after its start (path segments), normalized
// and escaped like URL but without the scheme check.
func (b *Builder) URLPart(s string) {
	var n strings.Builder
	normalizeURL(s, &n)
	writeEscaped(&b.Builder, n.String())
}

// Escape returns s escaped as Text would append it.
func Escape(s string) string {
	var b strings.Builder
	writeEscaped(&b, s)
	return b.String()
}

func writeEscaped(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case 0:
			r = "\uFFFD"
		case '"':
			r = "&#34;"
		case '&':
			r = "&amp;"
		case '\'':
			r = "&#39;"
		case '+':
			r = "&#43;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(r)
		last = i + 1
	}
	b.WriteString(s[last:])
}

func safeURL(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(scheme, "/") {
		return true
	}
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "mailto")
}

const hexDigits = "0123456789abcdef"

func normalizeURL(s string, b *strings.Builder) {
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		case strings.IndexByte("!#$&*+,/:;=?@[]-._~", c) >= 0:
			continue
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			continue
		}
		b.WriteString(s[last:i])
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
		last = i + 1
	}
	b.WriteString(s[last:])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
