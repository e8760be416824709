package asl

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

type choiceRule struct {
	next      string
	op        string // comparator name without "Path"; "" for And/Or/Not/Condition
	isPath    bool
	variable  *jpath
	value     any
	valuePath *jpath
	and, or   []*choiceRule
	not       *choiceRule
	condition *tmpl
	assign    *tmpl
	output    *tmpl
}

var comparators = map[string]string{ // operator -> type of operand
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "boolean",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean",
	"IsBoolean": "boolean", "IsTimestamp": "boolean",
}

func (v *validator) choiceState(s *state, m map[string]any, sp string, jsonata bool) {
	arr, ok := m["Choices"].([]any)
	if !ok || len(arr) == 0 {
		v.add(s.name, sp+"/Choices", "Choices must be a non-empty array")
	}
	for i, c := range arr {
		cp := fmt.Sprintf("%s/Choices/%d", sp, i)
		r := v.choiceRule(s.name, c, cp, jsonata, true)
		if r != nil {
			s.choices = append(s.choices, r)
		}
	}
	if d, ok := m["Default"]; ok {
		ds, ok := d.(string)
		if !ok || ds == "" {
			v.add(s.name, sp+"/Default", "Default must be a state name")
		}
		s.deflt = ds
	}
}

func (v *validator) choiceRule(st string, raw any, cp string, jsonata, top bool) *choiceRule {
	m, ok := raw.(map[string]any)
	if !ok {
		v.add(st, cp, "a choice rule must be a JSON object")
		return nil
	}
	r := &choiceRule{}
	if top {
		r.next, _ = m["Next"].(string)
		if r.next == "" {
			v.add(st, cp+"/Next", "a choice rule needs Next")
		}
	} else if _, ok := m["Next"]; ok {
		v.add(st, cp+"/Next", "Next is only allowed in a top-level choice rule")
	}
	if jsonata {
		allowed := set("Condition", "Next", "Comment", "Assign", "Output")
		v.fields(m, st, cp, allowed)
		if _, ok := m["Condition"]; !ok {
			v.add(st, cp+"/Condition", "a JSONata choice rule needs Condition")
			return r
		}
		r.condition = v.template(m, "Condition", true, st, cp)
	} else {
		ops := 0
		for k, val := range m {
			switch k {
			case "Next", "Comment", "Variable", "Assign":
				continue
			case "And", "Or":
				ops++
				subs, ok := val.([]any)
				if !ok || len(subs) == 0 {
					v.add(st, cp+"/"+k, k+" must be a non-empty array of rules")
					continue
				}
				for j, sub := range subs {
					sr := v.choiceRule(st, sub, fmt.Sprintf("%s/%s/%d", cp, k, j), jsonata, false)
					if k == "And" {
						r.and = append(r.and, sr)
					} else {
						r.or = append(r.or, sr)
					}
				}
				r.op = k
			case "Not":
				ops++
				r.op = k
				r.not = v.choiceRule(st, val, cp+"/Not", jsonata, false)
			default:
				base := strings.TrimSuffix(k, "Path")
				typ, ok := comparators[base]
				if !ok || (k != base && strings.HasPrefix(base, "Is")) {
					v.add(st, cp+"/"+ptrEsc(k), fmt.Sprintf("unknown field %q in a choice rule", k))
					continue
				}
				ops++
				r.op = base
				if k != base {
					r.isPath = true
					str, _ := val.(string)
					p, err := compilePath(str)
					if err != nil {
						v.add(st, cp+"/"+k, err.Error())
					}
					r.valuePath = p
				} else {
					r.value = val
					if !operandOK(typ, val) {
						v.add(st, cp+"/"+k, fmt.Sprintf("%s needs a %s operand", k, typ))
					}
				}
			}
		}
		if ops != 1 {
			v.add(st, cp, "a choice rule needs exactly one comparison (or And/Or/Not)")
		}
		if r.op != "And" && r.op != "Or" && r.op != "Not" {
			vs, ok := m["Variable"].(string)
			if !ok {
				v.add(st, cp+"/Variable", "a comparison needs Variable")
			} else {
				p, err := compilePath(vs)
				if err != nil {
					v.add(st, cp+"/Variable", err.Error())
				}
				r.variable = p
			}
		}
	}
	if _, ok := m["Assign"]; ok && !top {
		v.add(st, cp+"/Assign", "Assign is only allowed in a top-level choice rule")
	}
	r.assign = v.template(m, "Assign", jsonata, st, cp)
	r.output = v.template(m, "Output", true, st, cp)
	return r
}

