package asl

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestEncodeJSONMatchesEncodingJSON: the engine's encoder renders exactly what
// encoding/json (without HTML escaping) renders, except that integral numbers never use
// an exponent below 1e21.
func TestEncodeJSONMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"null", nil},
		{"bools", []any{true, false}},
		{"integers", []any{0.0, 1.0, -7.0, 1e20, 123456789012.0}},
		{"fractions", []any{0.1, -2.5, 1e-7, 3.14159, 1e-6, 123.456e10}},
		{"huge", []any{1e21, 1.5e300, -1e22}},
		{"negative zero", math.Copysign(0, -1)},
		{"strings", []any{"plain", "quote\" backslash\\ slash/", "tab\tnew\nline\rcr", "\x00\x01\x1f", "<html>&amp;", "héllo ☃ 😀", "\u2028\u2029", "bad \xff utf8"}},
		{"nested object", map[string]any{"b": []any{map[string]any{"z": 1.0, "a": nil}}, "a": "x", "": 1.0}},
		{"empty containers", []any{map[string]any{}, []any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tt.v); err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(buf.String(), "\n")
			if got := encodeJSON(tt.v); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestSizeOver(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want bool
	}{
		{"small object", map[string]any{"a": "b"}, false},
		{"exactly under", strings.Repeat("x", PayloadLimit-2), false},
		{"over by a byte", strings.Repeat("x", PayloadLimit-1), true},
		{"many small items", func() any {
			a := make([]any, 60000)
			for i := range a {
				a[i] = "abc"
			}
			return a
		}(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sizeOver(tt.v, PayloadLimit); got != tt.want {
				t.Errorf("got %v, want %v (encoded %d bytes)", got, tt.want, len(encodeJSON(tt.v)))
			}
		})
	}
}

// TestEventRoundTrip: what the database stores, and the compact in-memory form, give
// back the same event.
func TestEventRoundTrip(t *testing.T) {
	ts := VirtualStart.Add(1234567 * time.Microsecond)
	tests := []Event{
		{ID: 1, Timestamp: ts, Type: "ExecutionStarted", Input: map[string]any{"a": 1.0, "s": "x\"y"}, HasInput: true, Resource: "arn:role"},
		{ID: 7, PreviousID: 6, Timestamp: ts, Type: "TaskFailed", Error: "E", Cause: "", HasCause: true, Resource: "invoke", ResourceType: "lambda"},
		{ID: 9, PreviousID: 8, Timestamp: ts, Type: "PassStateExited", StateName: "P", Output: nil, HasOutput: true},
		{ID: 3, PreviousID: 2, Timestamp: ts, Type: "TaskScheduled", Parameters: map[string]any{"FunctionName": "f"}, Timeout: 60, Heartbeat: 10},
		{ID: 4, PreviousID: 2, Timestamp: ts, Type: "MapIterationStarted", MapName: "M", Index: 3, Length: 0},
	}
	for _, want := range tests {
		t.Run(want.Type, func(t *testing.T) {
			var got Event
			if err := json.Unmarshal(appendEventJSON(nil, &want), &got); err != nil {
				t.Fatal(err)
			}
			h := pack(&got)
			got = h.unpack()
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) || !got.Timestamp.Equal(want.Timestamp) {
				t.Errorf("got  %s\nwant %s", gb, wb)
			}
		})
	}
}
