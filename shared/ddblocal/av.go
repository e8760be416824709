package ddblocal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AV is one DynamoDB attribute value. T is its type descriptor ("S", "N", "B", "BOOL",
// "NULL", "L", "M", "SS", "NS", "BS"); S holds strings, canonical numbers and raw binary
// bytes; Set holds set members in the same forms.
type AV struct {
	T    string
	S    string
	Bool bool
	L    []*AV
	M    map[string]*AV
	Set  []string
}

// Item is one item: attribute name -> value.
type Item map[string]*AV

func (v *AV) UnmarshalJSON(b []byte) error {
	// Values of the common shapes are read in one pass; anything else, and anything
	// wrong, goes to the general reader below, whose results and messages stand. A
	// value decoded into one that held another keeps nothing of it.
	*v = AV{}
	p := avParser{b: b}
	if p.value(v, 0) && p.end() {
		return nil
	}
	*v = AV{}
	return v.unmarshalSlow(b)
}

// unmarshalSlow reads one attribute value of any shape, and says what is wrong with a
// bad one. Each level re-reads the bytes of the levels below it, which made nested
// values (audit details) most of a PutItem's cost, hence avParser in front of it.
func (v *AV) unmarshalSlow(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return validation("Supplied AttributeValue is not a JSON object: %v", err)
	}
	if len(raw) != 1 {
		return validation("Supplied AttributeValue has %d data types; exactly one of S, N, B, SS, NS, BS, M, L, NULL or BOOL is required", len(raw))
	}
	for t, r := range raw {
		v.T = t
		switch t {
		case "S":
			return json.Unmarshal(r, &v.S)
		case "N":
			var s string
			if err := json.Unmarshal(r, &s); err != nil {
				return validation("number attribute is not a string")
			}
			n, err := normalizeNumber(s)
			if err != nil {
				return err
			}
			v.S = n
		case "B":
			bs, err := decodeB64(r)
			if err != nil {
				return err
			}
			v.S = bs
		case "BOOL":
			return json.Unmarshal(r, &v.Bool)
		case "NULL":
			var ok bool
			if err := json.Unmarshal(r, &ok); err != nil || !ok {
				return validation("Null attribute value types must have the value of true")
			}
		case "L":
			if err := json.Unmarshal(r, &v.L); err != nil {
				return err
			}
			if v.L == nil {
				v.L = []*AV{}
			}
			for _, e := range v.L {
				if e == nil {
					return validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
				}
			}
		case "M":
			if err := json.Unmarshal(r, &v.M); err != nil {
				return err
			}
			if v.M == nil {
				v.M = map[string]*AV{}
			}
			for _, e := range v.M {
				if e == nil {
					return validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
				}
			}
		case "SS", "NS", "BS":
			var members []json.RawMessage
			if err := json.Unmarshal(r, &members); err != nil {
				return validation("%s must be a list", t)
			}
			if len(members) == 0 {
				return validation("One or more parameter values were invalid: An %s may not be empty", setName(t))
			}
			seen := map[string]bool{}
			for _, m := range members {
				var s string
				var err error
				switch t {
				case "SS":
					err = json.Unmarshal(m, &s)
				case "NS":
					if err = json.Unmarshal(m, &s); err == nil {
						s, err = normalizeNumber(s)
					}
				case "BS":
					s, err = decodeB64(m)
				}
				if err != nil {
					return err
				}
				if seen[s] {
					return validation("One or more parameter values were invalid: Input collection %s contains duplicates.", t)
				}
				seen[s] = true
				v.Set = append(v.Set, s)
			}
		default:
			return validation("Supplied AttributeValue has an unknown data type %q", t)
		}
	}
	return nil
}

// avParser reads the attribute values of the common shapes (S, N, B, BOOL, NULL and
// nested L and M) from valid JSON in one pass. A false result means "not read here":
// the caller starts over with unmarshalSlow. FuzzAVParser holds the two to the same
// results.
type avParser struct {
	b []byte
	i int
}

// maxFastDepth leaves deeper nesting to unmarshalSlow, which bounds it as it always has.
const maxFastDepth = 32

func (p *avParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *avParser) end() bool { p.space(); return p.i == len(p.b) }

func (p *avParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *avParser) literal(word string) bool {
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		p.i += len(word)
		return true
	}
	return false
}

