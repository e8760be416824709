package asl

import (
	"time"
)

// Event is one entry of an execution's history, named and shaped as in AWS's
// GetExecutionHistory (Type is e.g. "TaskStateEntered", "ExecutionFailed").
type Event struct {
	ID         int64     `json:"id"`
	PreviousID int64     `json:"prev,omitempty"`
	Timestamp  time.Time `json:"ts"`
	Type       string    `json:"type"`

	StateName string `json:"state,omitempty"`
	Input     any    `json:"input,omitempty"`
	Output    any    `json:"output,omitempty"`
	Error     string `json:"error,omitempty"`
	Cause     string `json:"cause,omitempty"`
	// HasInput/HasOutput tell a JSON null from no value; HasCause an empty Cause from none.
	HasInput  bool `json:"hasInput,omitempty"`
	HasOutput bool `json:"hasOutput,omitempty"`
	HasCause  bool `json:"hasCause,omitempty"`

	Resource     string `json:"resource,omitempty"`
	ResourceType string `json:"resourceType,omitempty"`
	Parameters   any    `json:"parameters,omitempty"`
	Timeout      int64  `json:"timeout,omitempty"`
	Heartbeat    int64  `json:"heartbeat,omitempty"`
	Index        int    `json:"index,omitempty"`
	Length       int    `json:"length,omitempty"`
	MapName      string `json:"mapName,omitempty"`
}

// HistoryLimit is AWS's hard quota of events per execution.
const HistoryLimit = 25000

// PayloadLimit is AWS's quota for an input, output or result, in bytes.
const PayloadLimit = 256 * 1024

// detailsKey names the event's details member in the JSON protocol.
func (ev *Event) details() (string, map[string]any) {
	d := map[string]any{}
	put := func(k string, v any) { d[k] = v }
	str := func(v any) string { return encodeJSON(v) }
	switch ev.Type {
	case "ExecutionStarted":
		put("input", str(ev.Input))
		put("inputDetails", map[string]any{"truncated": false})
		put("roleArn", ev.Resource)
		return "executionStartedEventDetails", d
	case "ExecutionSucceeded":
		put("output", str(ev.Output))
		put("outputDetails", map[string]any{"truncated": false})
		return "executionSucceededEventDetails", d
	case "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut":
		if ev.Error != "" {
			put("error", ev.Error)
		}
		if ev.HasCause {
			put("cause", ev.Cause)
		}
		k := map[string]string{"ExecutionFailed": "executionFailedEventDetails", "ExecutionAborted": "executionAbortedEventDetails", "ExecutionTimedOut": "executionTimedOutEventDetails"}[ev.Type]
		return k, d
	case "TaskScheduled":
		put("resourceType", ev.ResourceType)
		put("resource", ev.Resource)
		put("region", "us-east-1")
		put("parameters", str(ev.Parameters))
		if ev.Timeout > 0 {
			put("timeoutInSeconds", ev.Timeout)
		}
		if ev.Heartbeat > 0 {
			put("heartbeatInSeconds", ev.Heartbeat)
		}
		return "taskScheduledEventDetails", d
	case "TaskStarted":
		put("resourceType", ev.ResourceType)
		put("resource", ev.Resource)
		return "taskStartedEventDetails", d
	case "TaskSubmitted", "TaskSucceeded":
		put("resourceType", ev.ResourceType)
		put("resource", ev.Resource)
		put("output", str(ev.Output))
		put("outputDetails", map[string]any{"truncated": false})
		if ev.Type == "TaskSubmitted" {
			return "taskSubmittedEventDetails", d
		}
		return "taskSucceededEventDetails", d
	case "TaskFailed", "TaskTimedOut":
		put("resourceType", ev.ResourceType)
		put("resource", ev.Resource)
		if ev.Error != "" {
			put("error", ev.Error)
		}
		if ev.HasCause {
			put("cause", ev.Cause)
		}
		if ev.Type == "TaskFailed" {
			return "taskFailedEventDetails", d
		}
		return "taskTimedOutEventDetails", d
	case "LambdaFunctionScheduled":
		put("resource", ev.Resource)
		put("input", str(ev.Input))
		put("inputDetails", map[string]any{"truncated": false})
		if ev.Timeout > 0 {
			put("timeoutInSeconds", ev.Timeout)
		}
		return "lambdaFunctionScheduledEventDetails", d
	case "LambdaFunctionSucceeded":
		put("output", str(ev.Output))
		put("outputDetails", map[string]any{"truncated": false})
		return "lambdaFunctionSucceededEventDetails", d
	case "LambdaFunctionFailed", "LambdaFunctionTimedOut":
		if ev.Error != "" {
			put("error", ev.Error)
		}
		if ev.HasCause {
			put("cause", ev.Cause)
		}
		if ev.Type == "LambdaFunctionFailed" {
			return "lambdaFunctionFailedEventDetails", d
		}
		return "lambdaFunctionTimedOutEventDetails", d
	case "MapStateStarted":
		put("length", ev.Length)
		return "mapStateStartedEventDetails", d
	case "MapIterationStarted", "MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted":
		put("name", ev.MapName)
		put("index", ev.Index)
		return "m" + ev.Type[1:] + "EventDetails", d
	}
	if ev.StateName != "" {
		put("name", ev.StateName)
		if len(ev.Type) > 7 && ev.Type[len(ev.Type)-7:] == "Entered" {
			put("input", str(ev.Input))
			put("inputDetails", map[string]any{"truncated": false})
			return "stateEnteredEventDetails", d
		}
		if len(ev.Type) > 6 && ev.Type[len(ev.Type)-6:] == "Exited" {
			put("output", str(ev.Output))
			put("outputDetails", map[string]any{"truncated": false})
			return "stateExitedEventDetails", d
		}
	}
	return "", nil
}

