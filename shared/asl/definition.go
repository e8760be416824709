package asl

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Query languages.
const (
	JSONPath = "JSONPath"
	JSONata  = "JSONata"
)

// ValidationError is one problem found in a definition, located like AWS's
// ValidateStateMachineDefinition does: the state's name and a JSON pointer.
type ValidationError struct {
	State   string // "" for top-level problems
	Pointer string // JSON pointer into the definition, e.g. /States/Build/Next
	Message string
}

func (e ValidationError) Error() string {
	if e.State != "" {
		return fmt.Sprintf("state %q at %s: %s", e.State, e.Pointer, e.Message)
	}
	return fmt.Sprintf("at %s: %s", e.Pointer, e.Message)
}

// ValidationErrors is the full list; Parse returns it as its error.
type ValidationErrors []ValidationError

func (v ValidationErrors) Error() string {
	parts := make([]string, len(v))
	for i, e := range v {
		parts[i] = e.Error()
	}
	return "invalid state machine definition: " + strings.Join(parts, "; ")
}

// Definition is a parsed and validated state machine.
type Definition struct {
	Comment        string
	TimeoutSeconds int
	root           *machine
	raw            []byte
}

type machine struct {
	startAt string
	states  map[string]*state
	ql      string
	mode    string // Map ProcessorConfig.Mode: INLINE or DISTRIBUTED
}

type numField struct {
	set  bool
	lit  float64
	path *jpath
	expr *tmpl // JSONata
	name string
}

type retrier struct {
	errors      []string
	interval    float64
	maxAttempts int
	backoff     float64
	maxDelay    float64
	jitterFull  bool
}

type catcher struct {
	errors     []string
	next       string
	resultPath *jpath
	discard    bool // ResultPath null
	assign     *tmpl
	output     *tmpl
}

type state struct {
	name, typ, ql string
	next          string
	end           bool

	inputPath     *jpath
	inputNull     bool
	outputPath    *jpath
	outputNull    bool
	resultPath    *jpath
	resultNull    bool
	parameters    *tmpl
	resultSel     *tmpl
	result        any
	hasResult     bool
	assign        *tmpl
	arguments     *tmpl
	output        *tmpl
	hasOutput     bool
	resource      string
	timeout       numField
	heartbeat     numField
	retry         []*retrier
	catch         []*catcher
	choices       []*choiceRule
	deflt         string
	seconds       numField
	timestamp     *tmpl // JSONata or literal
	timestampLit  string
	timestampPath *jpath
	errorF        *tmpl
	errorPath     *tmpl
	causeF        *tmpl
	causePath     *tmpl
	branches      []*machine
	processor     *machine
	itemsPath     *jpath
	items         *tmpl
	itemSelector  *tmpl
	maxConc       numField
	tolCount      numField
	tolPct        numField
	batchMax      numField
	hasBatcher    bool
	batchInput    *tmpl
}