// str reads a JSON string as encoding/json would.
func (p *avParser) str() (string, bool) {
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start, plain := p.i, true
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '\\':
			plain = false
			j++
		case c == '"':
			p.i = j + 1
			raw := p.b[start+1 : j]
			if plain && utf8.Valid(raw) {
				return string(raw), true
			}
			var s string
			if json.Unmarshal(p.b[start:j+1], &s) != nil {
				return "", false
			}
			return s, true
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// value reads one attribute value: an object with one type key.
func (p *avParser) value(v *AV, depth int) bool {
	if depth > maxFastDepth || !p.byte('{') {
		return false
	}
	t, ok := p.str()
	if !ok || !p.byte(':') {
		return false
	}
	v.T = t
	switch t {
	case "S":
		if v.S, ok = p.str(); !ok {
			return false
		}
	case "N":
		s, ok := p.str()
		if !ok {
			return false
		}
		n, err := normalizeNumber(s)
		if err != nil {
			return false
		}
		v.S = n
	case "B":
		s, ok := p.str()
		if !ok {
			return false
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return false
		}
		v.S = string(b)
	case "BOOL":
		switch {
		case p.literal("true"):
			v.Bool = true
		case p.literal("false"):
		default:
			return false
		}
	case "NULL":
		if !p.literal("true") {
			return false
		}
	case "L":
		if !p.byte('[') {
			return false
		}
		v.L = []*AV{}
		if !p.byte(']') {
			for {
				e := &AV{}
				if !p.value(e, depth+1) {
					return false
				}
				v.L = append(v.L, e)
				if p.byte(']') {
					break
				}
				if !p.byte(',') {
					return false
				}
			}
		}
	case "M":
		if !p.byte('{') {
			return false
		}
		v.M = map[string]*AV{}
		if !p.byte('}') {
			for {
				k, ok := p.str()
				if !ok || !p.byte(':') {
					return false
				}
				if _, dup := v.M[k]; dup {
					return false
				}
				e := &AV{}
				if !p.value(e, depth+1) {
					return false
				}
				v.M[k] = e
				if p.byte('}') {
					break
				}
				if !p.byte(',') {
					return false
				}
			}
		}
	default: // sets and anything unknown
		return false
	}
	return p.byte('}')
}

func setName(t string) string {
	switch t {
	case "SS":
		return "string set"
	case "NS":
		return "number set"
	}
	return "binary set"
}

func decodeB64(r json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", validation("binary attribute is not a base64 string")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", validation("Invalid Base64 binary value: %v", err)
	}
	return string(b), nil
}

func (v *AV) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	v.write(&buf)
	return buf.Bytes(), nil
}

// writeJSONString writes s as encoding/json does (HTML characters, U+2028 and U+2029
// escaped, invalid UTF-8 as U+FFFD), without its per-call allocations: responses and
// log lines are mostly strings, and json.Marshal for each was much of their cost.
// FuzzWriteJSONString holds it to json.Marshal.
func writeJSONString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf.WriteString(s[start:i])
			buf.WriteString(`\u202`)
			buf.WriteByte(hex[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

func (v *AV) write(buf *bytes.Buffer) {
	buf.WriteString(`{"` + v.T + `":`)
	switch v.T {
	case "S", "N":
		writeJSONString(buf, v.S)
	case "B":
		writeJSONString(buf, base64.StdEncoding.EncodeToString([]byte(v.S)))
	case "BOOL":
		buf.WriteString(strconv.FormatBool(v.Bool))
	case "NULL":
		buf.WriteString("true")
	case "L":
		buf.WriteByte('[')
		for i, e := range v.L {
			if i > 0 {
				buf.WriteByte(',')
			}
			e.write(buf)
		}
		buf.WriteByte(']')
	case "M":
		writeMap(buf, v.M)
	case "SS", "NS", "BS":
		buf.WriteByte('[')
		for i, s := range v.Set {
			if i > 0 {
				buf.WriteByte(',')
			}
			if v.T == "BS" {
				s = base64.StdEncoding.EncodeToString([]byte(s))
			}
			writeJSONString(buf, s)
		}
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
}

func writeMap(buf *bytes.Buffer, m map[string]*AV) {
	buf.WriteByte('{')
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(buf, k)
		buf.WriteByte(':')
		m[k].write(buf)
	}
	buf.WriteByte('}')
}

// MarshalJSON writes an item with its attributes in name order (stable log lines).
func (it Item) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	writeMap(&buf, it)
	return buf.Bytes(), nil
}

// clone copies v deeply: stored items never share memory with requests or responses.
func (v *AV) clone() *AV {
	if v == nil {
		return nil
	}
	c := &AV{T: v.T, S: v.S, Bool: v.Bool}
	if v.L != nil {
		c.L = make([]*AV, len(v.L))
		for i, e := range v.L {
			c.L[i] = e.clone()
		}
	}
	if v.M != nil {
		c.M = make(map[string]*AV, len(v.M))
		for k, e := range v.M {
			c.M[k] = e.clone()
		}
	}
	if v.Set != nil {
		c.Set = append([]string(nil), v.Set...)
	}
	return c
}

func (it Item) clone() Item {
	if it == nil {
		return nil
	}
	c := make(Item, len(it))
	for k, v := range it {
		c[k] = v.clone()
	}
	return c
}

// equal is DynamoDB's = on two values: same type and same value (sets ignore order).
func equal(a, b *AV) bool {
	if a.T != b.T {
		return false
	}
	switch a.T {
	case "S", "N", "B":
		return a.S == b.S
	case "BOOL":
		return a.Bool == b.Bool
	case "NULL":
		return true
	case "L":
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !equal(a.L[i], b.L[i]) {
				return false
			}
		}
		return true
	case "M":
		if len(a.M) != len(b.M) {
			return false
		}
		for k, x := range a.M {
			y, ok := b.M[k]
			if !ok || !equal(x, y) {
				return false
			}
		}
		return true
	default: // sets
		if len(a.Set) != len(b.Set) {
			return false
		}
		in := map[string]bool{}
		for _, s := range a.Set {
			in[s] = true
		}
		for _, s := range b.Set {
			if !in[s] {
				return false
			}
		}
		return true
	}
}

