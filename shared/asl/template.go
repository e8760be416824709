package asl

import (
	"fmt"
	"strings"
)

// A template is a JSON value some of whose parts are evaluated: in JSONPath states the
// values of keys ending in ".$" (a path or an intrinsic function), in JSONata states every
// string of the form "{% expr %}".

type tkind uint8

const (
	tLit tkind = iota
	tObj
	tArr
	tPath
	tCall
	tJSONata
)

type tfield struct {
	key string // output key (".$" stripped)
	raw string // key as written, for messages
	t   *tmpl
}

type tmpl struct {
	kind   tkind
	lit    any
	fields []tfield
	items  []*tmpl
	path   *jpath
	call   *intrinsicCall
	expr   *jexpr
	src    string
	field  string // field name for error messages ("value.$", "Output/result")
	static bool   // no evaluated part below: lit holds the whole value
}

// compileTemplate compiles v. field is the name of the enclosing field, for messages.
func compileTemplate(v any, jsonata bool, field string) (*tmpl, error) {
	switch t := v.(type) {
	case map[string]any:
		out := &tmpl{kind: tObj, static: true, field: field}
		for _, k := range sortedKeys(t) {
			x := t[k]
			key := k
			var sub *tmpl
			if !jsonata && strings.HasSuffix(k, ".$") {
				key = strings.TrimSuffix(k, ".$")
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("the value of %q must be a string holding a path or an intrinsic function", k)
				}
				var err error
				sub, err = compileExpr(s, k)
				if err != nil {
					return nil, err
				}
			} else {
				f := k
				if jsonata {
					f = field + "/" + k
				}
				var err error
				sub, err = compileTemplate(x, jsonata, f)
				if err != nil {
					return nil, err
				}
			}
			if !sub.static {
				out.static = false
			}
			out.fields = append(out.fields, tfield{key: key, raw: k, t: sub})
		}
		if out.static {
			return &tmpl{kind: tLit, lit: v, static: true}, nil
		}
		return out, nil
	case []any:
		out := &tmpl{kind: tArr, static: true, field: field}
		for _, x := range t {
			sub, err := compileTemplate(x, jsonata, field)
			if err != nil {
				return nil, err
			}
			if !sub.static {
				out.static = false
			}
			out.items = append(out.items, sub)
		}
		if out.static {
			return &tmpl{kind: tLit, lit: v, static: true}, nil
		}
		return out, nil
	case string:
		if jsonata && isJSONataTemplate(t) {
			e, err := compileJSONata(t)
			if err != nil {
				return nil, err
			}
			return &tmpl{kind: tJSONata, expr: e, src: t, field: field}, nil
		}
	}
	return &tmpl{kind: tLit, lit: v, static: true}, nil
}

// compileExpr compiles the value of a ".$" key.
func compileExpr(s, field string) (*tmpl, error) {
	if isIntrinsic(s) {
		c, err := compileIntrinsic(s)
		if err != nil {
			return nil, err
		}
		return &tmpl{kind: tCall, call: c, src: s, field: field}, nil
	}
	p, err := compilePath(s)
	if err != nil {
		return nil, err
	}
	return &tmpl{kind: tPath, path: p, src: s, field: field}, nil
}

// evalError is a failure while evaluating a template, already carrying AWS's error name.
type evalError struct {
	name  string
	cause string
}

func (e *evalError) Error() string { return e.name + ": " + e.cause }

func (t *tmpl) eval(data any, env *evalEnv) (any, error) {
	switch t.kind {
	case tLit:
		return t.lit, nil
	case tObj:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			v, err := f.t.eval(data, env)
			if err != nil {
				return nil, err
			}
			out[f.key] = v
		}
		return out, nil
	case tArr:
		out := make([]any, len(t.items))
		for i, x := range t.items {
			v, err := x.eval(data, env)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case tPath:
		v, err := t.path.get(data, env)
		if err != nil {
			return nil, &evalError{"States.Runtime", fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", t.src, t.field, "<json-input:1>")}
		}
		return v, nil
	case tCall:
		v, err := t.call.eval(data, env)
		if err != nil {
			if pe, ok := err.(*errPathNotFound); ok {
				return nil, &evalError{"States.Runtime", fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", pe.path.src, t.field, "<json-input:1>")}
			}
			return nil, &evalError{"States.IntrinsicFailure", fmt.Sprintf("The function '%s' specified for the field '%s' failed: %v", t.src, t.field, err)}
		}
		return v, nil
	case tJSONata:
		return evalJSONataField(t.expr, t.field, env)
	}
	return nil, fmt.Errorf("bad template")
}

// evalJSONataField evaluates one expression and turns failures into
// States.QueryEvaluationError with AWS's wording.
func evalJSONataField(e *jexpr, field string, env *evalEnv) (any, error) {
	v, err := e.eval(env.statesVar(), env)
	if err != nil {
		switch err.(type) {
		case errUndefined:
			return nil, &evalError{"States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' returned nothing (undefined).", e.src, field)}
		case errUnsupportedResult:
			return nil, &evalError{"States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' returned an unsupported result type.", e.src, field)}
		}
		return nil, &evalError{"States.QueryEvaluationError", fmt.Sprintf("An error occurred while evaluating the JSONata expression '%s' specified for the field '%s': %v", e.src, field, err)}
	}
	return v, nil
}
