package asl

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
)

const callbackDef = `{"StartAt":"Ask","States":{
	"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token","who.$":"$.who"}},
		"HeartbeatSeconds":60,"TimeoutSeconds":600,"ResultPath":"$.answer","End":true}}}`

// tokenCatcher registers "ask", a handler that hands its task token to the test.
func tokenCatcher(e *Engine) chan string {
	ch := make(chan string, 16)
	e.RegisterFunction(fnARN+"ask", lambda.NewHandler(func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		ch <- in.Token
		return "asked", nil
	}))
	return ch
}

func awsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func waitToken(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case tok := <-ch:
		return tok
	case <-time.After(5 * time.Second):
		t.Fatal("no task token")
	}
	return ""
}

func waitStatus(t *testing.T, c *sfn.Client, arn string, want sfntypes.ExecutionStatus) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: &arn})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: got %s, want %s", d.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAPIWithSDK drives every supported operation through aws-sdk-go-v2's sfn client.
func TestAPIWithSDK(t *testing.T) {
	ctx := context.Background()
	e, _, c := newTestEngine(t, false)
	tokens := tokenCatcher(e)

	created, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("cb"), Definition: aws.String(callbackDef), RoleArn: aws.String("arn:aws:iam::000000000000:role/x")})
	if err != nil {
		t.Fatal(err)
	}
	smARN := *created.StateMachineArn
	t.Run("CreateStateMachine is idempotent for the same definition", func(t *testing.T) {
		again, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("cb"), Definition: aws.String(callbackDef), RoleArn: aws.String("r")})
		if err != nil || *again.StateMachineArn != smARN {
			t.Fatalf("got %v %v, want %s", again, err, smARN)
		}
		_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("cb"), Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`), RoleArn: aws.String("r")})
		if got := awsCode(err); got != "StateMachineAlreadyExists" {
			t.Errorf("other definition: got %q, want StateMachineAlreadyExists", got)
		}
	})
	t.Run("invalid definition is InvalidDefinition naming the state", func(t *testing.T) {
		_, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`), RoleArn: aws.String("r")})
		var ide *sfntypes.InvalidDefinition
		if !errors.As(err, &ide) || !strings.Contains(err.Error(), `state "A" at /States/A/Next`) {
			t.Errorf("got %v, want InvalidDefinition naming state A and /States/A/Next", err)
		}
	})
	t.Run("Describe and List state machines", func(t *testing.T) {
		d, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &smARN})
		if err != nil || *d.Name != "cb" || *d.Definition != callbackDef || d.Type != sfntypes.StateMachineTypeStandard {
			t.Fatalf("describe: got %+v %v", d, err)
		}
		l, err := c.ListStateMachines(ctx, &sfn.ListStateMachinesInput{})
		if err != nil || len(l.StateMachines) != 1 || *l.StateMachines[0].StateMachineArn != smARN {
			t.Fatalf("list: got %+v %v", l, err)
		}
		_, err = c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(smARN + "x")})
		var sde *sfntypes.StateMachineDoesNotExist
		if !errors.As(err, &sde) {
			t.Errorf("unknown machine: got %v, want StateMachineDoesNotExist", err)
		}
	})

	start := func(name, input string) (*sfn.StartExecutionOutput, error) {
		return c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &smARN, Name: &name, Input: &input})
	}
	first, err := start("run-1", `{"who":"ana"}`)
	if err != nil {
		t.Fatal(err)
	}
	tok := waitToken(t, tokens)
	t.Run("StartExecution is idempotent by name and input while open", func(t *testing.T) {
		again, err := start("run-1", `{"who":"ana"}`)
		if err != nil || *again.ExecutionArn != *first.ExecutionArn || !again.StartDate.Equal(*first.StartDate) {
			t.Fatalf("got %+v %v, want the same execution", again, err)
		}
		_, err = start("run-1", `{"who":"bob"}`)
		var eae *sfntypes.ExecutionAlreadyExists
		if !errors.As(err, &eae) {
			t.Errorf("different input: got %v, want ExecutionAlreadyExists", err)
		}
	})
	t.Run("heartbeat on a live token", func(t *testing.T) {
		if _, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: &tok}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad token is InvalidToken", func(t *testing.T) {
		_, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("garbage"), Output: aws.String("{}")})
		var ite *sfntypes.InvalidToken
		if !errors.As(err, &ite) {
			t.Errorf("got %v, want InvalidToken", err)
		}
	})
	t.Run("SendTaskSuccess resumes; the token cannot be reused", func(t *testing.T) {
		if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String(`{"ok":true}`)}); err != nil {
			t.Fatal(err)
		}
		d := waitStatus(t, c, *first.ExecutionArn, sfntypes.ExecutionStatusSucceeded)
		if *d.Output != `{"answer":{"ok":true},"who":"ana"}` {
			t.Errorf("output: got %s", *d.Output)
		}
		_, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String(`{}`)})
		var tto *sfntypes.TaskTimedOut
		if !errors.As(err, &tto) {
			t.Errorf("reused token: got %v, want TaskTimedOut", err)
		}
		_, err = c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: &tok})
		if !errors.As(err, &tto) {
			t.Errorf("heartbeat on used token: got %v, want TaskTimedOut", err)
		}
		_, err = start("run-1", `{"who":"ana"}`)
		var eae *sfntypes.ExecutionAlreadyExists
		if !errors.As(err, &eae) {
			t.Errorf("same name after the end: got %v, want ExecutionAlreadyExists", err)
		}
	})
	t.Run("SendTaskFailure fails the execution with the given error", func(t *testing.T) {
		run, err := start("run-2", `{"who":"bob"}`)
		if err != nil {
			t.Fatal(err)
		}
		tok := waitToken(t, tokens)
		if _, err := c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: &tok, Error: aws.String("Nope"), Cause: aws.String("because")}); err != nil {
			t.Fatal(err)
		}
		d := waitStatus(t, c, *run.ExecutionArn, sfntypes.ExecutionStatusFailed)
		if *d.Error != "Nope" || *d.Cause != "because" {
			t.Errorf("got %s/%s, want Nope/because", *d.Error, *d.Cause)
		}
	})
	t.Run("StopExecution aborts and frees the token", func(t *testing.T) {
		run, err := start("run-3", `{"who":"cy"}`)
		if err != nil {
			t.Fatal(err)
		}
		tok := waitToken(t, tokens)
		if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: run.ExecutionArn, Error: aws.String("Cancelled"), Cause: aws.String("by test")}); err != nil {
			t.Fatal(err)
		}
		d := waitStatus(t, c, *run.ExecutionArn, sfntypes.ExecutionStatusAborted)
		if d.StopDate == nil {
			t.Error("stopDate missing")
		}
		_, err = c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String(`{}`)})
		var tto *sfntypes.TaskTimedOut
		if !errors.As(err, &tto) {
			t.Errorf("token of a stopped execution: got %v, want TaskTimedOut", err)
		}
	})
	t.Run("ListExecutions filters and pages", func(t *testing.T) {
		all, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: &smARN})
		if err != nil || len(all.Executions) != 3 {
			t.Fatalf("got %d executions (%v), want 3", len(all.Executions), err)
		}
		failed, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: &smARN, StatusFilter: sfntypes.ExecutionStatusFailed})
		if err != nil || len(failed.Executions) != 1 || *failed.Executions[0].Name != "run-2" {
			t.Fatalf("failed filter: got %+v %v", failed, err)
		}
		var names []string
		p := sfn.NewListExecutionsPaginator(c, &sfn.ListExecutionsInput{StateMachineArn: &smARN, MaxResults: 2})
		for p.HasMorePages() {
			pg, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range pg.Executions {
				names = append(names, *x.Name)
			}
		}
		if len(names) != 3 {
			t.Errorf("paged: got %v, want 3 names", names)
		}
	})
	t.Run("GetExecutionHistory uses AWS event types", func(t *testing.T) {
		h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: first.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range h.Events {
			types = append(types, string(ev.Type))
		}
		want := "ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSubmitted TaskSucceeded TaskStateExited ExecutionSucceeded"
		if got := strings.Join(types, " "); got != want {
			t.Errorf("types:\n got %s\nwant %s", got, want)
		}
		if d := h.Events[0].ExecutionStartedEventDetails; d == nil || *d.Input != `{"who":"ana"}` {
			t.Errorf("ExecutionStarted details: got %+v", d)
		}
		if d := h.Events[2].TaskScheduledEventDetails; d == nil || *d.ResourceType != "lambda" || *d.Resource != "invoke.waitForTaskToken" || *d.HeartbeatInSeconds != 60 {
			t.Errorf("TaskScheduled details: got %+v", d)
		}
		if d := h.Events[5].TaskSucceededEventDetails; d == nil || *d.Output != `{"ok":true}` {
			t.Errorf("TaskSucceeded details: got %+v", d)
		}
		if h.Events[3].PreviousEventId != 3 || h.Events[3].Id != 4 {
			t.Errorf("ids: got id %d prev %d, want 4 and 3", h.Events[3].Id, h.Events[3].PreviousEventId)
		}
		rev, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: first.ExecutionArn, ReverseOrder: true, MaxResults: 1})
		if err != nil || len(rev.Events) != 1 || rev.Events[0].Type != sfntypes.HistoryEventTypeExecutionSucceeded || rev.NextToken == nil {
			t.Errorf("reverse page: got %+v %v", rev, err)
		}
	})
	t.Run("unknown execution is ExecutionDoesNotExist", func(t *testing.T) {
		_, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(smARN + ":nope")})
		var ede *sfntypes.ExecutionDoesNotExist
		if !errors.As(err, &ede) {
			t.Errorf("got %v, want ExecutionDoesNotExist", err)
		}
	})
	t.Run("oversized input is InvalidExecutionInput", func(t *testing.T) {
		big := `{"x":"` + strings.Repeat("a", 300*1024) + `"}`
		_, err := start("big", big)
		var iei *sfntypes.InvalidExecutionInput
		if !errors.As(err, &iei) {
			t.Errorf("got %v, want InvalidExecutionInput", err)
		}
	})
}