func operandOK(typ string, v any) bool {
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := toFloat(v)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "timestamp":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := parseTimestamp(s)
		return err == nil
	}
	return false
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// parseTimestamp accepts the RFC 3339 profile of ISO 8601 that Step Functions accepts.
func parseTimestamp(s string) (time.Time, error) {
	if !timestampRE.MatchString(s) {
		return time.Time{}, fmt.Errorf("not an ISO-8601 date-time: %q", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}

// matches evaluates one rule (JSONPath form). Missing variables fail the rule except
// for IsPresent, as in AWS.
func (r *choiceRule) matches(input any, env *evalEnv) (bool, error) {
	switch r.op {
	case "And":
		for _, s := range r.and {
			ok, err := s.matches(input, env)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "Or":
		for _, s := range r.or {
			ok, err := s.matches(input, env)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case "Not":
		ok, err := r.not.matches(input, env)
		return !ok && err == nil, err
	}
	val, err := r.variable.get(input, env)
	present := err == nil
	if r.op == "IsPresent" {
		want, _ := r.value.(bool)
		return present == want, nil
	}
	if !present {
		return false, &evalError{"States.Runtime", fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable.src)}
	}
	operand := r.value
	if r.isPath {
		operand, err = r.valuePath.get(input, env)
		if err != nil {
			return false, &evalError{"States.Runtime", fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.valuePath.src)}
		}
	}
	switch r.op {
	case "IsNull":
		return (val == nil) == operand.(bool), nil
	case "IsNumeric":
		_, ok := toFloat(val)
		return ok == operand.(bool), nil
	case "IsString":
		_, ok := val.(string)
		return ok == operand.(bool), nil
	case "IsBoolean":
		_, ok := val.(bool)
		return ok == operand.(bool), nil
	case "IsTimestamp":
		s, ok := val.(string)
		if ok {
			_, err := parseTimestamp(s)
			ok = err == nil
		}
		return ok == operand.(bool), nil
	case "BooleanEquals":
		a, ok1 := val.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	}
	switch comparators[r.op] {
	case "string":
		a, ok1 := val.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		if r.op == "StringMatches" {
			return wildcardMatch(b, a), nil
		}
		return cmpResult(r.op, strings.Compare(a, b)), nil
	case "number":
		a, ok1 := toFloat(val)
		b, ok2 := toFloat(operand)
		if !ok1 || !ok2 || math.IsNaN(a) || math.IsNaN(b) {
			return false, nil
		}
		c := 0
		if a < b {
			c = -1
		} else if a > b {
			c = 1
		}
		return cmpResult(r.op, c), nil
	case "timestamp":
		as, ok1 := val.(string)
		bs, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		a, err1 := parseTimestamp(as)
		b, err2 := parseTimestamp(bs)
		if err1 != nil || err2 != nil {
			return false, nil
		}
		return cmpResult(r.op, a.Compare(b)), nil
	}
	return false, nil
}

func cmpResult(op string, c int) bool {
	switch {
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0
	case strings.HasSuffix(op, "LessThan"):
		return c < 0
	}
	return c == 0
}

// wildcardMatch implements StringMatches: '*' matches any run of characters; "\*" is a
// literal star and "\\" a literal backslash.
func wildcardMatch(pattern, s string) bool {
	type tok struct {
		star bool
		ch   rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) {
			i++
			toks = append(toks, tok{ch: rs[i]})
			continue
		}
		toks = append(toks, tok{star: rs[i] == '*', ch: rs[i]})
	}
	str := []rune(s)
	// Iterative glob matching with backtracking to the last star.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(toks) && !toks[pi].star && toks[pi].ch == str[si]:
			pi++
			si++
		case pi < len(toks) && toks[pi].star:
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(toks) && toks[pi].star {
		pi++
	}
	return pi == len(toks)
}