// hevent is how an execution keeps an event in memory: a third of Event's size, since a
// waiting execution's history is most of what it holds. Only task and map events carry
// the rarely used fields, behind a pointer.
type hevent struct {
	ts    int64 // unix nanoseconds
	id    int64
	prev  int64
	val   any // the Input, Output or Parameters, as flags say
	state string
	typ   string
	x     *eventExtra
	flags uint8
}

type eventExtra struct {
	err, cause             string
	resource, resourceType string
	mapName                string
	timeout, heartbeat     int64
	index, length          int
}

const (
	fHasInput uint8 = 1 << iota
	fHasOutput
	fHasCause
	fValInput
	fValOutput
	fValParams
)

func pack(ev *Event) hevent {
	h := hevent{ts: ev.Timestamp.UnixNano(), id: ev.ID, prev: ev.PreviousID, state: ev.StateName, typ: ev.Type}
	switch {
	case ev.Input != nil || ev.HasInput:
		h.val, h.flags = ev.Input, fValInput
	case ev.Output != nil || ev.HasOutput:
		h.val, h.flags = ev.Output, fValOutput
	case ev.Parameters != nil:
		h.val, h.flags = ev.Parameters, fValParams
	}
	if ev.HasInput {
		h.flags |= fHasInput
	}
	if ev.HasOutput {
		h.flags |= fHasOutput
	}
	if ev.HasCause {
		h.flags |= fHasCause
	}
	if ev.Error != "" || ev.Cause != "" || ev.Resource != "" || ev.ResourceType != "" || ev.MapName != "" ||
		ev.Timeout != 0 || ev.Heartbeat != 0 || ev.Index != 0 || ev.Length != 0 {
		h.x = &eventExtra{err: ev.Error, cause: ev.Cause, resource: ev.Resource, resourceType: ev.ResourceType,
			mapName: ev.MapName, timeout: ev.Timeout, heartbeat: ev.Heartbeat, index: ev.Index, length: ev.Length}
	}
	return h
}

func (h *hevent) unpack() Event {
	ev := Event{ID: h.id, PreviousID: h.prev, Timestamp: time.Unix(0, h.ts).UTC(), Type: h.typ, StateName: h.state,
		HasInput: h.flags&fHasInput != 0, HasOutput: h.flags&fHasOutput != 0, HasCause: h.flags&fHasCause != 0}
	switch {
	case h.flags&fValInput != 0:
		ev.Input = h.val
	case h.flags&fValOutput != 0:
		ev.Output = h.val
	case h.flags&fValParams != 0:
		ev.Parameters = h.val
	}
	if x := h.x; x != nil {
		ev.Error, ev.Cause, ev.Resource, ev.ResourceType, ev.MapName = x.err, x.cause, x.resource, x.resourceType, x.mapName
		ev.Timeout, ev.Heartbeat, ev.Index, ev.Length = x.timeout, x.heartbeat, x.index, x.length
	}
	return ev
}
