package ddblocal

import (
	"fmt"
	"strconv"
	"strings"
)

// The expression languages of DynamoDB (condition, filter, key condition, update,
// projection) share one lexer and a recursive-descent parser. Placeholders are resolved
// while parsing, so evaluation never sees #name or :value.

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tName  // #placeholder
	tValue // :placeholder
	tInt
	tPunct
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			out = append(out, token{tIdent, src[i:j], i})
			i = j
		case c == '#' || c == ':':
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("Syntax error; token: %q, near: %q", string(c), near(src, i))
			}
			k := tName
			if c == ':' {
				k = tValue
			}
			out = append(out, token{k, src[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			out = append(out, token{tInt, src[i:j], i})
			i = j
		case c == '<' || c == '>':
			if i+1 < len(src) && (src[i+1] == '=' || (c == '<' && src[i+1] == '>')) {
				out = append(out, token{tPunct, src[i : i+2], i})
				i += 2
			} else {
				out = append(out, token{tPunct, src[i : i+1], i})
				i++
			}
		case strings.IndexByte("()[],.=+-", c) >= 0:
			out = append(out, token{tPunct, src[i : i+1], i})
			i++
		default:
			return nil, fmt.Errorf("Invalid character encountered; character: %q, near: %q", string(c), near(src, i))
		}
	}
	return append(out, token{tEOF, "", len(src)}), nil
}

func near(src string, i int) string {
	return src[i:min(len(src), i+12)]
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// pathElem is one step of a document path: an attribute or map key, or a list index.
type pathElem struct {
	name  string
	index int
	isIdx bool
}

type docPath []pathElem

func (p docPath) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.isIdx:
			fmt.Fprintf(&b, "[%d]", e.index)
		case i > 0:
			b.WriteString("." + e.name)
		default:
			b.WriteString(e.name)
		}
	}
	return b.String()
}

type opKind int

const (
	oPath opKind = iota
	oValue
	oSize
	oIfNotExists
	oListAppend
	oPlus
	oMinus
)

type operand struct {
	kind opKind
	path docPath
	val  *AV
	args []*operand
}

type condKind int

const (
	cAnd condKind = iota
	cOr
	cNot
	cCmp
	cBetween
	cIn
	cFunc
)

type cond struct {
	kind  condKind
	op    string // comparator or function name
	l, r  *cond
	args  []*operand
	paren bool // written in parentheses: a second pair around it is refused as redundant
}

// exprEnv resolves placeholders and remembers which were used, so a request with an
// unused or undefined placeholder is refused the way DynamoDB refuses it.
type exprEnv struct {
	names  map[string]string
	values map[string]*AV
	usedN  map[string]bool
	usedV  map[string]bool
}

func newEnv(names map[string]string, values map[string]*AV) *exprEnv {
	return &exprEnv{names: names, values: values, usedN: map[string]bool{}, usedV: map[string]bool{}}
}

// unused reports placeholders the request defined but no expression used.
func (e *exprEnv) unused() error {
	var n, v []string
	for k := range e.names {
		if !e.usedN[k] {
			n = append(n, k)
		}
	}
	for k := range e.values {
		if !e.usedV[k] {
			v = append(v, k)
		}
	}
	if len(n) > 0 {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(sorted(n), ", "))
	}
	if len(v) > 0 {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(sorted(v), ", "))
	}
	return nil
}

type parser struct {
	src  string
	what string // the request parameter, for error messages
	toks []token
	i    int
	env  *exprEnv
}

// DynamoDB's documented limits on expressions.
const (
	maxExprBytes  = 4096 // any expression string
	maxOperators  = 300  // operators and functions in a condition, filter or key condition
	maxInOperands = 100  // values on the right of IN
)

func newParser(what, src string, env *exprEnv) (*parser, error) {
	if strings.TrimSpace(src) == "" {
		return nil, validation("Invalid %s: The expression can not be empty;", what)
	}
	if len(src) > maxExprBytes {
		return nil, validation("Invalid %s: Expression size has exceeded the maximum allowed size; expression size: %d", what, len(src))
	}
	toks, err := lex(src)
	if err != nil {
		return nil, validation("Invalid %s: %v", what, err)
	}
	return &parser{src: src, what: what, toks: toks, env: env}, nil
}