// Parse parses and validates a definition. The error, when not nil, is ValidationErrors
// (or a JSON syntax error wrapped with its offset).
func Parse(def []byte) (*Definition, error) {
	var doc any
	doc, err := decodeJSON(def)
	if err != nil {
		return nil, fmt.Errorf("invalid state machine definition: malformed JSON: %v", err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, ValidationErrors{{Pointer: "", Message: "the definition must be a JSON object"}}
	}
	v := &validator{}
	d := &Definition{raw: def}
	v.fields(top, "", "", topFields)
	if c, ok := top["Comment"].(string); ok {
		d.Comment = c
	}
	if ts, ok := top["TimeoutSeconds"]; ok {
		f, ok := toFloat(ts)
		if !ok || f != math.Trunc(f) || f < 1 || f > 99999999 {
			v.add("", "/TimeoutSeconds", "TimeoutSeconds must be a positive integer")
		} else {
			d.TimeoutSeconds = int(f)
		}
	}
	ql := JSONPath
	if q, ok := top["QueryLanguage"]; ok {
		s, _ := q.(string)
		if s != JSONPath && s != JSONata {
			v.add("", "/QueryLanguage", fmt.Sprintf("QueryLanguage must be %q or %q", JSONPath, JSONata))
		} else {
			ql = s
		}
	}
	d.root = v.machine(top, "", ql)
	// The language requires state names to be unique in the whole state machine,
	// nested branches included (history events name states).
	seen := map[string]bool{}
	var walk func(m *machine, ptr string)
	walk = func(m *machine, ptr string) {
		for _, name := range sortedStateNames(m) {
			st := m.states[name]
			sp := ptr + "/States/" + ptrEsc(name)
			if seen[name] {
				v.add(name, sp, fmt.Sprintf("state name %q is used more than once in the state machine", name))
			}
			seen[name] = true
			for i, b := range st.branches {
				walk(b, fmt.Sprintf("%s/Branches/%d", sp, i))
			}
			if st.processor != nil {
				walk(st.processor, sp+"/ItemProcessor")
			}
		}
	}
	walk(d.root, "")
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return d, nil
}

type validator struct{ errs ValidationErrors }

func (v *validator) add(st, ptr, msg string) {
	v.errs = append(v.errs, ValidationError{State: st, Pointer: ptr, Message: msg})
}

// template compiles m's field, when present, as a payload template; a compile error is
// reported at at/field of state st. It is nil when the field is absent.
func (v *validator) template(m map[string]any, field string, jsonata bool, st, at string) *tmpl {
	raw, ok := m[field]
	if !ok {
		return nil
	}
	t, err := compileTemplate(raw, jsonata, field)
	if err != nil {
		v.add(st, at+"/"+field, err.Error())
	}
	return t
}

func ptrEsc(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

var topFields = set("Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage")
var machineFields = set("Comment", "StartAt", "States", "ProcessorConfig", "QueryLanguage")

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func (v *validator) fields(m map[string]any, st, ptr string, allowed map[string]bool) {
	for _, k := range sortedKeys(m) {
		if !allowed[k] {
			v.add(st, ptr+"/"+ptrEsc(k), fmt.Sprintf("unknown field %q", k))
		}
	}
}

func (v *validator) machine(m map[string]any, ptr, ql string) *machine {
	mc := &machine{states: map[string]*state{}, ql: ql}
	start, ok := m["StartAt"].(string)
	if !ok || start == "" {
		v.add("", ptr+"/StartAt", "StartAt is missing or not a string")
	}
	mc.startAt = start
	states, ok := m["States"].(map[string]any)
	if !ok || len(states) == 0 {
		v.add("", ptr+"/States", "States is missing or empty")
		return mc
	}
	for _, name := range sortedKeys(states) {
		sp := ptr + "/States/" + ptrEsc(name)
		raw, ok := states[name].(map[string]any)
		if !ok {
			v.add(name, sp, "a state must be a JSON object")
			continue
		}
		if len(name) > 80 {
			v.add(name, sp, "state names must be at most 80 characters")
		}
		mc.states[name] = v.state(name, raw, sp, ql)
	}
	if _, ok := mc.states[start]; start != "" && !ok {
		v.add("", ptr+"/StartAt", fmt.Sprintf("StartAt %q is not a state", start))
	}
	// Transitions must land on states of this machine; every state must be reachable.
	for _, name := range sortedKeys(states) {
		s := mc.states[name]
		if s == nil {
			continue
		}
		sp := ptr + "/States/" + ptrEsc(name)
		for _, t := range s.targets() {
			if _, ok := mc.states[t.to]; !ok {
				v.add(name, sp+t.ptr, fmt.Sprintf("transition to %q: no such state", t.to))
			}
		}
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		s := mc.states[n]
		if s == nil || seen[n] {
			return
		}
		seen[n] = true
		for _, t := range s.targets() {
			walk(t.to)
		}
	}
	walk(start)
	if start != "" && mc.states[start] != nil {
		for _, name := range sortedKeys(states) {
			if mc.states[name] != nil && !seen[name] {
				v.add(name, ptr+"/States/"+ptrEsc(name), "state is unreachable from StartAt")
			}
		}
	}
	return mc
}

type target struct{ to, ptr string }

func (s *state) targets() []target {
	var out []target
	if s.next != "" {
		out = append(out, target{s.next, "/Next"})
	}
	for i, c := range s.choices {
		out = append(out, target{c.next, fmt.Sprintf("/Choices/%d/Next", i)})
	}
	if s.deflt != "" {
		out = append(out, target{s.deflt, "/Default"})
	}
	for i, c := range s.catch {
		out = append(out, target{c.next, fmt.Sprintf("/Catch/%d/Next", i)})
	}
	return out
}

var stateFields = map[string]map[string][]string{
	// type -> ql -> fields (besides Type, Comment, QueryLanguage)
	"Pass": {
		JSONPath: {"Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "Assign"},
		JSONata:  {"Next", "End", "Output", "Assign"},
	},
	"Task": {
		JSONPath: {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Resource", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign"},
		JSONata:  {"Next", "End", "Arguments", "Output", "Resource", "Retry", "Catch", "TimeoutSeconds", "HeartbeatSeconds", "Credentials", "Assign"},
	},
	"Choice": {
		JSONPath: {"Choices", "Default", "InputPath", "OutputPath", "Assign"},
		JSONata:  {"Choices", "Default", "Output", "Assign"},
	},
	"Wait": {
		JSONPath: {"Next", "End", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "InputPath", "OutputPath", "Assign"},
		JSONata:  {"Next", "End", "Seconds", "Timestamp", "Output", "Assign"},
	},
	"Succeed": {
		JSONPath: {"InputPath", "OutputPath"},
		JSONata:  {"Output"},
	},
	"Fail": {
		JSONPath: {"Error", "ErrorPath", "Cause", "CausePath"},
		JSONata:  {"Error", "Cause"},
	},
	"Parallel": {
		JSONPath: {"Next", "End", "Branches", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Assign"},
		JSONata:  {"Next", "End", "Branches", "Arguments", "Output", "Retry", "Catch", "Assign"},
	},
	"Map": {
		JSONPath: {"Next", "End", "ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ItemReader", "ItemBatcher", "ResultWriter", "Label", "InputPath", "OutputPath", "ResultSelector", "ResultPath", "Retry", "Catch", "Assign"},
		JSONata:  {"Next", "End", "ItemProcessor", "Items", "ItemSelector", "MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage", "ItemReader", "ItemBatcher", "ResultWriter", "Label", "Arguments", "Output", "Retry", "Catch", "Assign"},
	},
}

func (v *validator) state(name string, m map[string]any, sp, parentQL string) *state {
	s := &state{name: name, ql: parentQL}
	typ, _ := m["Type"].(string)
	s.typ = typ
	byQL, ok := stateFields[typ]
	if !ok {
		v.add(name, sp+"/Type", fmt.Sprintf("unknown or missing state Type %q", typ))
		return s
	}
	if q, ok := m["QueryLanguage"]; ok {
		qs, _ := q.(string)
		switch {
		case qs != JSONPath && qs != JSONata:
			v.add(name, sp+"/QueryLanguage", fmt.Sprintf("QueryLanguage must be %q or %q", JSONPath, JSONata))
		case parentQL == JSONata && qs == JSONPath:
			v.add(name, sp+"/QueryLanguage", "a state cannot use JSONPath when the state machine uses JSONata")
		default:
			s.ql = qs
		}
	}
	allowed := set(append([]string{"Type", "Comment", "QueryLanguage"}, byQL[s.ql]...)...)
	for _, k := range sortedKeys(m) {
		if !allowed[k] {
			other := JSONata
			if s.ql == JSONata {
				other = JSONPath
			}
			msg := fmt.Sprintf("unknown field %q for a %s state", k, typ)
			for _, f := range byQL[other] {
				if f == k {
					msg = fmt.Sprintf("field %q is not allowed in a %s state that uses %s", k, typ, s.ql)
				}
			}
			v.add(name, sp+"/"+ptrEsc(k), msg)
		}
	}
	jsonata := s.ql == JSONata

	// Next / End.
	terminal := typ == "Succeed" || typ == "Fail" || typ == "Choice"
	if !terminal {
		next, hasNext := m["Next"]
		end, hasEnd := m["End"]
		if hasNext {
			ns, ok := next.(string)
			if !ok || ns == "" {
				v.add(name, sp+"/Next", "Next must be a state name")
			}
			s.next = ns
		}
		if hasEnd {
			b, ok := end.(bool)
			if !ok {
				v.add(name, sp+"/End", "End must be a boolean")
			}
			s.end = b
		}
		switch {
		case hasNext && s.end:
			v.add(name, sp, "a state cannot have both Next and End")
		case !hasNext && !s.end:
			v.add(name, sp, "a state must have either Next or End: true")
		}
	}

	pathField := func(f string, ref bool) (*jpath, bool, bool) { // path, isNull, present
		raw, ok := m[f]
		if !ok {
			return nil, false, false
		}
		if raw == nil {
			return nil, true, true
		}
		str, ok := raw.(string)
		if !ok {
			v.add(name, sp+"/"+f, f+" must be a string or null")
			return nil, false, true
		}
		var p *jpath
		var err error
		if ref {
			p, err = compileRefPath(str)
		} else {
			p, err = compilePath(str)
		}
		if err != nil {
			v.add(name, sp+"/"+f, err.Error())
			return nil, false, true
		}
		return p, false, true
	}
	tmplField := func(f string, jsonataOnly bool) *tmpl {
		raw, ok := m[f]
		if !ok {
			return nil
		}
		if f != "Output" && f != "Arguments" && f != "Assign" && f != "Result" && f != "Items" {
			if _, isObj := raw.(map[string]any); !isObj && !jsonata {
				v.add(name, sp+"/"+f, f+" must be a JSON object")
				return nil
			}
		}
		t, err := compileTemplate(raw, jsonata, f)
		if err != nil {
			v.add(name, sp+"/"+f, err.Error())
			return nil
		}
		return t
	}
	if !jsonata {
		s.inputPath, s.inputNull, _ = pathField("InputPath", false)
		s.outputPath, s.outputNull, _ = pathField("OutputPath", false)
		s.resultPath, s.resultNull, _ = pathField("ResultPath", true)
		s.parameters = tmplField("Parameters", false)
		s.resultSel = tmplField("ResultSelector", false)
	} else {
		s.arguments = tmplField("Arguments", true)
		if _, ok := m["Output"]; ok {
			s.hasOutput = true
			s.output = tmplField("Output", true)
		}
		if a, ok := m["Arguments"]; ok && typ == "Task" {
			if _, isObj := a.(map[string]any); !isObj {
				if str, isStr := a.(string); !isStr || !isJSONataTemplate(str) {
					v.add(name, sp+"/Arguments", "Arguments must be an object or a JSONata expression")
				}
			}
		}
	}
	if r, ok := m["Result"]; ok {
		s.result, s.hasResult = r, true
	}
	if a, ok := m["Assign"]; ok {
		am, isObj := a.(map[string]any)
		if !isObj {
			v.add(name, sp+"/Assign", "Assign must be a JSON object")
		} else {
			for k := range am {
				vn := strings.TrimSuffix(k, ".$")
				if !validVarName(vn) || vn == "states" {
					v.add(name, sp+"/Assign/"+ptrEsc(k), fmt.Sprintf("invalid variable name %q", vn))
				}
			}
			s.assign = tmplField("Assign", false)
		}
	}

	switch typ {
	case "Task":
		r, _ := m["Resource"].(string)
		if r == "" {
			v.add(name, sp+"/Resource", "Resource is required and must be a string")
		} else if !strings.HasPrefix(r, "arn:") {
			v.add(name, sp+"/Resource", fmt.Sprintf("Resource %q is not an ARN", r))
		} else if !supportedResource(r) {
			v.add(name, sp+"/Resource", fmt.Sprintf("not supported: Task resource %q (shipgate runs Lambda functions: a function ARN, %s or %s)", r, ResourceLambdaInvoke, ResourceLambdaInvokeWait))
		}
		s.resource = r
		s.timeout = v.num(m, name, sp, "TimeoutSeconds", jsonata, 1)
		s.heartbeat = v.num(m, name, sp, "HeartbeatSeconds", jsonata, 1)
		if s.timeout.set && s.heartbeat.set && s.timeout.path == nil && s.heartbeat.path == nil &&
			s.timeout.expr == nil && s.heartbeat.expr == nil && s.heartbeat.lit >= s.timeout.lit {
			v.add(name, sp+"/HeartbeatSeconds", "HeartbeatSeconds must be smaller than TimeoutSeconds")
		}
	case "Choice":
		v.choiceState(s, m, sp, jsonata)
	case "Wait":
		v.waitState(s, m, sp, jsonata)
	case "Fail":
		v.failState(s, m, sp, jsonata)
	case "Parallel":
		bs, ok := m["Branches"].([]any)
		if !ok || len(bs) == 0 {
			v.add(name, sp+"/Branches", "Branches must be a non-empty array")
		}
		for i, b := range bs {
			bm, ok := b.(map[string]any)
			bp := fmt.Sprintf("%s/Branches/%d", sp, i)
			if !ok {
				v.add(name, bp, "a branch must be a JSON object")
				continue
			}
			v.fields(bm, name, bp, machineFields)
			s.branches = append(s.branches, v.machine(bm, bp, v.subQL(bm, s.ql, name, bp)))
		}
	case "Map":
		v.mapState(s, m, sp, jsonata)
	}
	if typ == "Task" || typ == "Parallel" || typ == "Map" {
		v.retryCatch(s, m, sp, jsonata)
	}
	return s
}

func (v *validator) subQL(m map[string]any, parent, st, ptr string) string {
	if q, ok := m["QueryLanguage"].(string); ok {
		if q != JSONPath && q != JSONata {
			v.add(st, ptr+"/QueryLanguage", fmt.Sprintf("QueryLanguage must be %q or %q", JSONPath, JSONata))
			return parent
		}
		return q
	}
	return parent
}

// num reads an integer field that may come as a literal, a <Name>Path (JSONPath) or a
// JSONata expression string.
func (v *validator) num(m map[string]any, st, sp, f string, jsonata bool, minVal float64) numField {
	nf := numField{name: f}
	raw, has := m[f]
	praw, hasPath := m[f+"Path"]
	if has && hasPath {
		v.add(st, sp+"/"+f, fmt.Sprintf("%s and %sPath are mutually exclusive", f, f))
	}
	if has {
		nf.set = true
		if str, ok := raw.(string); ok && jsonata && isJSONataTemplate(str) {
			t, err := compileTemplate(str, true, f)
			if err != nil {
				v.add(st, sp+"/"+f, err.Error())
			}
			nf.expr = t
			return nf
		}
		x, ok := toFloat(raw)
		if !ok || (x != math.Trunc(x) && f != "ToleratedFailurePercentage") || x < minVal {
			v.add(st, sp+"/"+f, fmt.Sprintf("%s must be an integer of at least %v", f, minVal))
		}
		nf.lit = x
	}
	if hasPath {
		nf.set = true
		str, ok := praw.(string)
		if !ok {
			v.add(st, sp+"/"+f+"Path", f+"Path must be a path string")
			return nf
		}
		p, err := compilePath(str)
		if err != nil {
			v.add(st, sp+"/"+f+"Path", err.Error())
		}
		nf.path = p
	}
	return nf
}

func (v *validator) errorNames(raw any, st, ptr string) []string {
	arr, ok := raw.([]any)
	if !ok || len(arr) == 0 {
		v.add(st, ptr, "ErrorEquals must be a non-empty array of error names")
		return nil
	}
	var out []string
	for i, e := range arr {
		s, ok := e.(string)
		if !ok || s == "" {
			v.add(st, fmt.Sprintf("%s/%d", ptr, i), "error names must be non-empty strings")
			continue
		}
		if s == "States.ALL" && len(arr) > 1 {
			v.add(st, fmt.Sprintf("%s/%d", ptr, i), "States.ALL must appear alone in ErrorEquals")
		}
		out = append(out, s)
	}
	return out
}

func (v *validator) retryCatch(s *state, m map[string]any, sp string, jsonata bool) {
	if raw, ok := m["Retry"]; ok {
		arr, ok := raw.([]any)
		if !ok {
			v.add(s.name, sp+"/Retry", "Retry must be an array")
		}
		for i, r := range arr {
			rp := fmt.Sprintf("%s/Retry/%d", sp, i)
			rm, ok := r.(map[string]any)
			if !ok {
				v.add(s.name, rp, "a retrier must be a JSON object")
				continue
			}
			v.fields(rm, s.name, rp, set("ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"))
			rt := &retrier{interval: 1, maxAttempts: 3, backoff: 2}
			rt.errors = v.errorNames(rm["ErrorEquals"], s.name, rp+"/ErrorEquals")
			if contains(rt.errors, "States.ALL") && i != len(arr)-1 {
				v.add(s.name, rp+"/ErrorEquals", "a retrier with States.ALL must be the last one")
			}
			if x, ok := rm["IntervalSeconds"]; ok {
				f, ok := toFloat(x)
				if !ok || f < 1 || f != math.Trunc(f) {
					v.add(s.name, rp+"/IntervalSeconds", "IntervalSeconds must be a positive integer")
				}
				rt.interval = f
			}
			if x, ok := rm["MaxAttempts"]; ok {
				f, ok := toFloat(x)
				if !ok || f < 0 || f != math.Trunc(f) || f > 99999999 {
					v.add(s.name, rp+"/MaxAttempts", "MaxAttempts must be a non-negative integer")
				}
				rt.maxAttempts = int(f)
			}
			if x, ok := rm["BackoffRate"]; ok {
				f, ok := toFloat(x)
				if !ok || f < 1 {
					v.add(s.name, rp+"/BackoffRate", "BackoffRate must be a number of at least 1.0")
				}
				rt.backoff = f
			}
			if x, ok := rm["MaxDelaySeconds"]; ok {
				f, ok := toFloat(x)
				if !ok || f < 1 || f != math.Trunc(f) {
					v.add(s.name, rp+"/MaxDelaySeconds", "MaxDelaySeconds must be a positive integer")
				}
				rt.maxDelay = f
			}
			if x, ok := rm["JitterStrategy"]; ok {
				switch x {
				case "FULL":
					rt.jitterFull = true
				case "NONE":
				default:
					v.add(s.name, rp+"/JitterStrategy", "JitterStrategy must be FULL or NONE")
				}
			}
			s.retry = append(s.retry, rt)
		}
	}
	if raw, ok := m["Catch"]; ok {
		arr, ok := raw.([]any)
		if !ok {
			v.add(s.name, sp+"/Catch", "Catch must be an array")
		}
		for i, r := range arr {
			cp := fmt.Sprintf("%s/Catch/%d", sp, i)
			cm, ok := r.(map[string]any)
			if !ok {
				v.add(s.name, cp, "a catcher must be a JSON object")
				continue
			}
			allowed := set("ErrorEquals", "Next", "ResultPath", "Assign", "Comment")
			if jsonata {
				allowed = set("ErrorEquals", "Next", "Output", "Assign", "Comment")
			}
			v.fields(cm, s.name, cp, allowed)
			c := &catcher{}
			c.errors = v.errorNames(cm["ErrorEquals"], s.name, cp+"/ErrorEquals")
			if contains(c.errors, "States.ALL") && i != len(arr)-1 {
				v.add(s.name, cp+"/ErrorEquals", "a catcher with States.ALL must be the last one")
			}
			c.next, _ = cm["Next"].(string)
			if c.next == "" {
				v.add(s.name, cp+"/Next", "Next is required in a catcher")
			}
			if rp, ok := cm["ResultPath"]; ok {
				if rp == nil {
					c.discard = true
				} else if str, ok := rp.(string); ok {
					p, err := compileRefPath(str)
					if err != nil {
						v.add(s.name, cp+"/ResultPath", err.Error())
					}
					c.resultPath = p
				} else {
					v.add(s.name, cp+"/ResultPath", "ResultPath must be a string or null")
				}
			}
			c.assign = v.template(cm, "Assign", jsonata, s.name, cp)
			c.output = v.template(cm, "Output", true, s.name, cp)
			s.catch = append(s.catch, c)
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func (v *validator) waitState(s *state, m map[string]any, sp string, jsonata bool) {
	n := 0
	for _, f := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
		if _, ok := m[f]; ok {
			n++
		}
	}
	if n != 1 {
		v.add(s.name, sp, "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath")
	}
	s.seconds = v.num(m, s.name, sp, "Seconds", jsonata, 0)
	if raw, ok := m["Timestamp"]; ok {
		str, isStr := raw.(string)
		switch {
		case !isStr:
			v.add(s.name, sp+"/Timestamp", "Timestamp must be a string")
		case jsonata && isJSONataTemplate(str):
			t, err := compileTemplate(str, true, "Timestamp")
			if err != nil {
				v.add(s.name, sp+"/Timestamp", err.Error())
			}
			s.timestamp = t
		default:
			if _, err := parseTimestamp(str); err != nil {
				v.add(s.name, sp+"/Timestamp", fmt.Sprintf("Timestamp %q is not an ISO-8601 date-time", str))
			}
			s.timestampLit = str
		}
	}
	if raw, ok := m["TimestampPath"]; ok {
		str, _ := raw.(string)
		p, err := compilePath(str)
		if err != nil {
			v.add(s.name, sp+"/TimestampPath", err.Error())
		}
		s.timestampPath = p
	}
}

func (v *validator) failState(s *state, m map[string]any, sp string, jsonata bool) {
	for _, f := range []string{"Error", "Cause"} {
		raw, has := m[f]
		praw, hasPath := m[f+"Path"]
		if has && hasPath {
			v.add(s.name, sp+"/"+f, fmt.Sprintf("%s and %sPath are mutually exclusive", f, f))
		}
		var t, pt *tmpl
		if has {
			if _, ok := raw.(string); !ok {
				v.add(s.name, sp+"/"+f, f+" must be a string")
			}
			var err error
			t, err = compileTemplate(raw, jsonata, f)
			if err != nil {
				v.add(s.name, sp+"/"+f, err.Error())
			}
		}
		if hasPath {
			str, ok := praw.(string)
			if !ok {
				v.add(s.name, sp+"/"+f+"Path", f+"Path must be a string")
			} else {
				var err error
				if isIntrinsic(str) {
					pt, err = compileExpr(str, f+"Path")
				} else {
					var p *jpath
					p, err = compilePath(str)
					pt = &tmpl{kind: tPath, path: p, src: str, field: f + "Path"}
				}
				if err != nil {
					v.add(s.name, sp+"/"+f+"Path", err.Error())
				}
			}
		}
		if f == "Error" {
			s.errorF, s.errorPath = t, pt
		} else {
			s.causeF, s.causePath = t, pt
		}
	}
}

func (v *validator) mapState(s *state, m map[string]any, sp string, jsonata bool) {
	proc, hasProc := m["ItemProcessor"].(map[string]any)
	iter, hasIter := m["Iterator"].(map[string]any)
	switch {
	case hasProc && hasIter:
		v.add(s.name, sp+"/Iterator", "ItemProcessor and Iterator are mutually exclusive")
	case !hasProc && !hasIter:
		v.add(s.name, sp+"/ItemProcessor", "a Map state needs an ItemProcessor")
	}
	if hasProc {
		pp := sp + "/ItemProcessor"
		v.fields(proc, s.name, pp, machineFields)
		mode := "INLINE"
		if pc, ok := proc["ProcessorConfig"].(map[string]any); ok {
			v.fields(pc, s.name, pp+"/ProcessorConfig", set("Mode", "ExecutionType"))
			if md, ok := pc["Mode"].(string); ok {
				if md != "INLINE" && md != "DISTRIBUTED" {
					v.add(s.name, pp+"/ProcessorConfig/Mode", "Mode must be INLINE or DISTRIBUTED")
				}
				mode = md
			}
		}
		s.processor = v.machine(proc, pp, v.subQL(proc, s.ql, s.name, pp))
		s.processor.mode = mode
	}
	if hasIter {
		s.processor = v.machine(iter, sp+"/Iterator", v.subQL(iter, s.ql, s.name, sp+"/Iterator"))
		s.processor.mode = "INLINE"
	}
	if _, ok := m["ItemReader"]; ok {
		v.add(s.name, sp+"/ItemReader", "not supported: ItemReader (a Distributed Map reading items from S3); pass the items in the state input")
	}
	if _, ok := m["ResultWriter"]; ok {
		v.add(s.name, sp+"/ResultWriter", "not supported: ResultWriter (writing Map results to S3)")
	}
	if ib, ok := m["ItemBatcher"].(map[string]any); ok {
		s.hasBatcher = true
		v.fields(ib, s.name, sp+"/ItemBatcher", set("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath", "BatchInput"))
		s.batchMax = v.num(ib, s.name, sp+"/ItemBatcher", "MaxItemsPerBatch", jsonata, 1)
		s.batchInput = v.template(ib, "BatchInput", jsonata, s.name, sp+"/ItemBatcher")
	}
	if !jsonata {
		if raw, ok := m["ItemsPath"]; ok {
			str, _ := raw.(string)
			p, err := compilePath(str)
			if err != nil {
				v.add(s.name, sp+"/ItemsPath", err.Error())
			}
			s.itemsPath = p
		}
		_, hasSel := m["ItemSelector"]
		_, hasParams := m["Parameters"]
		if hasSel && hasParams {
			v.add(s.name, sp+"/Parameters", "ItemSelector and Parameters are mutually exclusive")
		}
		if hasParams {
			s.itemSelector, s.parameters = s.parameters, nil
		}
	} else {
		s.items = v.template(m, "Items", true, s.name, sp)
	}
	if _, ok := m["ItemSelector"]; ok {
		s.itemSelector = v.template(m, "ItemSelector", jsonata, s.name, sp)
	}
	s.maxConc = v.num(m, s.name, sp, "MaxConcurrency", jsonata, 0)
	s.tolCount = v.num(m, s.name, sp, "ToleratedFailureCount", jsonata, 0)
	s.tolPct = v.num(m, s.name, sp, "ToleratedFailurePercentage", jsonata, 0)
	if s.tolPct.set && s.tolPct.expr == nil && s.tolPct.path == nil && s.tolPct.lit > 100 {
		v.add(s.name, sp+"/ToleratedFailurePercentage", "ToleratedFailurePercentage must be between 0 and 100")
	}
}

// MarshalJSON returns the definition as it was given.
func (d *Definition) MarshalJSON() ([]byte, error) { return json.RawMessage(d.raw), nil }

// StateNames lists the top-level states, sorted (for callers that render progress).
func (d *Definition) StateNames() []string {
	out := make([]string, 0, len(d.root.states))
	for n := range d.root.states {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func sortedStateNames(m *machine) []string {
	out := make([]string, 0, len(m.states))
	for n := range m.states {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
