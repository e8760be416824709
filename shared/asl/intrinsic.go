package asl

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
)

// Intrinsic functions (States.*) are parsed once into a small call tree.

type intrinsicArg struct {
	lit  any
	path *jpath
	call *intrinsicCall
}

type intrinsicCall struct {
	name string
	args []intrinsicArg
	src  string
}

var intrinsicArity = map[string][2]int{ // min, max (-1 = unbounded)
	"States.Format":         {1, -1},
	"States.StringToJson":   {1, 1},
	"States.JsonToString":   {1, 1},
	"States.Array":          {0, -1},
	"States.ArrayPartition": {2, 2},
	"States.ArrayContains":  {2, 2},
	"States.ArrayRange":     {3, 3},
	"States.ArrayGetItem":   {2, 2},
	"States.ArrayLength":    {1, 1},
	"States.ArrayUnique":    {1, 1},
	"States.Base64Encode":   {1, 1},
	"States.Base64Decode":   {1, 1},
	"States.Hash":           {2, 2},
	"States.JsonMerge":      {3, 3},
	"States.MathRandom":     {2, 3},
	"States.MathAdd":        {2, 2},
	"States.StringSplit":    {2, 2},
	"States.UUID":           {0, 0},
}

// isIntrinsic says whether a ".$" value is an intrinsic call rather than a path.
func isIntrinsic(s string) bool { return strings.HasPrefix(s, "States.") }

func compileIntrinsic(src string) (*intrinsicCall, error) {
	p := &iparser{s: src}
	c, err := p.call()
	if err != nil {
		return nil, fmt.Errorf("invalid intrinsic function %q: %v", src, err)
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("invalid intrinsic function %q: unexpected %q at offset %d", src, p.s[p.i:], p.i)
	}
	c.src = src
	return c, nil
}

type iparser struct {
	s string
	i int
}

func (p *iparser) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *iparser) call() (*intrinsicCall, error) {
	p.ws()
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '(' {
		p.i++
	}
	name := strings.TrimSpace(p.s[start:p.i])
	ar, ok := intrinsicArity[name]
	if !ok {
		return nil, fmt.Errorf("unknown function %q", name)
	}
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("missing '(' after %s", name)
	}
	p.i++
	c := &intrinsicCall{name: name}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.ws()
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("missing ')'")
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
		}
	}
	if len(c.args) < ar[0] || (ar[1] >= 0 && len(c.args) > ar[1]) {
		return nil, fmt.Errorf("%s takes %s arguments, got %d", name, arityText(ar), len(c.args))
	}
	return c, nil
}

func arityText(ar [2]int) string {
	switch {
	case ar[1] < 0:
		return fmt.Sprintf("at least %d", ar[0])
	case ar[0] == ar[1]:
		return strconv.Itoa(ar[0])
	}
	return fmt.Sprintf("%d to %d", ar[0], ar[1])
}

func (p *iparser) arg() (intrinsicArg, error) {
	p.ws()
	if p.i >= len(p.s) {
		return intrinsicArg{}, fmt.Errorf("missing argument")
	}
	c := p.s[p.i]
	switch {
	case c == '\'':
		p.i++
		var b strings.Builder
		for p.i < len(p.s) {
			ch := p.s[p.i]
			if ch == '\\' && p.i+1 < len(p.s) {
				b.WriteByte('\\')
				b.WriteByte(p.s[p.i+1])
				p.i += 2
				continue
			}
			if ch == '\'' {
				p.i++
				return intrinsicArg{lit: strLit(b.String())}, nil
			}
			b.WriteByte(ch)
			p.i++
		}
		return intrinsicArg{}, fmt.Errorf("unterminated string")
	case c == '$':
		start := p.i
		depth := 0
		inq := byte(0)
		for p.i < len(p.s) {
			ch := p.s[p.i]
			if inq != 0 {
				if ch == inq {
					inq = 0
				}
				p.i++
				continue
			}
			if ch == '\'' || ch == '"' {
				inq = ch
			} else if ch == '[' || ch == '(' {
				depth++
			} else if ch == ']' || ch == ')' {
				if depth == 0 {
					break
				}
				depth--
			} else if (ch == ',' || ch == ' ') && depth == 0 {
				break
			}
			p.i++
		}
		jp, err := compilePath(strings.TrimSpace(p.s[start:p.i]))
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{path: jp}, nil
	case strings.HasPrefix(p.s[p.i:], "States."):
		cc, err := p.call()
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{call: cc}, nil
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' {
		p.i++
	}
	tok := strings.TrimSpace(p.s[start:p.i])
	switch tok {
	case "true":
		return intrinsicArg{lit: true}, nil
	case "false":
		return intrinsicArg{lit: false}, nil
	case "null":
		return intrinsicArg{lit: nil}, nil
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return intrinsicArg{}, fmt.Errorf("unexpected argument %q", tok)
	}
	return intrinsicArg{lit: f}, nil
}

