package asl

import (
	"errors"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	tests := []struct {
		name        string
		def         string
		wantState   string
		wantPointer string
		wantMsg     string
	}{
		{name: "malformed JSON", def: `{"StartAt":`, wantMsg: "malformed JSON"},
		{name: "unknown top-level field", def: `{"StartAt":"A","Foo":1,"States":{"A":{"Type":"Succeed"}}}`, wantPointer: "/Foo", wantMsg: `unknown field "Foo"`},
		{name: "missing StartAt state", def: `{"StartAt":"X","States":{"A":{"Type":"Succeed"}}}`, wantPointer: "/StartAt", wantMsg: `StartAt "X" is not a state`},
		{name: "unknown state field", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Bogus":1}}}`, wantState: "A", wantPointer: "/States/A/Bogus", wantMsg: `unknown field "Bogus"`},
		{name: "missing Next and End", def: `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, wantState: "A", wantPointer: "/States/A", wantMsg: "either Next or End"},
		{name: "both Next and End", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B","End":true},"B":{"Type":"Succeed"}}}`, wantState: "A", wantMsg: "both Next and End"},
		{name: "transition to a missing state", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"}}}`, wantState: "A", wantPointer: "/States/A/Next", wantMsg: `"Nope": no such state`},
		{name: "unreachable state", def: `{"StartAt":"A","States":{"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}}}`, wantState: "B", wantPointer: "/States/B", wantMsg: "unreachable"},
		{name: "bad InputPath", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"a.b","End":true}}}`, wantState: "A", wantPointer: "/States/A/InputPath", wantMsg: "must start with '$'"},
		{name: "ResultPath must be a reference path", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, wantState: "A", wantPointer: "/States/A/ResultPath", wantMsg: "not a valid reference path"},
		{name: "States.ALL not last in Catch", def: `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true,
			"Catch":[{"ErrorEquals":["States.ALL"],"Next":"B"},{"ErrorEquals":["X"],"Next":"B"}]},"B":{"Type":"Succeed"}}}`, wantState: "A", wantPointer: "/States/A/Catch/0/ErrorEquals", wantMsg: "must be the last"},
		{name: "States.ALL not alone", def: `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true,
			"Retry":[{"ErrorEquals":["X","States.ALL"]}]}}}`, wantState: "A", wantPointer: "/States/A/Retry/0/ErrorEquals/1", wantMsg: "alone"},
		{name: "unknown intrinsic", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Nope(1)"},"End":true}}}`, wantState: "A", wantPointer: "/States/A/Parameters", wantMsg: `unknown function "States.Nope"`},
		{name: "intrinsic arity", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.MathAdd(1)"},"End":true}}}`, wantState: "A", wantMsg: "takes 2 arguments, got 1"},
		{name: "JSONPath field in a JSONata state", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$","End":true}}}`, wantState: "A", wantPointer: "/States/A/InputPath", wantMsg: "not allowed in a Pass state that uses JSONata"},
		{name: "JSONata parent operator is not supported", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% a.b.%.c %}","End":true}}}`, wantState: "A", wantPointer: "/States/A/Output", wantMsg: "not supported: the JSONata parent operator"},
		{name: "JSONata positional binding is not supported", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% a#$i.b %}","End":true}}}`, wantState: "A", wantMsg: "not supported: the JSONata positional-binding operator"},
		{name: "JSONata context binding is not supported", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% a@$x.b %}","End":true}}}`, wantState: "A", wantMsg: "not supported: the JSONata context-binding operator"},
		{name: "missing JSONata function is not supported", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $formatInteger(2, 'w') %}","End":true}}}`, wantState: "A", wantMsg: "not supported: the JSONata function $formatInteger"},
		{name: "choice rule without comparison", def: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}`, wantState: "C", wantPointer: "/States/C/Choices/0", wantMsg: "exactly one comparison"},
		{name: "unsupported resource", def: `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}}`, wantState: "A", wantPointer: "/States/A/Resource", wantMsg: "not supported: Task resource"},
		{name: "nested branch problem is located", def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass"}}}]}}}`, wantState: "X", wantPointer: "/States/P/Branches/0/States/X", wantMsg: "either Next or End"},
		{name: "state names are unique across branches", def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}]}}}`,
			wantState: "P", wantPointer: "/States/P/Branches/0/States/P", wantMsg: "used more than once"},
		{name: "Wait needs exactly one duration", def: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, wantState: "W", wantMsg: "exactly one of Seconds"},
		{name: "ItemReader is not supported", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, wantState: "M", wantMsg: "not supported: ItemReader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.def))
			if err == nil {
				t.Fatal("got nil error")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error: got %q, want it to contain %q", err, tt.wantMsg)
			}
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				if tt.wantState != "" || tt.wantPointer != "" {
					t.Fatalf("got %T, want ValidationErrors", err)
				}
				return
			}
			for _, v := range ve {
				if strings.Contains(v.Message, tt.wantMsg) || strings.Contains(v.Error(), tt.wantMsg) {
					if v.State != tt.wantState {
						t.Errorf("state: got %q, want %q", v.State, tt.wantState)
					}
					if tt.wantPointer != "" && v.Pointer != tt.wantPointer {
						t.Errorf("pointer: got %q, want %q", v.Pointer, tt.wantPointer)
					}
					return
				}
			}
			t.Errorf("no single problem matched %q in %v", tt.wantMsg, ve)
		})
	}
}
