package ddblocal

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// resolve returns the value at path in item, or nil when any step is missing.
func resolve(item Item, path docPath) *AV {
	if len(path) == 0 || item == nil {
		return nil
	}
	cur := item[path[0].name]
	for _, e := range path[1:] {
		if cur == nil {
			return nil
		}
		switch {
		case e.isIdx && cur.T == "L":
			if e.index >= len(cur.L) {
				return nil
			}
			cur = cur.L[e.index]
		case !e.isIdx && cur.T == "M":
			cur = cur.M[e.name]
		default:
			return nil
		}
	}
	return cur
}

// evalOperand returns the operand's value in item, nil when it names a missing path.
func evalOperand(item Item, o *operand) *AV {
	switch o.kind {
	case oValue:
		return o.val
	case oPath:
		return resolve(item, o.path)
	case oSize:
		v := o.val
		if v == nil {
			v = resolve(item, o.path)
		}
		if v == nil {
			return nil
		}
		var n int
		switch v.T {
		case "S":
			n = utf8.RuneCountInString(v.S)
		case "B":
			n = len(v.S)
		case "L":
			n = len(v.L)
		case "M":
			n = len(v.M)
		case "SS", "NS", "BS":
			n = len(v.Set)
		default:
			return nil
		}
		return &AV{T: "N", S: strconv.Itoa(n)}
	}
	return nil
}

// eval evaluates a condition on item (nil item: the item does not exist).
func eval(item Item, c *cond) bool {
	switch c.kind {
	case cAnd:
		return eval(item, c.l) && eval(item, c.r)
	case cOr:
		return eval(item, c.l) || eval(item, c.r)
	case cNot:
		return !eval(item, c.l)
	case cCmp:
		a, b := evalOperand(item, c.args[0]), evalOperand(item, c.args[1])
		switch c.op {
		case "=":
			return a != nil && b != nil && equal(a, b)
		case "<>":
			return a == nil || b == nil || !equal(a, b)
		}
		if a == nil || b == nil {
			return false
		}
		n, ok := compareScalar(a, b)
		if !ok {
			return false
		}
		switch c.op {
		case "<":
			return n < 0
		case "<=":
			return n <= 0
		case ">":
			return n > 0
		default:
			return n >= 0
		}
	case cBetween:
		v, lo, hi := evalOperand(item, c.args[0]), evalOperand(item, c.args[1]), evalOperand(item, c.args[2])
		if v == nil || lo == nil || hi == nil {
			return false
		}
		x, ok1 := compareScalar(v, lo)
		y, ok2 := compareScalar(v, hi)
		return ok1 && ok2 && x >= 0 && y <= 0
	case cIn:
		v := evalOperand(item, c.args[0])
		if v == nil {
			return false
		}
		for _, o := range c.args[1:] {
			if w := evalOperand(item, o); w != nil && equal(v, w) {
				return true
			}
		}
		return false
	case cFunc:
		v := evalOperand(item, c.args[0])
		switch c.op {
		case "attribute_exists":
			return v != nil
		case "attribute_not_exists":
			return v == nil
		}
		if v == nil {
			return false
		}
		arg := evalOperand(item, c.args[1])
		if arg == nil {
			return false
		}
		switch c.op {
		case "attribute_type":
			return v.T == arg.S
		case "begins_with":
			return v.T == arg.T && (v.T == "S" || v.T == "B") && strings.HasPrefix(v.S, arg.S)
		case "contains":
			return contains(v, arg)
		}
	}
	return false
}

func contains(v, x *AV) bool {
	switch v.T {
	case "S", "B":
		return x.T == v.T && strings.Contains(v.S, x.S)
	case "SS", "NS", "BS":
		if x.T+"S" != v.T {
			return false
		}
		for _, s := range v.Set {
			if s == x.S {
				return true
			}
		}
	case "L":
		for _, e := range v.L {
			if equal(e, x) {
				return true
			}
		}
	}
	return false
}

