package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/shipgate/shipgate/shared/domain"
)

// Limits on a spec. They keep a hostile or broken file from costing memory or time (the
// YAML parser's time grows with the square of the keys or of the bracket nesting, so
// those are capped before it runs; a real spec is far below every limit), and
// the step timeouts keep every stage inside one Lambda invocation (15 minutes at most,
// minus the time to fetch the source and snapshot the workspace).
const (
	MaxSize            = 256 << 10
	MaxLines           = 5000
	MaxColons          = 2000 // bounds the mapping keys a file can hold
	MaxFlowDepth       = 64
	MaxProblems        = 50
	MinStepTimeout     = time.Second
	MaxStepTimeout     = 14 * time.Minute
	MinApprovalTimeout = time.Minute
	MaxApprovalTimeout = 364 * 24 * time.Hour // a Standard execution lives at most a year
)

// These expressions are shared with shipgate.schema.json (TestSchemaAgreesWithParser
// checks that the two accept the same values), so editors and `shipgate validate` agree.
var (
	durationRE     = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))+$`)
	emailRE        = regexp.MustCompile(`^[^@\s<>()\[\],;:"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
	envNameRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	artifactNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	bucketRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// ReservedEnvPrefix is the prefix of the variables shipgate itself sets for user commands
// (SHIPGATE_RUN_ID, SHIPGATE_COMMIT, ...); the spec may not set them.
const ReservedEnvPrefix = "SHIPGATE_"

// ExtensionPrefix marks top-level keys shipgate ignores, so a spec can hold shared
// blocks to reuse through YAML anchors (x-common: &common ...).
const ExtensionPrefix = "x-"

// Problem is one thing wrong with a spec, located in the file.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column,omitempty"`
	Key     string `json:"key,omitempty"` // dotted path, e.g. "test.timeout" or "artifacts[0].paths[1]"
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Key == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Key, p.Message)
}

// InvalidError lists every problem found in a spec, one per line. Parse returns it
// wrapped in a *domain.Error of kind SpecInvalid; errors.As finds it for callers that
// want the structured list (shipgate validate --format json).
type InvalidError struct {
	Problems []Problem
	// More counts problems found beyond MaxProblems and not listed.
	More int
}

func (e *InvalidError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	if e.More > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems", e.More))
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses dir/shipgate.yml. A missing file is a SpecMissing error saying
// where the file is expected; the caller adds which repository and commit it looked at.
func Load(dir string) (*Spec, error) {
	p := filepath.Join(dir, FileName)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		msg := "no " + FileName + " at the repository root"
		for _, alt := range []string{"shipgate.yaml", ".shipgate.yml", "Shipgate.yml"} {
			if _, err := os.Lstat(filepath.Join(dir, alt)); err == nil {
				msg += fmt.Sprintf(" (found %s; the file must be named %s)", alt, FileName)
				break
			}
		}
		return nil, &domain.Error{Kind: domain.SpecMissing, Msg: msg}
	}
	if err != nil {
		return nil, &domain.Error{Kind: domain.SpecInvalid, Msg: "read " + FileName, Err: err}
	}
	// A symlink could point anywhere on the machine running the stage (its environment,
	// its credentials); only a regular file committed to the repository is read.
	if !fi.Mode().IsRegular() {
		return nil, &domain.Error{Kind: domain.SpecInvalid, Msg: FileName + " must be a regular file at the repository root, not a symlink or directory"}
	}
	if fi.Size() > MaxSize {
		return nil, &domain.Error{Kind: domain.SpecInvalid, Msg: fmt.Sprintf("%s is %d bytes; at most %d are allowed", FileName, fi.Size(), MaxSize)}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, &domain.Error{Kind: domain.SpecInvalid, Msg: "read " + FileName, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &domain.Error{Kind: domain.SpecInvalid, Msg: "read " + FileName, Err: err}
	}
	return Parse(FileName, data)
}

// Parse parses and validates a spec. file names the source in messages. Every problem
// found is reported, one per line, as a SpecInvalid error wrapping *InvalidError.
func Parse(file string, data []byte) (*Spec, error) {
	if file == "" {
		file = FileName
	}
	p := &specParser{file: file, anchors: map[string]ast.Node{}, merging: map[ast.Node]bool{}}
	if len(data) > MaxSize {
		p.problems = append(p.problems, Problem{File: file, Line: 1, Message: fmt.Sprintf("file is %d bytes; at most %d are allowed", len(data), MaxSize)})
		return nil, p.err()
	}
	// Editors on Windows may save a byte-order mark; it is not part of the first key.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if pr := precheck(data); pr != nil {
		pr.File = file
		p.problems = append(p.problems, *pr)
		return nil, p.err()
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		p.syntaxError(err)
		return nil, p.err()
	}
	var body ast.Node
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if body != nil {
			p.addAt(d.Body, "", "a spec is one YAML document; remove the extra document (---)")
			break
		}
		body = d.Body
	}
	if body == nil {
		p.problems = append(p.problems, Problem{File: file, Line: 1, Message: "the spec is empty; it needs at least approval and deploy"})
		return nil, p.err()
	}
	p.collectAnchors(body, 0)
	s := p.spec(body)
	if e := p.err(); e != nil {
		return nil, e
	}
	return s, nil
}

