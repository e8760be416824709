package asl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"
)

// Paths are compiled once at validation. Most paths in real definitions are plain member
// and index chains ("$.build.skipped"); those are walked directly, which keeps a Pass
// chain at a few hundred nanoseconds per state. Anything else (wildcards, slices,
// filters, descent, unions) goes to an RFC 9535 engine and yields an array, as Step
// Functions' Jayway-based paths do for indefinite paths.

type rootKind int

const (
	rootData rootKind = iota
	rootContext
	rootVar
)

type segment struct {
	name  string
	index int
	isIdx bool
}

type jpath struct {
	src     string
	root    rootKind
	varName string
	segs    []segment      // when simple
	complex *jsonpath.Path // when not simple
}

// compilePath parses a Path ($, $$ or $var rooted).
func compilePath(s string) (*jpath, error) {
	p := &jpath{src: s}
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("path %q must start with '$'", s)
	}
	rest := s[1:]
	switch {
	case strings.HasPrefix(rest, "$"):
		p.root = rootContext
		rest = rest[1:]
	case rest != "" && rest[0] != '.' && rest[0] != '[':
		p.root = rootVar
		i := strings.IndexAny(rest, ".[")
		if i < 0 {
			i = len(rest)
		}
		p.varName = rest[:i]
		if !validVarName(p.varName) {
			return nil, fmt.Errorf("path %q: invalid variable name %q", s, p.varName)
		}
		rest = rest[i:]
	}
	segs, ok := parseSimple(rest)
	if ok {
		p.segs = segs
		return p, nil
	}
	cp, err := jsonpath.Parse("$" + rest)
	if err != nil {
		return nil, fmt.Errorf("path %q is not a valid JSONPath: %v", s, err)
	}
	p.complex = cp
	return p, nil
}

func validVarName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') || r > 127
		if !ok {
			return false
		}
	}
	return true
}

// parseSimple parses ".a.b[0]['c d']" into segments; ok=false when the path needs the
// general engine.
func parseSimple(s string) ([]segment, bool) {
	var segs []segment
	for len(s) > 0 {
		switch s[0] {
		case '.':
			if len(s) > 1 && s[1] == '.' {
				return nil, false
			}
			s = s[1:]
			i := strings.IndexAny(s, ".[")
			if i < 0 {
				i = len(s)
			}
			name := s[:i]
			if name == "" || name == "*" || strings.ContainsAny(name, " ()?@,:'\"") {
				return nil, false
			}
			segs = append(segs, segment{name: name})
			s = s[i:]
		case '[':
			j := strings.IndexByte(s, ']')
			if j < 0 {
				return nil, false
			}
			inner := s[1:j]
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				name := inner[1 : len(inner)-1]
				if strings.ContainsAny(name, "'\"\\") {
					return nil, false
				}
				segs = append(segs, segment{name: name})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil {
					return nil, false
				}
				segs = append(segs, segment{index: n, isIdx: true})
			}
			s = s[j+1:]
		default:
			return nil, false
		}
	}
	return segs, true
}

// normalized renders the simple path the way AWS's messages do: $['a']['b'][0].
func (p *jpath) normalized() string {
	if p.complex != nil {
		return p.src
	}
	var b strings.Builder
	b.WriteString("$")
	for _, s := range p.segs {
		if s.isIdx {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		} else {
			b.WriteString("['" + s.name + "']")
		}
	}
	return b.String()
}

// errPathNotFound reports a definite path that selected nothing.
type errPathNotFound struct{ path *jpath }

func (e *errPathNotFound) Error() string { return "No results for path: " + e.path.normalized() }

// get evaluates the path against data; root values for $$ and $var come from env.
func (p *jpath) get(data any, env *evalEnv) (any, error) {
	root := data
	switch p.root {
	case rootContext:
		if env == nil {
			return nil, &errPathNotFound{p}
		}
		root = env.context()
	case rootVar:
		v, ok := env.lookupVar(p.varName)
		if !ok {
			return nil, &errVarNotFound{name: p.varName}
		}
		root = v
	}
	if p.complex != nil {
		nodes := p.complex.Select(root)
		out := make([]any, 0, len(nodes))
		for _, n := range nodes {
			out = append(out, n)
		}
		return out, nil
	}
	cur := root
	for _, s := range p.segs {
		if s.isIdx {
			arr, ok := cur.([]any)
			i := s.index
			if i < 0 { // from the end, as Jayway reads [-1]
				i += len(arr)
			}
			if !ok || i < 0 || i >= len(arr) {
				return nil, &errPathNotFound{p}
			}
			cur = arr[i]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, &errPathNotFound{p}
		}
		cur, ok = m[s.name]
		if !ok {
			return nil, &errPathNotFound{p}
		}
	}
	return cur, nil
}

type errVarNotFound struct{ name string }

func (e *errVarNotFound) Error() string { return "variable $" + e.name + " is not defined" }

// compileRefPath parses a Reference Path (ResultPath): members and indices only.
func compileRefPath(s string) (*jpath, error) {
	p, err := compilePath(s)
	if err != nil {
		return nil, err
	}
	if p.root != rootData || p.complex != nil {
		return nil, fmt.Errorf("%q is not a valid reference path: only '$', member names and array indices are allowed", s)
	}
	for _, sg := range p.segs {
		if sg.isIdx && sg.index < 0 {
			return nil, fmt.Errorf("%q is not a valid reference path: array indices must not be negative", s)
		}
	}
	return p, nil
}

// set returns a copy of doc with value placed at the reference path, creating objects
// along the way. Only the containers on the path are copied.
func (p *jpath) set(doc, value any) (any, error) {
	return setAt(doc, p.segs, value, p)
}

func setAt(cur any, segs []segment, value any, p *jpath) (any, error) {
	if len(segs) == 0 {
		return value, nil
	}
	s := segs[0]
	if s.isIdx {
		arr, ok := cur.([]any)
		if !ok || s.index >= len(arr) {
			return nil, fmt.Errorf("Invalid path '%s': array index %d is out of range", p.src, s.index)
		}
		out := make([]any, len(arr))
		copy(out, arr)
		v, err := setAt(arr[s.index], segs[1:], value, p)
		if err != nil {
			return nil, err
		}
		out[s.index] = v
		return out, nil
	}
	m, ok := cur.(map[string]any)
	if !ok {
		if cur != nil {
			return nil, fmt.Errorf("Invalid path '%s': the value at '%s' is not an object", p.src, s.name)
		}
		m = nil
	}
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	v, err := setAt(m[s.name], segs[1:], value, p)
	if err != nil {
		return nil, err
	}
	out[s.name] = v
	return out, nil
}