// applyUpdate applies u to item (a copy the caller owns) and returns the names of the
// top-level attributes it touched.
func applyUpdate(item Item, u *update) ([]string, error) {
	var touched []string
	src := item.clone() // every operand reads the item as it was before the update
	for _, s := range u.set {
		v, err := setValue(src, s.val)
		if err != nil {
			return nil, err
		}
		if err := setPath(item, s.path, v.clone()); err != nil {
			return nil, err
		}
		touched = append(touched, s.path[0].name)
	}
	for _, a := range u.add {
		cur := resolve(item, a.path)
		var nv *AV
		switch {
		case cur == nil:
			nv = a.val.clone()
		case cur.T == "N" && a.val.T == "N":
			sum, err := addNumbers(cur.S, a.val.S, false)
			if err != nil {
				return nil, err
			}
			nv = &AV{T: "N", S: sum}
		case cur.T == a.val.T:
			nv = cur.clone()
			for _, m := range a.val.Set {
				if !contains(nv, &AV{T: strings.TrimSuffix(nv.T, "S"), S: m}) {
					nv.Set = append(nv.Set, m)
				}
			}
		default:
			return nil, validation("An operand in the update expression has an incorrect data type")
		}
		if err := setPath(item, a.path, nv); err != nil {
			return nil, err
		}
		touched = append(touched, a.path[0].name)
	}
	for _, d := range u.del {
		cur := resolve(item, d.path)
		if cur == nil {
			continue
		}
		if cur.T != d.val.T {
			return nil, validation("An operand in the update expression has an incorrect data type")
		}
		drop := map[string]bool{}
		for _, m := range d.val.Set {
			drop[m] = true
		}
		nv := &AV{T: cur.T}
		for _, m := range cur.Set {
			if !drop[m] {
				nv.Set = append(nv.Set, m)
			}
		}
		if len(nv.Set) == 0 {
			removePath(item, d.path)
		} else if err := setPath(item, d.path, nv); err != nil {
			return nil, err
		}
		touched = append(touched, d.path[0].name)
	}
	// REMOVE of list elements goes highest index first, so earlier removals do not shift
	// the positions later ones name.
	rm := append([]docPath(nil), u.remove...)
	for i := 1; i < len(rm); i++ {
		for j := i; j > 0 && lastIndex(rm[j]) > lastIndex(rm[j-1]); j-- {
			rm[j], rm[j-1] = rm[j-1], rm[j]
		}
	}
	for _, p := range rm {
		if len(p) > 1 {
			// The parent must exist and be a list (for an index) or a map (for a name).
			parent, last := resolve(item, p[:len(p)-1]), p[len(p)-1]
			if parent == nil || (last.isIdx && parent.T != "L") || (!last.isIdx && parent.T != "M") {
				return nil, validation("The document path provided in the update expression is invalid for update")
			}
		}
		if resolve(src, p) == nil {
			// Paths name the item as it was: a list element that only a SET of this
			// update appended is not removed.
			continue
		}
		removePath(item, p)
		touched = append(touched, p[0].name)
	}
	return touched, nil
}

func lastIndex(p docPath) int {
	if e := p[len(p)-1]; e.isIdx {
		return e.index
	}
	return -1
}

func setValue(item Item, o *operand) (*AV, error) {
	switch o.kind {
	case oValue:
		return o.val, nil
	case oPath:
		v := resolve(item, o.path)
		if v == nil {
			return nil, validation("The provided expression refers to an attribute that does not exist in the item")
		}
		return v, nil
	case oIfNotExists:
		if v := resolve(item, o.path); v != nil {
			return v, nil
		}
		return setValue(item, o.args[0])
	case oListAppend:
		a, b, err := setValues(item, o)
		if err != nil {
			return nil, err
		}
		if a.T != "L" || b.T != "L" {
			return nil, validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: %s", map[bool]string{true: a.T, false: b.T}[a.T != "L"])
		}
		return &AV{T: "L", L: append(append([]*AV{}, a.L...), b.L...)}, nil
	case oPlus, oMinus:
		a, b, err := setValues(item, o)
		if err != nil {
			return nil, err
		}
		if a.T != "N" || b.T != "N" {
			return nil, validation("An operand in the update expression has an incorrect data type")
		}
		n, err := addNumbers(a.S, b.S, o.kind == oMinus)
		if err != nil {
			return nil, err
		}
		return &AV{T: "N", S: n}, nil
	}
	return nil, validation("Invalid UpdateExpression: unsupported operand")
}