// precheck refuses input whose shape alone would make parsing slow. The counts are
// over raw bytes (quotes and comments included), which only errs on the side of files
// no one writes by hand.
func precheck(data []byte) *Problem {
	lines := bytes.Count(data, []byte("\n")) + 1
	if lines > MaxLines {
		return &Problem{Line: MaxLines + 1, Message: fmt.Sprintf("the file has %d lines; at most %d are allowed", lines, MaxLines)}
	}
	if n := bytes.Count(data, []byte(":")); n > MaxColons {
		return &Problem{Line: 1, Message: fmt.Sprintf("the file has %d ':' characters; at most %d are allowed", n, MaxColons)}
	}
	depth, line := 0, 1
	for _, c := range data {
		switch c {
		case '\n':
			line++
		case '[', '{':
			if depth++; depth > MaxFlowDepth {
				return &Problem{Line: line, Message: fmt.Sprintf("brackets nest deeper than %d levels", MaxFlowDepth)}
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

type specParser struct {
	file     string
	anchors  map[string]ast.Node
	merging  map[ast.Node]bool // mappings whose << merges are being read
	problems []Problem
}

func (p *specParser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	sort.SliceStable(p.problems, func(i, j int) bool {
		a, b := p.problems[i], p.problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	e := &InvalidError{Problems: p.problems}
	if len(e.Problems) > MaxProblems {
		e.More = len(e.Problems) - MaxProblems
		e.Problems = e.Problems[:MaxProblems]
	}
	return &domain.Error{Kind: domain.SpecInvalid, Err: e}
}

// syntaxError turns the YAML library's error (which carries a token) into a Problem
// without its multi-line source excerpt, so each problem stays one line.
func (p *specParser) syntaxError(err error) {
	var te interface {
		GetMessage() string
		GetToken() *token.Token
	}
	pr := Problem{File: p.file, Line: 1, Message: "invalid YAML: " + firstLine(err.Error())}
	if errors.As(err, &te) {
		pr.Message = "invalid YAML: " + te.GetMessage()
		if tk := te.GetToken(); tk != nil && tk.Position != nil {
			pr.Line, pr.Column = tk.Position.Line, tk.Position.Column
		}
		if strings.Contains(pr.Message, "'\t'") {
			pr.Message += " (indent with spaces, not tabs)"
		}
	}
	p.problems = append(p.problems, pr)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (p *specParser) addAt(n ast.Node, key, format string, args ...any) {
	pr := Problem{File: p.file, Line: 1, Key: key, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			pr.Line, pr.Column = tk.Position.Line, tk.Position.Column
		}
	}
	p.problems = append(p.problems, pr)
}

// collectAnchors records &anchors so *aliases resolve; depth bounds the walk because
// the spec's own structure is shallow and anything deeper is rejected anyway.
func (p *specParser) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > 32 {
		return
	}
	switch v := n.(type) {
	case *ast.AnchorNode:
		if v.Name != nil {
			p.anchors[v.Name.String()] = v.Value
		}
		p.collectAnchors(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			p.collectAnchors(mv.Value, depth+1)
		}
	case *ast.MappingValueNode:
		p.collectAnchors(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			p.collectAnchors(x, depth+1)
		}
	case *ast.TagNode:
		p.collectAnchors(v.Value, depth+1)
	}
}

// resolve looks through anchors, aliases and tags to the value itself. Resolution is
// bounded so alias chains cannot loop.
func (p *specParser) resolve(n ast.Node) ast.Node {
	for i := 0; i < 16 && n != nil; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			if v.Value == nil {
				return nil
			}
			t, ok := p.anchors[v.Value.String()]
			if !ok {
				return nil
			}
			n = t
		default:
			return n
		}
	}
	return n
}

// describe names a node's YAML type for "expected X, got Y" messages.
func describe(n ast.Node) string {
	switch n.(type) {
	case nil:
		return "an undefined alias"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.NullNode:
		return "nothing (null)"
	}
	return "a " + n.Type().String()
}

type entry struct {
	name  string
	key   ast.Node // for positions
	value ast.Node
}

// mapping returns a mapping's entries, merge keys (<<) applied, or reports that n is not
// a mapping. at is where to point when n itself has no position.
func (p *specParser) mapping(n ast.Node, at ast.Node, key string) ([]entry, bool) {
	r := p.resolve(n)
	var values []*ast.MappingValueNode
	switch v := r.(type) {
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		p.addAt(pos(n, at), key, "expected a mapping, got %s", describe(r))
		return nil, false
	}
	var own, merged []entry
	seen := map[string]bool{}
	for _, mv := range values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			// A merge of a mapping into itself (an alias to an enclosing anchor) would
			// recurse forever.
			if p.merging[r] {
				p.addAt(mv.Key, key+".<<", "merges a mapping into itself")
				continue
			}
			p.merging[r] = true
			for _, src := range p.mergeSources(mv.Value) {
				sub, ok := p.mapping(src, mv.Key, key)
				if ok {
					merged = append(merged, sub...)
				}
			}
			delete(p.merging, r)
			continue
		}
		k := p.resolve(mv.Key)
		name := ""
		switch kv := k.(type) {
		case *ast.StringNode:
			name = kv.Value
		case nil:
		default:
			name = kv.GetToken().Value
		}
		seen[name] = true
		own = append(own, entry{name: name, key: mv.Key, value: mv.Value})
	}
	for _, e := range merged {
		if !seen[e.name] {
			seen[e.name] = true
			own = append(own, e)
		}
	}
	return own, true
}

func (p *specParser) mergeSources(n ast.Node) []ast.Node {
	if seq, ok := p.resolve(n).(*ast.SequenceNode); ok {
		return seq.Values
	}
	return []ast.Node{n}
}

// pos picks a node with a position: n unless it has none.
func pos(n, at ast.Node) ast.Node {
	if n != nil && n.GetToken() != nil {
		return n
	}
	return at
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// fields dispatches a mapping's entries to per-key handlers and reports unknown keys
// with a suggestion. It returns the keys present.
func (p *specParser) fields(entries []entry, parent string, handlers map[string]func(e entry, key string)) map[string]bool {
	present := map[string]bool{}
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, e := range entries {
		h, ok := handlers[e.name]
		if !ok && parent == "" && strings.HasPrefix(e.name, ExtensionPrefix) {
			continue // a place for &anchors, as in Compose files
		}
		if !ok {
			msg := "unknown key"
			if s := suggest(e.name, names); s != "" {
				msg += " (did you mean " + s + "?)"
			} else {
				msg += " (known keys: " + strings.Join(names, ", ") + ")"
			}
			p.addAt(e.key, join(parent, e.name), "%s", msg)
			continue
		}
		present[e.name] = true
		h(e, join(parent, e.name))
	}
	return present
}

// suggest finds the known key closest to a misspelt one: same letters ignoring case,
// '_' and '-' (allowSelfApproval for allow_self_approval), or a small edit distance.
func suggest(got string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for _, k := range known {
		if norm(k) == norm(got) {
			return k
		}
		if d := editDistance(strings.ToLower(got), k); d < bestD && d <= len(k)/2 {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			// A swap of two neighbours counts as one edit ("timoeut").
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// quote shows a user's value in a message, shortened so a message stays one short line.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:37]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

// str reads a string scalar. Numbers and booleans are refused with a hint to quote them,
// because YAML would otherwise silently turn `1.10` into 1.1.
func (p *specParser) str(n ast.Node, at ast.Node, key string) (string, bool) {
	switch v := p.resolve(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		p.addAt(pos(n, at), key, "expected a string, got %s (quote it: \"%s\")", describe(v), v.GetToken().Value)
	case *ast.MappingNode, *ast.MappingValueNode:
		p.addAt(pos(n, at), key, "expected a string, got a mapping (a \": \" in an unquoted value starts a mapping; quote the value)")
	default:
		p.addAt(pos(n, at), key, "expected a string, got %s", describe(v))
	}
	return "", false
}

// list reads a list, reporting each element's key as key[i].
func (p *specParser) list(n ast.Node, at ast.Node, key string, elem func(n ast.Node, key string)) int {
	r := p.resolve(n)
	seq, ok := r.(*ast.SequenceNode)
	if !ok {
		hint := ""
		if s, isStr := r.(*ast.StringNode); isStr {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", s.Value)
		}
		p.addAt(pos(n, at), key, "expected a list, got %s%s", describe(r), hint)
		return -1
	}
	for i, x := range seq.Values {
		elem(pos(x, seq), fmt.Sprintf("%s[%d]", key, i))
	}
	return len(seq.Values)
}

func (p *specParser) strList(e entry, key string, check func(s string, n ast.Node, key string)) []string {
	var out []string
	n := p.list(e.value, e.key, key, func(x ast.Node, k string) {
		if s, ok := p.str(x, e.key, k); ok {
			if check != nil {
				check(s, x, k)
			}
			out = append(out, s)
		}
	})
	if n == 0 {
		p.addAt(pos(e.value, e.key), key, "empty list (remove the key, or add an entry)")
	}
	return out
}

func (p *specParser) globs(e entry, key string) []string {
	return p.strList(e, key, func(s string, n ast.Node, k string) {
		if err := checkGlob(s); err != nil {
			p.addAt(n, k, "bad glob %s: %v", quote(s), err)
		}
	})
}

func (p *specParser) duration(e entry, key string, lo, hi time.Duration) Duration {
	s, ok := p.str(e.value, e.key, key)
	if !ok {
		return 0
	}
	n := pos(e.value, e.key)
	if !durationRE.MatchString(s) {
		p.addAt(n, key, "%s is not a duration (use a number with a unit: s, m or h, e.g. \"10m\" or \"1h30m\")", quote(s))
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.addAt(n, key, "%s is not a duration: %v", quote(s), err)
		return 0
	}
	if d < lo || d > hi {
		p.addAt(n, key, "%s is out of range: must be between %s and %s", quote(s), short(lo), short(hi))
		return 0
	}
	return Duration(d)
}

// short prints 14m rather than time.Duration's 14m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (p *specParser) boolean(e entry, key string) (bool, bool) {
	if b, ok := p.resolve(e.value).(*ast.BoolNode); ok {
		return b.Value, true
	}
	p.addAt(pos(e.value, e.key), key, "expected true or false, got %s", describe(p.resolve(e.value)))
	return false, false
}

func (p *specParser) commands(e entry, key string) []string {
	return p.strList(e, key, func(s string, n ast.Node, k string) {
		if strings.TrimSpace(s) == "" {
			p.addAt(n, k, "empty command")
		}
	})
}

// spec reads the top-level mapping.
func (p *specParser) spec(body ast.Node) *Spec {
	s := &Spec{}
	entries, ok := p.mapping(body, body, "")
	if !ok {
		return s
	}
	var deployAt ast.Node
	present := p.fields(entries, "", map[string]func(entry, string){
		"branches": func(e entry, k string) {
			s.Branches = p.strList(e, k, func(g string, n ast.Node, k string) {
				if strings.HasPrefix(g, "refs/") {
					p.addAt(n, k, "write the branch name without refs/heads/ (e.g. main)")
					return
				}
				if err := checkGlob(g); err != nil {
					p.addAt(n, k, "bad glob %s: %v", quote(g), err)
				}
			})
		},
		"paths": func(e entry, k string) { s.Paths = p.globs(e, k) },
		"env":   func(e entry, k string) { s.Env = p.env(e, k) },
		"build": func(e entry, k string) {
			if m, ok := p.mapping(e.value, e.key, k); ok {
				p.fields(m, k, p.stepFields(&s.Build))
			}
		},
		"test": func(e entry, k string) {
			if m, ok := p.mapping(e.value, e.key, k); ok {
				h := p.stepFields(&s.Test.Step)
				h["reports"] = func(e entry, k string) { s.Test.Reports = p.globs(e, k) }
				p.fields(m, k, h)
			}
		},
		"artifacts": func(e entry, k string) { s.Artifacts = p.artifacts(e, k) },
		"approval":  func(e entry, k string) { p.approval(e, k, &s.Approval) },
		"deploy": func(e entry, k string) {
			deployAt = e.key
			p.deploy(e, k, &s.Deploy)
		},
	})
	top := body
	if !present["approval"] {
		p.addAt(top, "approval", "missing: every run waits for a person to approve it (approval: {approvers: [you@example.com]})")
	}
	if !present["deploy"] {
		p.addAt(top, "deploy", "missing: what runs once a run is approved (deploy: {commands: [...]} and/or target)")
	}
	if deployAt != nil && s.Deploy.Target != nil && s.Deploy.Target.S3 != nil && len(s.Artifacts) == 0 && !present["artifacts"] {
		p.addAt(deployAt, "deploy.target.s3", "nothing to copy: declare the files to deploy under artifacts")
	}
	return s
}

func (p *specParser) stepFields(st *Step) map[string]func(entry, string) {
	return map[string]func(entry, string){
		"commands": func(e entry, k string) { st.Commands = p.commands(e, k) },
		"timeout":  func(e entry, k string) { st.Timeout = p.duration(e, k, MinStepTimeout, MaxStepTimeout) },
	}
}

func (p *specParser) env(e entry, key string) map[string]string {
	m, ok := p.mapping(e.value, e.key, key)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, kv := range m {
		k := join(key, kv.name)
		switch {
		case !envNameRE.MatchString(kv.name):
			p.addAt(kv.key, k, "not a valid environment variable name (letters, digits and _, not starting with a digit)")
			continue
		case strings.HasPrefix(kv.name, ReservedEnvPrefix):
			p.addAt(kv.key, k, "names starting with %s are set by shipgate itself", ReservedEnvPrefix)
			continue
		}
		// Numbers and booleans are kept as written: env values are text to the commands.
		switch v := p.resolve(kv.value).(type) {
		case *ast.StringNode:
			out[kv.name] = v.Value
		case *ast.LiteralNode:
			if v.Value != nil {
				out[kv.name] = v.Value.Value
			}
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
			out[kv.name] = v.GetToken().Value
		case *ast.NullNode:
			p.addAt(pos(kv.value, kv.key), k, "no value (write %s: \"\" for an empty string)", kv.name)
		default:
			p.addAt(pos(kv.value, kv.key), k, "expected a string, got %s", describe(v))
		}
	}
	return out
}

func (p *specParser) artifacts(e entry, key string) []Artifact {
	var out []Artifact
	names := map[string]string{}
	n := p.list(e.value, e.key, key, func(x ast.Node, k string) {
		m, ok := p.mapping(x, e.key, k)
		if !ok {
			return
		}
		var a Artifact
		present := p.fields(m, k, map[string]func(entry, string){
			"name": func(e entry, k string) {
				s, ok := p.str(e.value, e.key, k)
				if !ok {
					return
				}
				if !artifactNameRE.MatchString(s) {
					p.addAt(pos(e.value, e.key), k, "%s is not a valid artifact name (1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)", quote(s))
					return
				}
				if prev, dup := names[s]; dup {
					p.addAt(pos(e.value, e.key), k, "duplicate artifact name %s (also %s)", quote(s), prev)
					return
				}
				names[s] = k
				a.Name = s
			},
			"paths": func(e entry, k string) { a.Paths = p.globs(e, k) },
		})
		for _, req := range []string{"name", "paths"} {
			if !present[req] {
				p.addAt(x, join(k, req), "missing")
			}
		}
		out = append(out, a)
	})
	if n == 0 {
		p.addAt(pos(e.value, e.key), key, "empty list (remove the key, or add an artifact)")
	}
	return out
}

func (p *specParser) approval(e entry, key string, a *Approval) {
	m, ok := p.mapping(e.value, e.key, key)
	if !ok {
		return
	}
	var requiredAt ast.Node
	present := p.fields(m, key, map[string]func(entry, string){
		"approvers": func(e entry, k string) {
			seen := map[string]string{}
			a.Approvers = p.strList(e, k, func(s string, n ast.Node, k string) {
				if !emailRE.MatchString(s) {
					p.addAt(n, k, "%s is not an email address", quote(s))
					return
				}
				l := strings.ToLower(s)
				if prev, dup := seen[l]; dup {
					p.addAt(n, k, "duplicate approver %s (also %s)", quote(s), prev)
				}
				seen[l] = k
			})
		},
		"required": func(e entry, k string) {
			requiredAt = pos(e.value, e.key)
			switch v := p.resolve(e.value).(type) {
			case *ast.IntegerNode:
				n, ok := toInt(v.Value)
				if !ok || n < 1 {
					p.addAt(requiredAt, k, "must be at least 1, got %s", v.GetToken().Value)
					return
				}
				a.Required = n
			default:
				p.addAt(requiredAt, k, "expected a whole number, got %s", describe(v))
			}
		},
		"timeout": func(e entry, k string) {
			a.Timeout = p.duration(e, k, MinApprovalTimeout, MaxApprovalTimeout)
		},
		"allow_self_approval": func(e entry, k string) { a.AllowSelfApproval, _ = p.boolean(e, k) },
		"supersede": func(e entry, k string) {
			if b, ok := p.boolean(e, k); ok {
				a.Supersede = &b
			}
		},
	})
	if !present["approvers"] {
		p.addAt(e.key, join(key, "approvers"), "missing: list the emails of the people who may approve")
	}
	if requiredAt != nil && a.Required > len(a.Approvers) && len(a.Approvers) > 0 {
		p.addAt(requiredAt, join(key, "required"), "%d approvals required but only %d approvers listed", a.Required, len(a.Approvers))
	}
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int64:
		if n > 1<<20 {
			return 0, false
		}
		return int(n), true
	case uint64:
		if n > 1<<20 {
			return 0, false
		}
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

func (p *specParser) deploy(e entry, key string, d *Deploy) {
	m, ok := p.mapping(e.value, e.key, key)
	if !ok {
		return
	}
	h := p.stepFields(&d.Step)
	h["target"] = func(e entry, k string) {
		tm, ok := p.mapping(e.value, e.key, k)
		if !ok {
			return
		}
		t := &Target{}
		present := p.fields(tm, k, map[string]func(entry, string){
			"s3": func(e entry, k string) {
				sm, ok := p.mapping(e.value, e.key, k)
				if !ok {
					return
				}
				s3 := &S3Target{}
				present := p.fields(sm, k, map[string]func(entry, string){
					"bucket": func(e entry, k string) {
						s, ok := p.str(e.value, e.key, k)
						if ok && !bucketRE.MatchString(s) {
							p.addAt(pos(e.value, e.key), k, "%s is not an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')", quote(s))
							return
						}
						s3.Bucket = s
					},
					"prefix": func(e entry, k string) {
						s, ok := p.str(e.value, e.key, k)
						if ok && (strings.HasPrefix(s, "/") || strings.Contains(s, "//")) {
							p.addAt(pos(e.value, e.key), k, "%s: an S3 key prefix does not start with / or contain //", quote(s))
							return
						}
						s3.Prefix = s
					},
				})
				if !present["bucket"] {
					p.addAt(e.key, join(k, "bucket"), "missing")
				}
				t.S3 = s3
			},
		})
		if !present["s3"] {
			p.addAt(e.key, join(k, "s3"), "missing: the only deploy target is s3: {bucket, prefix}")
		}
		d.Target = t
	}
	present := p.fields(m, key, h)
	if !present["commands"] && !present["target"] {
		p.addAt(e.key, key, "needs commands, a target, or both")
	}
}