// strLit keeps escapes until use: States.Format needs to tell \{ from {.
type strLit string

func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type intrinsicError struct{ msg string }

func (e *intrinsicError) Error() string { return e.msg }

func ifail(format string, a ...any) error { return &intrinsicError{fmt.Sprintf(format, a...)} }

func (c *intrinsicCall) eval(data any, env *evalEnv) (any, error) {
	args := make([]any, len(c.args))
	raw := make([]any, len(c.args))
	for i, a := range c.args {
		switch {
		case a.call != nil:
			v, err := a.call.eval(data, env)
			if err != nil {
				return nil, err
			}
			args[i] = v
		case a.path != nil:
			v, err := a.path.get(data, env)
			if err != nil {
				return nil, err
			}
			args[i] = v
		default:
			raw[i] = a.lit
			if s, ok := a.lit.(strLit); ok {
				args[i] = unescape(string(s))
			} else {
				args[i] = a.lit
			}
		}
	}
	return c.apply(args, raw, env)
}

func argString(name string, v any, pos int) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", ifail("The %s argument of %s must be a string, got %s", ordinal(pos), name, jsonType(v))
	}
	return s, nil
}

func argArray(name string, v any, pos int) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, ifail("The %s argument of %s must be an array, got %s", ordinal(pos), name, jsonType(v))
	}
	return a, nil
}

func argInt(name string, v any, pos int) (int, error) {
	f, ok := toFloat(v)
	if !ok {
		return 0, ifail("The %s argument of %s must be a number, got %s", ordinal(pos), name, encodeJSON(v))
	}
	if f != math.Trunc(f) && (name == "States.MathAdd" || name == "States.MathRandom") {
		// AWS rounds these arguments half up (Java's Math.round).
		return int(math.Floor(f + 0.5)), nil
	}
	if f != math.Trunc(f) {
		return 0, ifail("The %s argument of %s must be an integer, got %s", ordinal(pos), name, encodeJSON(v))
	}
	return int(f), nil
}

func ordinal(i int) string {
	return [...]string{"first", "second", "third", "fourth"}[min(i, 3)]
}

