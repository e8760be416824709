package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// JSON values inside the engine are the shapes encoding/json produces (map[string]any,
// []any, string, float64, bool, nil). They are treated as immutable once built: every
// transformation copies the containers it changes, so history events and checkpoints can
// share values without copying them.

// decodeJSON parses one JSON document; trailing data is an error.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// encodeJSON renders v compactly without HTML escaping, as AWS renders payloads.
func encodeJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(normalize(v)); err != nil {
		return "null"
	}
	b := buf.Bytes()
	return string(b[:len(b)-1])
}

// normalize converts numbers that are integral into a form json encodes without exponent,
// and Go ints into float64 so comparisons see one number type.
func normalize(v any) any {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e21 {
			return json.Number(strconv.FormatFloat(t, 'f', -1, 64))
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}

// toFloat reads a JSON number in any of the representations that can reach the engine.
func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

// canon converts values produced outside encoding/json (ints, json.Number, typed slices
// from the JSONata library) into the engine's canonical shapes.
func canon(v any) any {
	switch t := v.(type) {
	case nil, string, bool, float64:
		return v
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case json.Number:
		f, _ := t.Float64()
		return f
	case *interface{}:
		if t == nil {
			return nil
		}
		return canon(*t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = canon(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = canon(x)
		}
		return out
	}
	// Anything else (typed maps/slices): round-trip through JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// jsonType names a value's JSON type the way AWS messages do.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	if _, ok := toFloat(v); ok {
		return "number"
	}
	return "unknown"
}

// deepEqual compares JSON values, numbers by value.
func deepEqual(a, b any) bool {
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !deepEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sizeOver reports whether v's JSON encoding is longer than limit bytes. It estimates
// from the value (strings count their bytes plus quotes, numbers up to 24 characters)
// and stops as soon as the budget is spent, so checking every state's output is cheap.
func sizeOver(v any, limit int) bool {
	left := limit
	var walk func(v any) bool
	walk = func(v any) bool {
		switch t := v.(type) {
		case string:
			left -= len(t) + 2
		case map[string]any:
			left -= 2
			for k, x := range t {
				left -= len(k) + 4
				if left < 0 || walk(x) {
					return true
				}
			}
		case []any:
			left -= 2
			for _, x := range t {
				left--
				if left < 0 || walk(x) {
					return true
				}
			}
		case nil, bool:
			left -= 5
		default:
			left -= 8
		}
		return left < 0
	}
	return walk(v)
}