// TestAPIWithAWSCLI drives the engine with the AWS CLI v2, as a user would.
func TestAPIWithAWSCLI(t *testing.T) {
	const awsBin = "/usr/bin/aws"
	if testing.Short() {
		t.Skip("the AWS CLI takes seconds per call; skipped with -short")
	}
	if _, err := os.Stat(awsBin); err != nil {
		t.Skip("AWS CLI v2 not installed at /usr/bin/aws")
	}
	e, _, _ := newTestEngine(t, true)
	tokens := tokenCatcher(e)
	srv := newServer(t, e)
	cli := func(args ...string) (map[string]any, error) {
		cmd := exec.Command(awsBin, append([]string{"--endpoint-url", srv, "--region", "us-east-1", "--output", "json", "stepfunctions"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_PAGER=", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, errors.New(string(out))
		}
		var m map[string]any
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	created, err := cli("create-state-machine", "--name", "cli", "--definition", callbackDef, "--role-arn", "arn:aws:iam::000000000000:role/x")
	if err != nil {
		t.Fatal(err)
	}
	smARN := created["stateMachineArn"].(string)
	started, err := cli("start-execution", "--state-machine-arn", smARN, "--name", "c1", "--input", `{"who":"cli"}`)
	if err != nil {
		t.Fatal(err)
	}
	execARN := started["executionArn"].(string)
	tok := waitToken(t, tokens)
	if _, err := cli("send-task-success", "--task-token", tok, "--task-output", `{"via":"cli"}`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.WaitExecution(ctx, execARN); err != nil {
		t.Fatal(err)
	}
	d, err := cli("describe-execution", "--execution-arn", execARN)
	if err != nil {
		t.Fatal(err)
	}
	if d["status"] != "SUCCEEDED" || d["output"] != `{"answer":{"via":"cli"},"who":"cli"}` {
		t.Errorf("describe-execution: got %v", d)
	}
	_, err = cli("send-task-success", "--task-token", tok, "--task-output", `{}`)
	if err == nil || !strings.Contains(err.Error(), "TaskTimedOut") {
		t.Errorf("reused token: got %v, want TaskTimedOut", err)
	}
}

// TestAPIBadRequests: malformed calls get AWS-shaped errors, never a panic.
func TestAPIBadRequests(t *testing.T) {
	e, _, _ := newTestEngine(t, true)
	url := newServer(t, e)
	sm := mustCreate(t, e, "bad", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)
	tests := []struct {
		name, method, target, body string
		wantStatus                 int
		wantType                   string
	}{
		{"GET is refused", "GET", "AWSStepFunctions.ListStateMachines", "", 405, "UnknownOperationException"},
		{"unknown target prefix", "POST", "Other.Thing", "{}", 400, "UnknownOperationException"},
		{"unsupported operation", "POST", "AWSStepFunctions.CreateActivity", "{}", 400, "UnknownOperationException"},
		{"malformed JSON body", "POST", "AWSStepFunctions.StartExecution", "{", 400, "SerializationException"},
		{"missing required field", "POST", "AWSStepFunctions.StartExecution", "{}", 400, "ValidationException"},
		{"unknown state machine", "POST", "AWSStepFunctions.StartExecution", `{"stateMachineArn":"arn:aws:states:us-east-1:000000000000:stateMachine:x"}`, 400, "StateMachineDoesNotExist"},
		{"malformed execution input", "POST", "AWSStepFunctions.StartExecution", `{"stateMachineArn":"` + sm + `","input":"{"}`, 400, "InvalidExecutionInput"},
		{"bad token", "POST", "AWSStepFunctions.SendTaskHeartbeat", `{"taskToken":"nope"}`, 400, "InvalidToken"},
		{"bad page token", "POST", "AWSStepFunctions.ListExecutions", `{"stateMachineArn":"` + sm + `","nextToken":"zz"}`, 400, "InvalidToken"},
		{"empty body is an empty request", "POST", "AWSStepFunctions.ListStateMachines", ``, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url, strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status: got %d (%v), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantType != "" && body["__type"] != tt.wantType {
				t.Errorf("__type: got %v, want %s (%v)", body["__type"], tt.wantType, body["message"])
			}
		})
	}
}
