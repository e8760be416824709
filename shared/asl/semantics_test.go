package asl

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// semanticsCase runs def with input (virtual clock, auto-advance) and checks the end.
type semanticsCase struct {
	name      string
	def       string
	input     string
	status    string // default SUCCEEDED
	output    string // exact JSON, compared as values
	err       string
	cause     string // substring
	outSubstr string
}

func runSemantics(t *testing.T, tests []semanticsCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			in := tt.input
			if in == "" {
				in = "{}"
			}
			d, err := Run(ctx, []byte(tt.def), []byte(in), RunOptions{VirtualClock: true, Setup: registerTestFunctions})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			want := tt.status
			if want == "" {
				want = StatusSucceeded
			}
			if d.Status != want {
				t.Fatalf("status: got %s (%s: %s) output %s, want %s", d.Status, str(d.Error), str(d.Cause), str(d.Output), want)
			}
			if tt.output != "" {
				g, _ := decodeJSON([]byte(str(d.Output)))
				w, err := decodeJSON([]byte(tt.output))
				if err != nil {
					t.Fatalf("bad want: %v", err)
				}
				if !deepEqual(g, w) {
					t.Errorf("output:\n got %s\nwant %s", str(d.Output), tt.output)
				}
			}
			if tt.outSubstr != "" && !strings.Contains(str(d.Output), tt.outSubstr) {
				t.Errorf("output: got %s, want it to contain %s", str(d.Output), tt.outSubstr)
			}
			if tt.err != "" && str(d.Error) != tt.err {
				t.Errorf("error: got %q, want %q (cause %s)", str(d.Error), tt.err, str(d.Cause))
			}
			if tt.cause != "" && !strings.Contains(str(d.Cause), tt.cause) {
				t.Errorf("cause: got %q, want it to contain %q", str(d.Cause), tt.cause)
			}
		})
	}
}

// registerTestFunctions: fail (errors.New with the input's "msg"), echo, slow (sleeps on
// the real clock), big (returns 300 KiB).
func registerTestFunctions(e *Engine) error {
	e.RegisterFunction(fnARN+"echo", lambda.NewHandler(func(ctx context.Context, in any) (any, error) { return in, nil }))
	e.RegisterFunction(fnARN+"fail", lambda.NewHandler(func(ctx context.Context, in struct {
		Msg string `json:"msg"`
	}) (string, error) {
		return "", errors.New(in.Msg)
	}))
	e.RegisterFunction(fnARN+"big", lambda.NewHandler(func(ctx context.Context) (string, error) {
		return strings.Repeat("x", 300*1024), nil
	}))
	// answer completes its own callback task from another goroutine, as a person would.
	e.RegisterFunction(fnARN+"answer", lambda.NewHandler(func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		go func() { _ = e.SendTaskSuccess(context.Background(), in.Token, []byte(`{"answered":true}`)) }()
		return "", nil
	}))
	e.RegisterFunction(fnARN+"block", lambda.NewHandler(func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}))
	return nil
}

