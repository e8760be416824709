package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the Step Functions JSON protocol (POST with X-Amz-Target:
// AWSStepFunctions.<Operation>, Content-Type application/x-amz-json-1.0), so the AWS SDK
// and CLI can talk to the engine with an endpoint override. Requests are not
// authenticated: the engine serves one machine's loopback interface.
func (e *Engine) Handler() http.Handler { return http.HandlerFunc(e.serveAPI) }

const apiMaxBody = 2 << 20

func (e *Engine) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeAPIError(w, http.StatusMethodNotAllowed, &APIError{Code: "UnknownOperationException", Message: "only POST is supported"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	if !ok {
		writeAPIError(w, http.StatusBadRequest, &APIError{Code: "UnknownOperationException", Message: fmt.Sprintf("unknown X-Amz-Target %q", target)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, apiMaxBody+1))
	if err != nil || len(body) > apiMaxBody {
		writeAPIError(w, http.StatusBadRequest, &APIError{Code: "SerializationException", Message: "request body unreadable or too large"})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	h, ok := apiOps[op]
	if !ok {
		writeAPIError(w, http.StatusBadRequest, &APIError{Code: "UnknownOperationException", Message: fmt.Sprintf("operation %s is not supported by shipgate's engine", op)})
		return
	}
	out, err := h(e, r, body)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			ae = &APIError{Code: "InternalFailure", Message: err.Error()}
		}
		status := http.StatusBadRequest
		if ae.Code == "InternalFailure" || ae.Code == "ServiceUnavailable" {
			status = http.StatusInternalServerError
		}
		writeAPIError(w, status, ae)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}

func writeAPIError(w http.ResponseWriter, status int, ae *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", ae.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Code, "message": ae.Message})
}

// epoch renders a time as the protocol does: seconds since the epoch, as a number.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

func decodeReq(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		return &APIError{Code: "SerializationException", Message: fmt.Sprintf("malformed request: %v", err)}
	}
	return nil
}

func required(field, v string) error {
	if v == "" {
		return &APIError{Code: "ValidationException", Message: fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)}
	}
	return nil
}

type apiOp func(e *Engine, r *http.Request, body []byte) (any, error)

var apiOps = map[string]apiOp{
	"CreateStateMachine": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
			Type       string `json:"type"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("name", in.Name); err != nil {
			return nil, err
		}
		if err := required("definition", in.Definition); err != nil {
			return nil, err
		}
		if in.Type != "" && in.Type != "STANDARD" {
			return nil, apiErr("ValidationException", "only STANDARD state machines are supported (Express workflows cannot wait for task tokens)")
		}
		arn, err := e.CreateStateMachine(r.Context(), in.Name, []byte(in.Definition))
		if err != nil {
			return nil, err
		}
		d, _ := e.DescribeStateMachine(r.Context(), arn)
		return map[string]any{"stateMachineArn": arn, "creationDate": epoch(d.Created)}, nil
	},
	"DescribeStateMachine": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN string `json:"stateMachineArn"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		d, err := e.DescribeStateMachine(r.Context(), in.ARN)
		if err != nil {
			return nil, err
		}
		return map[string]any{"stateMachineArn": d.ARN, "name": d.Name, "status": "ACTIVE", "definition": d.Definition,
			"roleArn": fmt.Sprintf("arn:aws:iam::%s:role/shipgate-local", e.opts.Account), "type": "STANDARD", "creationDate": epoch(d.Created)}, nil
	},
	"UpdateStateMachine": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN        string `json:"stateMachineArn"`
			Definition string `json:"definition"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("definition", in.Definition); err != nil {
			return nil, err
		}
		t, err := e.UpdateStateMachine(r.Context(), in.ARN, []byte(in.Definition))
		if err != nil {
			return nil, err
		}
		return map[string]any{"updateDate": epoch(t)}, nil
	},
	"DescribeStateMachineForExecution": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN string `json:"executionArn"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		d, err := e.DescribeStateMachineForExecution(r.Context(), in.ARN)
		if err != nil {
			return nil, err
		}
		return map[string]any{"stateMachineArn": d.ARN, "name": d.Name, "definition": d.Definition,
			"roleArn": fmt.Sprintf("arn:aws:iam::%s:role/shipgate-local", e.opts.Account), "updateDate": epoch(d.Created)}, nil
	},
	"ListStateMachines": func(e *Engine, r *http.Request, body []byte) (any, error) {
		list := e.ListStateMachines(r.Context())
		out := make([]map[string]any, len(list))
		for i, sm := range list {
			out[i] = map[string]any{"stateMachineArn": sm.ARN, "name": sm.Name, "type": "STANDARD", "creationDate": epoch(sm.Created)}
		}
		return map[string]any{"stateMachines": out}, nil
	},
	"ValidateStateMachineDefinition": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			Definition string `json:"definition"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		_, err := Parse([]byte(in.Definition))
		if err == nil {
			return map[string]any{"result": "OK", "diagnostics": []any{}}, nil
		}
		var diags []map[string]any
		var ve ValidationErrors
		if errors.As(err, &ve) {
			for _, v := range ve {
				diags = append(diags, map[string]any{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": v.Error(), "location": v.Pointer})
			}
		} else {
			diags = append(diags, map[string]any{"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": err.Error()})
		}
		return map[string]any{"result": "FAIL", "diagnostics": diags}, nil
	},
	"StartExecution": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN   string  `json:"stateMachineArn"`
			Name  string  `json:"name"`
			Input *string `json:"input"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("stateMachineArn", in.ARN); err != nil {
			return nil, err
		}
		input := []byte("{}")
		if in.Input != nil {
			input = []byte(*in.Input)
		}
		res, err := e.StartExecution(r.Context(), in.ARN, in.Name, input)
		if err != nil {
			return nil, err
		}
		return map[string]any{"executionArn": res.ExecutionARN, "startDate": epoch(res.StartDate)}, nil
	},
	"DescribeExecution": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN string `json:"executionArn"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		d, err := e.DescribeExecution(r.Context(), in.ARN)
		if err != nil {
			return nil, err
		}
		out := execSummary(d)
		out["input"] = d.Input
		out["inputDetails"] = map[string]any{"included": true}
		if d.Output != nil {
			out["output"] = *d.Output
			out["outputDetails"] = map[string]any{"included": true}
		}
		if d.Error != nil {
			out["error"] = *d.Error
		}
		if d.Cause != nil {
			out["cause"] = *d.Cause
		}
		return out, nil
	},
	"ListExecutions": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN       string `json:"stateMachineArn"`
			Status    string `json:"statusFilter"`
			Max       int    `json:"maxResults"`
			NextToken string `json:"nextToken"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("stateMachineArn", in.ARN); err != nil {
			return nil, err
		}
		list, err := e.ListExecutions(r.Context(), in.ARN, in.Status)
		if err != nil {
			return nil, err
		}
		start, end, next, err := page(len(list), in.Max, 100, in.NextToken)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, end-start)
		for i := start; i < end; i++ {
			out = append(out, execSummary(&list[i]))
		}
		res := map[string]any{"executions": out}
		if next != "" {
			res["nextToken"] = next
		}
		return res, nil
	},
	"GetExecutionHistory": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN       string `json:"executionArn"`
			Max       int    `json:"maxResults"`
			Reverse   bool   `json:"reverseOrder"`
			NextToken string `json:"nextToken"`
			Include   *bool  `json:"includeExecutionData"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		evs, err := e.GetExecutionHistory(r.Context(), in.ARN)
		if err != nil {
			return nil, err
		}
		if in.Reverse {
			for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
				evs[i], evs[j] = evs[j], evs[i]
			}
		}
		start, end, next, err := page(len(evs), in.Max, 100, in.NextToken)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, end-start)
		for i := start; i < end; i++ {
			out = append(out, eventJSON(&evs[i], in.Include == nil || *in.Include))
		}
		res := map[string]any{"events": out}
		if next != "" {
			res["nextToken"] = next
		}
		return res, nil
	},
	"StopExecution": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			ARN   string `json:"executionArn"`
			Error string `json:"error"`
			Cause string `json:"cause"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		t, err := e.StopExecution(r.Context(), in.ARN, in.Error, in.Cause)
		if err != nil {
			return nil, err
		}
		return map[string]any{"stopDate": epoch(t)}, nil
	},
	"SendTaskSuccess": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			Token  string `json:"taskToken"`
			Output string `json:"output"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("taskToken", in.Token); err != nil {
			return nil, err
		}
		if err := required("output", in.Output); err != nil {
			return nil, err
		}
		return map[string]any{}, e.SendTaskSuccess(r.Context(), in.Token, []byte(in.Output))
	},
	"SendTaskFailure": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			Token string `json:"taskToken"`
			Error string `json:"error"`
			Cause string `json:"cause"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("taskToken", in.Token); err != nil {
			return nil, err
		}
		return map[string]any{}, e.SendTaskFailure(r.Context(), in.Token, in.Error, in.Cause)
	},
	"SendTaskHeartbeat": func(e *Engine, r *http.Request, body []byte) (any, error) {
		var in struct {
			Token string `json:"taskToken"`
		}
		if err := decodeReq(body, &in); err != nil {
			return nil, err
		}
		if err := required("taskToken", in.Token); err != nil {
			return nil, err
		}
		return map[string]any{}, e.SendTaskHeartbeat(r.Context(), in.Token)
	},
}