// operators counts the operators and function calls among the tokens.
func (p *parser) operators() int {
	n := 0
	for i, t := range p.toks {
		switch t.kind {
		case tPunct:
			switch t.text {
			case "=", "<>", "<", "<=", ">", ">=":
				n++
			}
		case tIdent:
			switch strings.ToUpper(t.text) {
			case "AND", "OR", "NOT", "BETWEEN", "IN":
				n++
			default:
				if next := p.toks[i+1]; next.kind == tPunct && next.text == "(" {
					n++
				}
			}
		}
	}
	return n
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(format string, a ...any) error {
	return validation("Invalid %s: %s", p.what, fmt.Sprintf(format, a...))
}

func (p *parser) syntax() error {
	t := p.peek()
	if t.kind == tEOF {
		return p.errf("Syntax error; token: <EOF>, near: %q", near(p.src, max(0, len(p.src)-12)))
	}
	return p.errf("Syntax error; token: %q, near: %q", t.text, near(p.src, t.pos))
}

func (p *parser) keyword(k string) bool {
	t := p.peek()
	if t.kind == tIdent && strings.EqualFold(t.text, k) {
		p.i++
		return true
	}
	return false
}

func (p *parser) punct(s string) bool {
	t := p.peek()
	if t.kind == tPunct && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.punct(s) {
		return p.syntax()
	}
	return nil
}

func (p *parser) done() error {
	if p.peek().kind != tEOF {
		return p.syntax()
	}
	return nil
}

func (p *parser) pathName() (string, error) {
	t := p.next()
	switch t.kind {
	case tIdent:
		if reserved[strings.ToUpper(t.text)] {
			return "", p.errf("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		return t.text, nil
	case tName:
		n, ok := p.env.names[t.text]
		if !ok {
			return "", p.errf("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		p.env.usedN[t.text] = true
		return n, nil
	}
	p.i--
	return "", p.syntax()
}

func (p *parser) path() (docPath, error) {
	name, err := p.pathName()
	if err != nil {
		return nil, err
	}
	out := docPath{{name: name}}
	for {
		switch {
		case p.punct("."):
			n, err := p.pathName()
			if err != nil {
				return nil, err
			}
			out = append(out, pathElem{name: n})
		case p.punct("["):
			t := p.next()
			if t.kind != tInt {
				p.i--
				return nil, p.syntax()
			}
			n, err := strconv.Atoi(t.text)
			if err != nil {
				return nil, p.errf("list index %s is out of range", t.text)
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			out = append(out, pathElem{index: n, isIdx: true})
		default:
			return out, nil
		}
	}
}

func (p *parser) value() (*AV, error) {
	t := p.next()
	v, ok := p.env.values[t.text]
	if !ok {
		return nil, p.errf("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
	}
	p.env.usedV[t.text] = true
	return v, nil
}

func (p *parser) isFunc(name string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == name && p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "("
}

// operand parses a path, a value or size(path).
func (p *parser) operand() (*operand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &operand{kind: oValue, val: v}, nil
	case p.isFunc("size"):
		// size takes a path or, as DynamoDB allows, a value (but not a number, boolean
		// or null).
		p.i += 2
		o := &operand{kind: oSize}
		if p.peek().kind == tValue {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			if v.T == "N" || v.T == "BOOL" || v.T == "NULL" {
				return nil, p.errf("Incorrect operand type for operator or function; operator or function: size, operand type: %s", v.T)
			}
			o.val = v
		} else {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			o.path = path
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return o, nil
	case t.kind == tIdent && p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "(":
		return nil, p.errf("Invalid function name; function: %s", t.text)
	case t.kind == tIdent || t.kind == tName:
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		return &operand{kind: oPath, path: path}, nil
	}
	return nil, p.syntax()
}

// parseCondition parses a condition, filter or key condition expression.
func parseCondition(what, src string, env *exprEnv) (*cond, error) {
	p, err := newParser(what, src, env)
	if err != nil {
		return nil, err
	}
	if n := p.operators(); n > maxOperators {
		return nil, p.errf("The expression contains too many operators; operator count: %d", n)
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	return c, p.done()
}

func (p *parser) or() (*cond, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &cond{kind: cOr, l: l, r: r}
	}
	return l, nil
}

func (p *parser) and() (*cond, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &cond{kind: cAnd, l: l, r: r}
	}
	return l, nil
}

// not parses NOT before a primary condition; DynamoDB's grammar has no NOT NOT.
func (p *parser) not() (*cond, error) {
	if p.keyword("NOT") {
		c, err := p.primary()
		if err != nil {
			return nil, err
		}
		return &cond{kind: cNot, l: c}, nil
	}
	return p.primary()
}

var condFuncs = map[string]int{"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}

func (p *parser) primary() (*cond, error) {
	if p.punct("(") {
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if c.paren {
			return nil, p.errf("The expression has redundant parentheses;")
		}
		c.paren = true
		return c, p.expect(")")
	}
	t := p.peek()
	if t.kind == tIdent {
		if n, ok := condFuncs[t.text]; ok && p.isFunc(t.text) {
			p.i += 2
			c := &cond{kind: cFunc, op: t.text}
			for k := 0; k < n; k++ {
				if k > 0 {
					if err := p.expect(","); err != nil {
						return nil, err
					}
				}
				o, err := p.operand()
				if err != nil {
					return nil, err
				}
				c.args = append(c.args, o)
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			if n == 2 {
				if err := p.distinct(c.op, c.args[0], c.args[1]); err != nil {
					return nil, err
				}
			}
			return c, p.checkFunc(c)
		}
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.keyword("BETWEEN"):
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.keyword("AND") {
			return nil, p.syntax()
		}
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		if lo.kind == oValue && hi.kind == oValue {
			if lo.val.T != hi.val.T {
				return nil, p.errf("The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s", lo.val, hi.val)
			}
			if c, ok := compareScalar(lo.val, hi.val); ok && c > 0 {
				return nil, p.errf("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s", lo.val, hi.val)
			}
		}
		return &cond{kind: cBetween, args: []*operand{l, lo, hi}}, nil
	case p.keyword("IN"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		c := &cond{kind: cIn, args: []*operand{l}}
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, o)
			if !p.punct(",") {
				break
			}
		}
		if n := len(c.args) - 1; n > maxInOperands {
			return nil, p.errf("The IN operator is provided with too many operands; number of operands: %d", n)
		}
		return c, p.expect(")")
	}
	t = p.peek()
	if t.kind == tPunct {
		switch t.text {
		case "=", "<>", "<", "<=", ">", ">=":
			p.i++
			r, err := p.operand()
			if err != nil {
				return nil, err
			}
			if err := p.distinct(t.text, l, r); err != nil {
				return nil, err
			}
			return &cond{kind: cCmp, op: t.text, args: []*operand{l, r}}, nil
		}
	}
	return nil, p.syntax()
}

// distinct refuses a comparison or function of a path with itself, as DynamoDB does.
func (p *parser) distinct(op string, a, b *operand) error {
	if a.kind != oPath || b.kind != oPath || len(a.path) != len(b.path) {
		return nil
	}
	for i := range a.path {
		if a.path[i] != b.path[i] {
			return nil
		}
	}
	return p.errf("The first operand must be distinct from the remaining operands for this operator or function; operator: %s, first operand: [%s]", op, a.path)
}

// checkFunc refuses the operand types DynamoDB refuses when it parses the expression.
func (p *parser) checkFunc(c *cond) error {
	switch c.op {
	case "attribute_exists", "attribute_not_exists":
		if c.args[0].kind != oPath {
			return p.errf("Operator or function requires a document path; operator or function: %s", c.op)
		}
	case "attribute_type":
		if v := c.args[1]; v.kind != oValue || v.val.T != "S" {
			return p.errf("Incorrect operand type for operator or function; operator or function: attribute_type, operand type: %s", operandType(v))
		}
		switch c.args[1].val.S {
		case "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS":
		default:
			return p.errf("Invalid attribute type name found; type: %s, valid types: { B, NULL, SS, BOOL, L, BS, N, NS, S, M }", c.args[1].val.S)
		}
	case "begins_with":
		for _, v := range c.args {
			if t := operandType(v); t != "PATH" && t != "S" && t != "B" {
				return p.errf("Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", t)
			}
		}
	}
	return nil
}

func operandType(o *operand) string {
	if o.kind == oValue {
		return o.val.T
	}
	if o.kind == oSize {
		return "N"
	}
	return "PATH"
}

// update is a parsed update expression.
type update struct {
	set    []setAction
	remove []docPath
	add    []addAction
	del    []addAction
}

type setAction struct {
	path docPath
	val  *operand
}

type addAction struct {
	path docPath
	val  *AV
}

func parseUpdate(src string, env *exprEnv) (*update, error) {
	p, err := newParser("UpdateExpression", src, env)
	if err != nil {
		return nil, err
	}
	u := &update{}
	seen := map[string]bool{}
	for p.peek().kind != tEOF {
		t := p.next()
		clause := strings.ToUpper(t.text)
		if t.kind != tIdent || (clause != "SET" && clause != "REMOVE" && clause != "ADD" && clause != "DELETE") {
			p.i--
			return nil, p.syntax()
		}
		if seen[clause] {
			return nil, p.errf("The \"%s\" section can only be used once in an update expression;", clause)
		}
		seen[clause] = true
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			switch clause {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				v, err := p.setValue()
				if err != nil {
					return nil, err
				}
				u.set = append(u.set, setAction{path, v})
			case "REMOVE":
				u.remove = append(u.remove, path)
			case "ADD", "DELETE":
				if p.peek().kind != tValue {
					return nil, p.syntax()
				}
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				ok := v.T == "SS" || v.T == "NS" || v.T == "BS" || (clause == "ADD" && v.T == "N")
				if !ok {
					return nil, p.errf("Incorrect operand type for operator or function; operator: %s, operand type: %s", clause, v.T)
				}
				if clause == "ADD" {
					u.add = append(u.add, addAction{path, v})
				} else {
					u.del = append(u.del, addAction{path, v})
				}
			}
			if !p.punct(",") {
				break
			}
		}
	}
	if err := u.checkOverlap(p); err != nil {
		return nil, err
	}
	return u, nil
}

// checkOverlap refuses two actions on the same or nested paths, as DynamoDB does.
func (u *update) checkOverlap(p *parser) error {
	all := u.paths()
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if overlaps(all[i], all[j]) {
				return p.errf("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", all[i], all[j])
			}
		}
	}
	return nil
}

func overlaps(a, b docPath) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (p *parser) setValue() (*operand, error) {
	l, err := p.setOperand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.punct("+"):
		r, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return &operand{kind: oPlus, args: []*operand{l, r}}, nil
	case p.punct("-"):
		r, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return &operand{kind: oMinus, args: []*operand{l, r}}, nil
	}
	return l, nil
}

func (p *parser) setOperand() (*operand, error) {
	switch {
	case p.isFunc("if_not_exists"):
		p.i += 2
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		v, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return &operand{kind: oIfNotExists, path: path, args: []*operand{v}}, p.expect(")")
	case p.isFunc("list_append"):
		p.i += 2
		a, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		b, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return &operand{kind: oListAppend, args: []*operand{a, b}}, p.expect(")")
	case p.isFunc("size"):
		return nil, p.errf("The function is not allowed in an update expression; function: size")
	}
	return p.operand()
}

func parseProjection(src string, env *exprEnv) ([]docPath, error) {
	p, err := newParser("ProjectionExpression", src, env)
	if err != nil {
		return nil, err
	}
	var out []docPath
	for {
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		out = append(out, path)
		if !p.punct(",") {
			break
		}
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if overlaps(out[i], out[j]) {
				return nil, p.errf("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", out[i], out[j])
			}
		}
	}
	return out, nil
}
