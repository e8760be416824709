package asl

import (
	"time"
)

// scope holds workflow variables. A Parallel branch or Map iteration gets a child scope:
// it reads its parents' variables, and what it assigns stays inside it, as in AWS.
type scope struct {
	parent *scope
	vars   map[string]any
}

func (s *scope) lookup(name string) (any, bool) {
	for c := s; c != nil; c = c.parent {
		if v, ok := c.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (s *scope) assign(vals map[string]any) {
	if len(vals) == 0 {
		return
	}
	if s.vars == nil {
		s.vars = make(map[string]any, len(vals))
	}
	for k, v := range vals {
		s.vars[k] = v
	}
}

// flatten returns all visible variables (inner scopes win), for checkpoints.
func (s *scope) flatten() map[string]any {
	out := map[string]any{}
	var chain []*scope
	for c := s; c != nil; c = c.parent {
		chain = append(chain, c)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for k, v := range chain[i].vars {
			out[k] = v
		}
	}
	return out
}

// execInfo is the execution-wide part of the context object.
type execInfo struct {
	ID, Name, SMID, SMName, RoleArn string
	Input                           any
	Start                           time.Time
}

// evalEnv is what an expression can see besides its input: the context object ($$),
// the variables ($name) and, in JSONata, $states.
type evalEnv struct {
	x         *execInfo
	state     string
	entered   time.Time
	retry     int
	token     string
	mapIndex  int
	mapValue  any
	inMap     bool
	scope     *scope
	input     any
	result    any
	hasResult bool
	errOut    any
	hasErr    bool
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (e *evalEnv) context() any {
	if e == nil || e.x == nil {
		return map[string]any{}
	}
	c := map[string]any{
		"Execution": map[string]any{
			"Id":           e.x.ID,
			"Input":        e.x.Input,
			"Name":         e.x.Name,
			"RoleArn":      e.x.RoleArn,
			"StartTime":    isoTime(e.x.Start),
			"RedriveCount": float64(0),
		},
		"StateMachine": map[string]any{"Id": e.x.SMID, "Name": e.x.SMName},
		"State": map[string]any{
			"EnteredTime": isoTime(e.entered),
			"Name":        e.state,
			"RetryCount":  float64(e.retry),
		},
	}
	if e.token != "" {
		c["Task"] = map[string]any{"Token": e.token}
	}
	if e.inMap {
		c["Map"] = map[string]any{"Item": map[string]any{"Index": float64(e.mapIndex), "Value": e.mapValue}}
	}
	return c
}

func (e *evalEnv) lookupVar(name string) (any, bool) {
	if e == nil || e.scope == nil {
		return nil, false
	}
	return e.scope.lookup(name)
}

func (e *evalEnv) eachVar(f func(k string, v any)) {
	if e == nil || e.scope == nil {
		return
	}
	for k, v := range e.scope.flatten() {
		f(k, v)
	}
}

func (e *evalEnv) statesVar() map[string]any {
	m := map[string]any{"input": e.input, "context": e.context()}
	if e.hasResult {
		m["result"] = e.result
	}
	if e.hasErr {
		m["errorOutput"] = e.errOut
	}
	return m
}