func (c *intrinsicCall) apply(args, raw []any, env *evalEnv) (any, error) {
	n := c.name
	switch n {
	case "States.Format":
		tmpl, ok := raw[0].(strLit)
		if !ok {
			s, ok2 := args[0].(string)
			if !ok2 {
				return nil, ifail("The first argument of States.Format must be a string")
			}
			tmpl = strLit(s)
		}
		var b strings.Builder
		t := string(tmpl)
		next := 1
		for i := 0; i < len(t); i++ {
			switch {
			case t[i] == '\\' && i+1 < len(t):
				i++
				b.WriteByte(t[i])
			case t[i] == '{' && i+1 < len(t) && t[i+1] == '}':
				if next >= len(args) {
					return nil, ifail("States.Format has more placeholders than arguments")
				}
				switch v := args[next].(type) {
				case string:
					b.WriteString(v)
				default:
					b.WriteString(encodeJSON(v))
				}
				next++
				i++
			default:
				b.WriteByte(t[i])
			}
		}
		if next != len(args) {
			return nil, ifail("States.Format has %d placeholders but %d arguments", next-1, len(args)-1)
		}
		return b.String(), nil
	case "States.StringToJson":
		s, err := argString(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, ifail("States.StringToJson: the argument is not valid JSON: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		return encodeJSON(args[0]), nil
	case "States.Array":
		out := make([]any, len(args))
		copy(out, args)
		return out, nil
	case "States.ArrayPartition":
		a, err := argArray(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		size, err := argInt(n, args[1], 1)
		if err != nil {
			return nil, err
		}
		if size <= 0 {
			return nil, ifail("States.ArrayPartition: the chunk size must be greater than 0, got %d", size)
		}
		out := []any{}
		for i := 0; i < len(a); i += size {
			end := min(i+size, len(a))
			chunk := make([]any, end-i)
			copy(chunk, a[i:end])
			out = append(out, chunk)
		}
		return out, nil
	case "States.ArrayContains":
		a, err := argArray(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		for _, x := range a {
			if deepEqual(x, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case "States.ArrayRange":
		var v [3]int
		for i := 0; i < 3; i++ {
			x, err := argInt(n, args[i], i)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
		if v[2] == 0 {
			return nil, ifail("States.ArrayRange: the step must not be 0")
		}
		out := []any{}
		for x := v[0]; (v[2] > 0 && x <= v[1]) || (v[2] < 0 && x >= v[1]); x += v[2] {
			out = append(out, float64(x))
			if len(out) > 1000 {
				return nil, ifail("States.ArrayRange: the result has more than 1000 items")
			}
		}
		return out, nil
	case "States.ArrayGetItem":
		a, err := argArray(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		i, err := argInt(n, args[1], 1)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(a) {
			return nil, ifail("States.ArrayGetItem: index %d is out of bounds for an array of length %d", i, len(a))
		}
		return a[i], nil
	case "States.ArrayLength":
		a, err := argArray(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		return float64(len(a)), nil
	case "States.ArrayUnique":
		a, err := argArray(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		out := []any{}
	next:
		for _, x := range a {
			for _, y := range out {
				if deepEqual(x, y) {
					continue next
				}
			}
			out = append(out, x)
		}
		return out, nil
	case "States.Base64Encode":
		s, err := argString(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		if len(s) > 10000 {
			return nil, ifail("States.Base64Encode: the input is longer than 10000 characters")
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "States.Base64Decode":
		s, err := argString(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		if len(s) > 10000 {
			return nil, ifail("States.Base64Decode: the input is longer than 10000 characters")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, ifail("States.Base64Decode: the input is not valid base64: %v", err)
		}
		return string(b), nil
	case "States.Hash":
		var data string
		if s, ok := args[0].(string); ok {
			data = s
		} else if args[0] == nil {
			return nil, ifail("States.Hash: the data to hash must not be null")
		} else {
			data = encodeJSON(args[0])
		}
		algo, err := argString(n, args[1], 1)
		if err != nil {
			return nil, err
		}
		sum, ok := hashHex(algo, data)
		if !ok {
			return nil, ifail("States.Hash: unsupported algorithm %q (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)", algo)
		}
		return sum, nil
	case "States.JsonMerge":
		a, ok1 := args[0].(map[string]any)
		b, ok2 := args[1].(map[string]any)
		if !ok1 || !ok2 {
			return nil, ifail("States.JsonMerge: both inputs must be objects")
		}
		if deep, ok := args[2].(bool); !ok || deep {
			return nil, ifail("States.JsonMerge: only shallow merge is supported; the third argument must be false")
		}
		out := make(map[string]any, len(a)+len(b))
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out, nil
	case "States.MathRandom":
		lo, err := argInt(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		hi, err := argInt(n, args[1], 1)
		if err != nil {
			return nil, err
		}
		if hi <= lo {
			return nil, ifail("States.MathRandom: the end (%d) must be greater than the start (%d)", hi, lo)
		}
		var r *mrand.Rand
		if len(args) == 3 {
			seed, err := argInt(n, args[2], 2)
			if err != nil {
				return nil, err
			}
			r = mrand.New(mrand.NewPCG(uint64(seed), 0))
		} else {
			r = mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
		}
		return float64(lo + r.IntN(hi-lo)), nil
	case "States.MathAdd":
		a, err := argInt(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		b, err := argInt(n, args[1], 1)
		if err != nil {
			return nil, err
		}
		return float64(a + b), nil
	case "States.StringSplit":
		s, err := argString(n, args[0], 0)
		if err != nil {
			return nil, err
		}
		d, err := argString(n, args[1], 1)
		if err != nil {
			return nil, err
		}
		parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) })
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case "States.UUID":
		return newUUID(), nil
	}
	return nil, ifail("unknown intrinsic function %s", n)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b)
}

// requestID is a version-4 UUID from a fast non-cryptographic source: request ids only
// need to be unique, not unguessable.
func requestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// hashHex is the hex digest of data with one of the algorithms Step Functions offers
// (States.Hash and JSONata's $hash); ok is false for any other name.
func hashHex(algo, data string) (sum string, ok bool) {
	var h hash.Hash
	switch algo {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return "", false
	}
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil)), true
}