// compareScalar orders two values of the same scalar type (S, N or B); ok is false when
// the types differ or are not scalar, where DynamoDB's ordering comparisons are false.
func compareScalar(a, b *AV) (int, bool) {
	if a.T != b.T {
		return 0, false
	}
	switch a.T {
	case "S", "B":
		return strings.Compare(a.S, b.S), true
	case "N":
		return compareNumbers(a.S, b.S), true
	}
	return 0, false
}

// size is the value's size in bytes as DynamoDB counts it toward the 400 KB item limit.
func (v *AV) size() int {
	switch v.T {
	case "S", "B":
		return len(v.S)
	case "N":
		return numberSize(v.S)
	case "BOOL", "NULL":
		return 1
	case "L":
		n := 3
		for _, e := range v.L {
			n += e.size() + 1
		}
		return n
	case "M":
		n := 3
		for k, e := range v.M {
			n += len(k) + e.size() + 1
		}
		return n
	default:
		n := 0
		for _, s := range v.Set {
			if v.T == "NS" {
				n += numberSize(s)
			} else {
				n += len(s)
			}
		}
		return n
	}
}

// numberSize is the stored size of a canonical number: a byte per two significant
// digits (counted from an even power of ten), one more, and one for a minus sign.
func numberSize(s string) int {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	var digits string
	var exp int // power of ten of the first significant digit
	if intPart != "" {
		digits, exp = intPart+frac, len(intPart)-1
	} else {
		z := len(frac) - len(strings.TrimLeft(frac, "0"))
		digits, exp = frac[z:], -z-1
	}
	digits = strings.TrimRight(digits, "0")
	n := len(digits)
	if n == 0 {
		return 1
	}
	size := 1 + (n+1)/2
	if n%2 == 0 && exp%2 == 0 {
		size++
	}
	if neg {
		size++
	}
	return size
}

func (it Item) size() int {
	n := 0
	for k, v := range it {
		n += len(k) + v.size()
	}
	return n
}

// checkValue refuses what DynamoDB refuses anywhere in an item: empty sets (caught while
// decoding), invalid UTF-8 strings.
func checkValue(v *AV) error {
	switch v.T {
	case "S":
		if !utf8.ValidString(v.S) {
			return validation("One or more parameter values were invalid: a string attribute is not valid UTF-8")
		}
	case "L":
		for _, e := range v.L {
			if err := checkValue(e); err != nil {
				return err
			}
		}
	case "M":
		for _, e := range v.M {
			if err := checkValue(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func str(s string) *AV { return &AV{T: "S", S: s} }

func (v *AV) String() string {
	if v == nil {
		return "<missing>"
	}
	b, _ := v.MarshalJSON()
	return string(b)
}

var _ fmt.Stringer = (*AV)(nil)
