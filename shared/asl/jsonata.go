package asl

import (
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"reflect"
	"strings"

	jsonata "github.com/xiatechs/jsonata-go"
)

// JSONata support wraps github.com/xiatechs/jsonata-go. Expressions are compiled at
// validation so syntax errors and unsupported constructs are reported before a run; at
// run time each evaluation compiles afresh because the library binds variables by
// mutating the compiled expression, which must not be shared between executions.

type jexpr struct {
	src string // the expression between {% and %}
}

// isJSONataTemplate says whether a string value is a "{% ... %}" expression.
func isJSONataTemplate(s string) bool {
	t := strings.TrimSpace(s)
	return strings.HasPrefix(t, "{%") && strings.HasSuffix(t, "%}") && len(t) >= 4
}

func compileJSONata(s string) (*jexpr, error) {
	t := strings.TrimSpace(s)
	src := strings.TrimSpace(t[2 : len(t)-2])
	if src == "" {
		return nil, fmt.Errorf("the JSONata expression %q is empty", s)
	}
	if _, err := jsonata.Compile(src); err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "'@'"):
			return nil, fmt.Errorf("not supported: the JSONata context-binding operator '@' in %q", src)
		case strings.Contains(msg, "'%' cannot be used as a prefix"):
			return nil, fmt.Errorf("not supported: the JSONata parent operator '%%' in %q", src)
		}
		return nil, fmt.Errorf("the JSONata expression %q is invalid: %v", src, err)
	}
	if err := unsupportedJSONata(src); err != nil {
		return nil, err
	}
	return &jexpr{src: src}, nil
}

// missingFuncs are JSONata built-ins the library does not implement; calling them would
// fail at run time, so they are refused at validation.
var missingFuncs = []string{"$assert", "$formatInteger", "$parseInteger"}

// unsupportedJSONata finds constructs the library parses but evaluates wrongly or not at
// all. It looks only outside string literals and comments.
func unsupportedJSONata(src string) error {
	var code strings.Builder
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case ch == '"' || ch == '\'':
			q := ch
			code.WriteByte(' ')
			for i++; i < len(src) && src[i] != q; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case ch == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				i = len(src)
			} else {
				i += end + 3
			}
			code.WriteByte(' ')
		default:
			code.WriteByte(ch)
		}
	}
	c := code.String()
	if strings.Contains(c, "#") {
		return fmt.Errorf("not supported: the JSONata positional-binding operator '#' in %q", src)
	}
	for _, f := range missingFuncs {
		if i := strings.Index(c, f); i >= 0 {
			rest := strings.TrimLeft(c[i+len(f):], " \t\n")
			if strings.HasPrefix(rest, "(") {
				return fmt.Errorf("not supported: the JSONata function %s in %q", f, src)
			}
		}
	}
	return nil
}

type errUndefined struct{}

func (errUndefined) Error() string { return "undefined" }

type errUnsupportedResult struct{}

func (errUnsupportedResult) Error() string { return "unsupported result type" }

// eval runs the expression with $states and the workflow variables bound.
func (j *jexpr) eval(states map[string]any, env *evalEnv) (any, error) {
	e, err := jsonata.Compile(j.src)
	if err != nil {
		return nil, err
	}
	vars := map[string]any{"states": toJSONata(states)}
	if env != nil {
		env.eachVar(func(k string, v any) {
			if _, ok := vars[k]; !ok {
				vars[k] = toJSONata(v)
			}
		})
	}
	if err := e.RegisterVars(vars); err != nil {
		return nil, err
	}
	if err := e.RegisterExts(sfnJSONataFuncs); err != nil {
		return nil, err
	}
	v, err := e.Eval(toJSONata(states["input"]))
	if err != nil {
		if errors.Is(err, jsonata.ErrUndefined) {
			return nil, errUndefined{}
		}
		return nil, err
	}
	if !isJSONValue(v) {
		return nil, errUnsupportedResult{}
	}
	return canon(v), nil
}

// jsonataNull is how the library represents JSON null; a plain nil inside a map reads as
// "undefined" there, which would turn {"items": null} into a missing field.
var jsonataNull *interface{}

func toJSONata(v any) any {
	switch t := v.(type) {
	case nil:
		return jsonataNull
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = toJSONata(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = toJSONata(x)
		}
		return out
	}
	return v
}

func isJSONValue(v any) bool {
	if v == nil {
		return true
	}
	switch v.(type) {
	case string, bool, float64, int, int64, map[string]any, []any:
		return true
	}
	k := reflect.TypeOf(v).Kind()
	return k == reflect.Map || k == reflect.Slice
}

// Step Functions' own JSONata functions.
var sfnJSONataFuncs = map[string]jsonata.Extension{
	"partition": {Func: func(arr []any, size float64) ([]any, error) {
		if size <= 0 || size != math.Trunc(size) {
			return nil, fmt.Errorf("$partition: the chunk size must be a positive integer")
		}
		n := int(size)
		out := []any{}
		for i := 0; i < len(arr); i += n {
			end := min(i+n, len(arr))
			chunk := make([]any, end-i)
			copy(chunk, arr[i:end])
			out = append(out, chunk)
		}
		return out, nil
	}},
	"range": {Func: func(start, end float64, steps ...float64) ([]any, error) {
		step := 1.0
		if len(steps) > 0 {
			step = steps[0]
		}
		if step == 0 || start != math.Trunc(start) || end != math.Trunc(end) || step != math.Trunc(step) {
			return nil, fmt.Errorf("$range: start, end and step must be integers and step not 0")
		}
		out := []any{}
		for x := start; (step > 0 && x <= end) || (step < 0 && x >= end); x += step {
			out = append(out, x)
			if len(out) > 1000 {
				return nil, fmt.Errorf("$range: the result has more than 1000 items")
			}
		}
		return out, nil
	}},
	"hash": {Func: func(data string, algos ...string) (string, error) {
		algo := "SHA-256"
		if len(algos) > 0 {
			algo = algos[0]
		}
		sum, ok := hashHex(algo, data)
		if !ok {
			return "", fmt.Errorf("$hash: unsupported algorithm %q", algo)
		}
		return sum, nil
	}},
	"random": {Func: func(seed ...float64) float64 {
		if len(seed) > 0 {
			return mrand.New(mrand.NewPCG(uint64(seed[0]), 0)).Float64()
		}
		return mrand.Float64()
	}},
	"uuid": {Func: func() string { return newUUID() }},
	"parse": {Func: func(s string) (any, error) {
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("$parse: not valid JSON: %v", err)
		}
		return v, nil
	}},
}