func TestDataFlow(t *testing.T) {
	runSemantics(t, []semanticsCase{
		{name: "InputPath Parameters ResultSelector ResultPath OutputPath in order",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `echo",
				"InputPath":"$.in","Parameters":{"v.$":"$.x","k":"lit"},"ResultSelector":{"echoed.$":"$.v"},
				"ResultPath":"$.res","OutputPath":"$.res","End":true}}}`,
			input: `{"in":{"x":7},"other":1}`, output: `{"echoed":7}`},
		{name: "null InputPath gives {}", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":null,"End":true}}}`, input: `{"a":1}`, output: `{}`},
		{name: "null ResultPath keeps the input", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"r":1},"ResultPath":null,"End":true}}}`, input: `{"a":1}`, output: `{"a":1}`},
		{name: "null OutputPath gives {}", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","OutputPath":null,"End":true}}}`, input: `{"a":1}`, output: `{}`},
		{name: "ResultPath creates nested objects and keeps siblings", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":3,"ResultPath":"$.a.b.c","End":true}}}`,
			input: `{"a":{"z":1}}`, output: `{"a":{"z":1,"b":{"c":3}}}`},
		{name: "context object fields", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"name.$":"$$.Execution.Name","state.$":"$$.State.Name","sm.$":"$$.StateMachine.Name","retry.$":"$$.State.RetryCount","input.$":"$$.Execution.Input"},"End":true}}}`,
			input: `{"q":1}`, output: `{"name":"run","state":"P","sm":"run","retry":0,"input":{"q":1}}`},
		{name: "path selecting nothing is States.Runtime", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"x.$":"$.missing"},"End":true}}}`,
			status: StatusFailed, err: "States.Runtime", cause: "The JSONPath '$.missing' specified for the field 'x.$' could not be found"},
		{name: "negative index selects from the end", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"last.$":"$.xs[-1]","first.$":"$.xs[0]"},"End":true}}}`,
			input: `{"xs":[1,2,3]}`, output: `{"last":3,"first":1}`},
		{name: "wildcard and filter paths select arrays", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"ids.$":"$.items[*].id","big.$":"$.items[?(@.n > 1)].id","deep.$":"$..id"},"End":true}}}`,
			input: `{"items":[{"id":"a","n":1},{"id":"b","n":2}]}`, output: `{"ids":["a","b"],"big":["b"],"deep":["a","b"]}`},
		{name: "variables: Assign, $var paths, branch scope", def: `{"StartAt":"A","States":{
				"A":{"Type":"Pass","Result":{"v":5},"Assign":{"five.$":"$.v","lit":"x"},"Next":"B"},
				"B":{"Type":"Parallel","Branches":[{"StartAt":"In","States":{"In":{"Type":"Pass","Assign":{"inner":1},"Parameters":{"seen.$":"$five"},"End":true}}}],"Next":"C"},
				"C":{"Type":"Pass","Parameters":{"five.$":"$five","lit.$":"$lit","fromBranch.$":"$[0].seen"},"End":true}}}`,
			output: `{"five":5,"lit":"x","fromBranch":5}`},
		{name: "undefined variable fails", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$nope"},"End":true}}}`, status: StatusFailed, err: "States.Runtime"},
		{name: "300 KiB task result is States.DataLimitExceeded, not caught by States.ALL", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `big",
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`,
			status: StatusFailed, err: "States.DataLimitExceeded", cause: "The state/task '" + fnARN + "big' returned a result with a size exceeding the maximum number of bytes service limit."},
		{name: "States.DataLimitExceeded can be caught by name", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `big",
				"Catch":[{"ErrorEquals":["States.DataLimitExceeded"],"ResultPath":"$.e","Next":"C"}],"End":true},"C":{"Type":"Pass","OutputPath":"$.e.Error","End":true}}}`,
			output: `"States.DataLimitExceeded"`},
		{name: "a state output over 256 KiB is States.DataLimitExceeded", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"$.s","b.$":"$.s"},"End":true}}}`,
			input: `{"s":"` + strings.Repeat("x", 140*1024) + `"}`, status: StatusFailed, err: "States.DataLimitExceeded", cause: "The state/task 'P' returned a result"},
		{name: "States.Runtime is not caught by States.ALL", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `echo","InputPath":"$.nope",
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`,
			status: StatusFailed, err: "States.Runtime", cause: "Invalid path '$.nope'"},
	})
}

func TestChoiceRules(t *testing.T) {
	choice := func(rule string) string {
		return `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[` + rule + `],"Default":"No"},
			"Yes":{"Type":"Pass","Result":"yes","End":true},"No":{"Type":"Pass","Result":"no","End":true}}}`
	}
	in := `{"s":"abc","n":5,"b":true,"t":"2024-01-02T03:04:05Z","t2":"2024-01-02T03:04:06Z","nul":null,"star":"a*b","bs":"a\\b","other":5}`
	cases := []struct {
		rule string
		want string
	}{
		{`{"Variable":"$.s","StringEquals":"abc","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","StringEqualsPath":"$.s","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","StringLessThan":"abd","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","StringGreaterThanEquals":"abc","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","StringMatches":"a*","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","StringMatches":"*z","Next":"Yes"}`, "no"},
		{`{"Variable":"$.star","StringMatches":"a\\*b","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","StringMatches":"a\\*b","Next":"Yes"}`, "no"},
		{`{"Variable":"$.bs","StringMatches":"a\\\\b","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.n","NumericEquals":5,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.n","NumericEqualsPath":"$.other","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.n","NumericLessThan":5,"Next":"Yes"}`, "no"},
		{`{"Variable":"$.n","NumericGreaterThanEqualsPath":"$.other","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","NumericEquals":5,"Next":"Yes"}`, "no"},
		{`{"Variable":"$.b","BooleanEquals":true,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.t","TimestampLessThanPath":"$.t2","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.t","TimestampEquals":"2024-01-02T03:04:05Z","Next":"Yes"}`, "yes"},
		{`{"Variable":"$.nul","IsNull":true,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.missing","IsPresent":false,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.n","IsNumeric":true,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","IsString":true,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.b","IsBoolean":true,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.t","IsTimestamp":true,"Next":"Yes"}`, "yes"},
		{`{"Variable":"$.s","IsTimestamp":true,"Next":"Yes"}`, "no"},
		{`{"And":[{"Variable":"$.n","NumericGreaterThan":1},{"Not":{"Variable":"$.s","StringEquals":"x"}}],"Next":"Yes"}`, "yes"},
		{`{"Or":[{"Variable":"$.n","NumericGreaterThan":10},{"Variable":"$.b","BooleanEquals":false}],"Next":"Yes"}`, "no"},
	}
	var tests []semanticsCase
	for _, c := range cases {
		tests = append(tests, semanticsCase{name: c.rule, def: choice(c.rule), input: in, output: `"` + c.want + `"`})
	}
	tests = append(tests, semanticsCase{name: "no match and no Default is States.NoChoiceMatched",
		def:   `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"D"}]},"D":{"Type":"Succeed"}}}`,
		input: in, status: StatusFailed, err: "States.NoChoiceMatched"})
	runSemantics(t, tests)
}

