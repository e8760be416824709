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