// setValues evaluates the two operands of a list_append or an arithmetic SET value.
func setValues(item Item, o *operand) (*AV, *AV, error) {
	a, err := setValue(item, o.args[0])
	if err != nil {
		return nil, nil, err
	}
	b, err := setValue(item, o.args[1])
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func setPath(item Item, path docPath, v *AV) error {
	if len(path) == 1 {
		item[path[0].name] = v
		return nil
	}
	parent := resolve(item, path[:len(path)-1])
	last := path[len(path)-1]
	switch {
	case parent == nil:
	case last.isIdx && parent.T == "L":
		if last.index < len(parent.L) {
			parent.L[last.index] = v
		} else {
			parent.L = append(parent.L, v)
		}
		return nil
	case !last.isIdx && parent.T == "M":
		parent.M[last.name] = v
		return nil
	}
	return validation("The document path provided in the update expression is invalid for update")
}

func removePath(item Item, path docPath) {
	if len(path) == 1 {
		delete(item, path[0].name)
		return
	}
	parent := resolve(item, path[:len(path)-1])
	last := path[len(path)-1]
	switch {
	case parent == nil:
	case last.isIdx && parent.T == "L":
		if last.index < len(parent.L) {
			parent.L = append(parent.L[:last.index], parent.L[last.index+1:]...)
		}
	case !last.isIdx && parent.T == "M":
		delete(parent.M, last.name)
	}
}

// projNode is the tree of projected paths: a leaf takes the whole value, inner nodes
// take the named map keys or list indexes.
type projNode struct {
	leaf bool
	keys map[string]*projNode
	idx  map[int]*projNode
}

func (n *projNode) child(e pathElem) *projNode {
	if e.isIdx {
		if n.idx == nil {
			n.idx = map[int]*projNode{}
		}
		if n.idx[e.index] == nil {
			n.idx[e.index] = &projNode{}
		}
		return n.idx[e.index]
	}
	if n.keys == nil {
		n.keys = map[string]*projNode{}
	}
	if n.keys[e.name] == nil {
		n.keys[e.name] = &projNode{}
	}
	return n.keys[e.name]
}

// take returns the parts of v that n selects, nil when none exist. List elements keep
// their order in the stored list (not the order the paths were written in), and the
// list is compacted, as DynamoDB does.
func (n *projNode) take(v *AV) *AV {
	if v == nil {
		return nil
	}
	if n.leaf {
		return v.clone()
	}
	switch {
	case v.T == "M" && n.keys != nil:
		out := &AV{T: "M", M: map[string]*AV{}}
		for k, c := range n.keys {
			if x := c.take(v.M[k]); x != nil {
				out.M[k] = x
			}
		}
		if len(out.M) > 0 {
			return out
		}
	case v.T == "L" && n.idx != nil:
		idx := make([]int, 0, len(n.idx))
		for i := range n.idx {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		out := &AV{T: "L", L: []*AV{}}
		for _, i := range idx {
			if i < len(v.L) {
				if x := n.idx[i].take(v.L[i]); x != nil {
					out.L = append(out.L, x)
				}
			}
		}
		if len(out.L) > 0 {
			return out
		}
	}
	return nil
}

// project returns a new item holding only the paths (nested paths keep their parents).
func project(item Item, paths []docPath) Item {
	if paths == nil {
		return item.clone()
	}
	root := &projNode{}
	for _, p := range paths {
		n := root
		for _, e := range p {
			n = n.child(e)
		}
		n.leaf = true
	}
	out := Item{}
	for k, c := range root.keys {
		if x := c.take(item[k]); x != nil {
			out[k] = x
		}
	}
	return out
}