// page slices n items by an opaque offset token.
func page(n, max, def int, token string) (start, end int, next string, err error) {
	if max <= 0 {
		max = def
	}
	if max > 1000 {
		max = 1000
	}
	if token != "" {
		s, perr := strconv.Atoi(token)
		if perr != nil || s < 0 || s > n {
			return 0, 0, "", apiErr("InvalidToken", "Invalid Token: '%s'", token)
		}
		start = s
	}
	end = min(start+max, n)
	if end < n {
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

func execSummary(d *ExecutionDescription) map[string]any {
	out := map[string]any{"executionArn": d.ExecutionARN, "stateMachineArn": d.StateMachineARN, "name": d.Name,
		"status": d.Status, "startDate": epoch(d.StartDate)}
	if !d.StopDate.IsZero() {
		out["stopDate"] = epoch(d.StopDate)
	}
	return out
}

func eventJSON(ev *Event, includeData bool) map[string]any {
	out := map[string]any{"timestamp": epoch(ev.Timestamp), "type": ev.Type, "id": ev.ID, "previousEventId": ev.PreviousID}
	if k, d := ev.details(); k != "" {
		if !includeData {
			for _, f := range []string{"input", "output", "parameters"} {
				delete(d, f)
			}
		}
		out[k] = d
	}
	return out
}