func TestWaitFailRetryCatch(t *testing.T) {
	runSemantics(t, []semanticsCase{
		{name: "Wait Seconds SecondsPath Timestamp TimestampPath on the virtual clock", def: `{"StartAt":"A","States":{
				"A":{"Type":"Wait","Seconds":86400,"Next":"B"},
				"B":{"Type":"Wait","SecondsPath":"$.s","Next":"C"},
				"C":{"Type":"Wait","Timestamp":"2030-01-01T00:00:00Z","Next":"D"},
				"D":{"Type":"Wait","TimestampPath":"$.ts","Next":"E"},
				"E":{"Type":"Pass","Parameters":{"now.$":"$$.State.EnteredTime"},"End":true}}}`,
			input: `{"s":60,"ts":"2031-01-01T00:00:00Z"}`, output: `{"now":"2031-01-01T00:00:00.000Z"}`},
		{name: "Fail with ErrorPath and CausePath", def: `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"States.Format('because {}', $.c)"}}}`,
			input: `{"e":"Oops","c":"x"}`, status: StatusFailed, err: "Oops", cause: "because x"},
		{name: "MaxAttempts 0 never retries; Catch matches first catcher", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `fail",
				"Retry":[{"ErrorEquals":["errorString"],"MaxAttempts":0}],
				"Catch":[{"ErrorEquals":["Other"],"Next":"Wrong"},{"ErrorEquals":["errorString"],"ResultPath":"$.err","Next":"Right"},{"ErrorEquals":["States.ALL"],"Next":"Wrong"}],"End":true},
				"Wrong":{"Type":"Fail","Error":"Wrong"},
				"Right":{"Type":"Pass","Parameters":{"retries.$":"$$.State.RetryCount","error.$":"$.err.Error","cause.$":"States.StringToJson($.err.Cause)"},"End":true}}}`,
			input: `{"msg":"boom"}`, output: `{"retries":0,"error":"errorString","cause":{"errorMessage":"boom","errorType":"errorString"}}`},
	})
}
