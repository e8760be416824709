package stack

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/workflow"
)

// TestStateMachineProperties: Standard, logging ALL without execution data (task tokens
// would otherwise reach the logs), tracing on, a name the functions' ARNs rely on.
func TestStateMachineProperties(t *testing.T) {
	s := synthStack(t)
	_, sm := s.only(t, "AWS::StepFunctions::StateMachine")
	p := props(sm)
	checks := []struct {
		name string
		got  any
		want string
	}{
		{"type", p["StateMachineType"], `"STANDARD"`},
		{"name", p["StateMachineName"], `"` + testConfig.PipelineName + `"`},
		{"tracing", p["TracingConfiguration"], `{"Enabled":true}`},
		{"log level", at(p, "LoggingConfiguration", "Level"), `"ALL"`},
		{"execution data in logs", at(p, "LoggingConfiguration", "IncludeExecutionData"), `false`},
	}
	for _, c := range checks {
		if got := jsonString(c.got); got != c.want {
			t.Errorf("state machine %s = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestDefinitionSemantics checks the synthesized definition state by state: every Task
// has a timeout and the Lambda/Transient retry with full jitter; stages catch their named
// errors (the lambdaerr type names) into NotifyFailure; the approval waits for a task
// token with the timeout from the run's input and routes rejection and timeout.
func TestDefinitionSemantics(t *testing.T) {
	s := synthStack(t)
	var def struct {
		StartAt        string
		TimeoutSeconds float64
		States         map[string]map[string]any
	}
	if err := json.Unmarshal(s.definition(t), &def); err != nil {
		t.Fatal(err)
	}
	if def.StartAt != workflow.StateBuild || def.TimeoutSeconds != MaxRunDays*86400 {
		t.Errorf("StartAt %q TimeoutSeconds %v, want Build and %d", def.StartAt, def.TimeoutSeconds, MaxRunDays*86400)
	}
	var names []string
	for n := range def.States {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{workflow.StateBuild, workflow.StateFiltered, workflow.StateSkipped, workflow.StateTest, workflow.StageStage,
		workflow.StateRequestApproval, workflow.StateDeploy, workflow.StateNotifySuccess, workflow.StateSucceeded,
		workflow.StateNotifyFailure, workflow.StateFailed, workflow.StateNotifyRejected, workflow.StateRejected,
		workflow.StateExpire, workflow.StateNotifyExpired, workflow.StateExpired}
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("states = %v\nwant %v", names, want)
	}

	// The error names the stages' Catch matches must be lambdaerr's type names.
	named := []any{lambdaerr.SpecMissing{}, lambdaerr.SpecInvalid{}, lambdaerr.SourceUnavailable{}, lambdaerr.BuildFailed{},
		lambdaerr.TestsFailed{}, lambdaerr.StageTimedOut{}, lambdaerr.ArtifactsMissing{}, lambdaerr.ArtifactMismatch{},
		lambdaerr.DecisionMissing{}, lambdaerr.DeployFailed{}}
	var stageCatch []string
	for _, v := range named {
		stageCatch = append(stageCatch, typeName(v))
	}
	stageCatch = append(stageCatch, "States.Timeout")

	tasks := map[string]struct {
		resultPath string
		catches    []string // "errors -> Next @ ResultPath"
	}{
		workflow.StateBuild:  {"$.build", stageCatches(stageCatch)},
		workflow.StateTest:   {"$.test", stageCatches(stageCatch)},
		workflow.StageStage:  {"$.stage", stageCatches(stageCatch)},
		workflow.StateDeploy: {"$.deploy", stageCatches(stageCatch)},
		workflow.StateRequestApproval: {"$.approval", []string{
			typeName(lambdaerr.ApprovalRejected{}) + " -> NotifyRejected @ $.error",
			"States.Timeout -> Expire @ $.error",
			"States.ALL -> NotifyFailure @ $.error"}},
		workflow.StateExpire:         {"$.expiry", []string{"States.ALL -> NotifyExpired @ $.expiryError"}},
		workflow.StateNotifySuccess:  {"null", []string{"States.ALL -> Succeeded @ $.notifyError"}},
		workflow.StateNotifyFailure:  {"null", []string{"States.ALL -> Failed @ $.notifyError"}},
		workflow.StateNotifyRejected: {"null", []string{"States.ALL -> Rejected @ $.notifyError"}},
		workflow.StateNotifyExpired:  {"null", []string{"States.ALL -> Expired @ $.notifyError"}},
	}
	for name, st := range def.States {
		if st["Type"] != "Task" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			w, ok := tasks[name]
			if !ok {
				t.Fatalf("unexpected Task %s", name)
			}
			if st["TimeoutSeconds"] == nil && st["TimeoutSecondsPath"] == nil {
				t.Errorf("no timeout")
			}
			if got := jsonString(st["ResultPath"]); got != w.resultPath && got != `"`+w.resultPath+`"` {
				t.Errorf("ResultPath = %s, want %s", got, w.resultPath)
			}
			retry := asList(st["Retry"])
			if len(retry) != 1 {
				t.Fatalf("%d retriers, want 1: %s", len(retry), jsonString(retry))
			}
			r := retry[0]
			errs := jsonString(at(r, "ErrorEquals"))
			for _, e := range []string{"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", typeName(lambdaerr.Transient{})} {
				if !strings.Contains(errs, `"`+e+`"`) {
					t.Errorf("retry does not cover %s: %s", e, errs)
				}
			}
			if at(r, "JitterStrategy") != "FULL" || at(r, "BackoffRate") != 2.0 || at(r, "MaxDelaySeconds") == nil {
				t.Errorf("retry backoff = %s, want exponential (2x) with FULL jitter and a max delay", jsonString(r))
			}
			var got []string
			for _, c := range asList(st["Catch"]) {
				var es []string
				for _, e := range asList(at(c, "ErrorEquals")) {
					es = append(es, e.(string))
				}
				got = append(got, strings.Join(es, ",")+" -> "+at(c, "Next").(string)+" @ "+at(c, "ResultPath").(string))
			}
			if strings.Join(got, "\n") != strings.Join(w.catches, "\n") {
				t.Errorf("catches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w.catches, "\n"))
			}
		})
	}

	ra := def.States[workflow.StateRequestApproval]
	if ra["Resource"] != "arn:aws:states:::lambda:invoke.waitForTaskToken" || ra["TimeoutSecondsPath"] != "$.build.approvalTimeoutSeconds" {
		t.Errorf("RequestApproval resource %v timeout path %v, want waitForTaskToken and $.build.approvalTimeoutSeconds", ra["Resource"], ra["TimeoutSecondsPath"])
	}
	if got := jsonString(at(ra, "Parameters", "Payload")); got != `{"state.$":"$","token.$":"$$.Task.Token"}` {
		t.Errorf("RequestApproval payload = %s", got)
	}
	for _, n := range []struct{ state, event string }{
		{workflow.StateNotifySuccess, workflow.EventSucceeded}, {workflow.StateNotifyFailure, workflow.EventFailed},
		{workflow.StateNotifyRejected, workflow.EventRejected}, {workflow.StateNotifyExpired, workflow.EventExpired},
	} {
		st := def.States[n.state]
		if got := jsonString(at(st, "Parameters", "Payload")); got != `{"event":"`+n.event+`","state.$":"$"}` {
			t.Errorf("%s payload = %s, want event %s and the whole state", n.state, got, n.event)
		}
		if got := at(st, "Parameters", "FunctionName"); got != workflow.Placeholder(workflow.FnNotify) {
			t.Errorf("%s invokes %v, want Notify", n.state, got)
		}
	}
	for _, st := range []string{workflow.StateBuild, workflow.StateTest, workflow.StageStage, workflow.StateDeploy, workflow.StateExpire} {
		fn := map[string]workflow.Function{workflow.StateBuild: workflow.FnBuild, workflow.StateTest: workflow.FnTest,
			workflow.StageStage: workflow.FnStage, workflow.StateDeploy: workflow.FnDeploy, workflow.StateExpire: workflow.FnExpire}[st]
		if got := def.States[st]["Resource"]; got != workflow.Placeholder(fn) {
			t.Errorf("%s resource = %v, want the bare function ARN %s", st, got, workflow.Placeholder(fn))
		}
	}
	fails := map[string]string{
		workflow.StateFailed:   `{"CausePath":"$.error.Cause","ErrorPath":"$.error.Error","Type":"Fail"}`,
		workflow.StateRejected: `{"CausePath":"$.error.Cause","Error":"ApprovalRejected","Type":"Fail"}`,
		workflow.StateExpired:  `{"Cause":"no decision before the approval timeout","Error":"ApprovalExpired","Type":"Fail"}`,
	}
	for n, w := range fails {
		if got := jsonString(def.States[n]); got != w {
			t.Errorf("%s = %s, want %s", n, got, w)
		}
	}
	if got := jsonString(def.States[workflow.StateFiltered]["Choices"]); got != `[{"BooleanEquals":true,"Next":"Skipped","Variable":"$.build.skipped"}]` {
		t.Errorf("Filtered? choices = %s", got)
	}
}

func stageCatches(named []string) []string {
	return []string{strings.Join(named, ",") + " -> NotifyFailure @ $.error", "States.ALL -> NotifyFailure @ $.error"}
}

// typeName is the name aws-lambda-go reports for an error value of v's type.
func typeName(v any) string {
	n := strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
	return n[strings.LastIndex(n, ".")+1:]
}
