package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	tasks "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// WorkflowProps configures Workflow.
type WorkflowProps struct {
	// StateMachineName is the physical name; functions build the ARN from it.
	StateMachineName string
	// Functions resolves each state function (Build .. Notify).
	Functions func(workflow.Function) awslambda.IFunction
}

// Workflow is the pipeline state machine: Standard type (a run waits days for a person),
// execution logging without execution data (task tokens and payloads must not reach
// logs), X-Ray tracing, and a timeout on every Task.
type Workflow struct {
	StateMachine sfn.StateMachine
	LogGroup     awslogs.LogGroup
}

// Retry and error names shared by the Tasks. lambdaServiceErrors are the Lambda
// service's own failures, retried like CDK's default retry does, plus throttling
// (TooManyRequests, which CDK's default omits) and the handlers' Transient.
var (
	lambdaServiceErrors = []string{
		"Lambda.ClientExecutionTimeoutException",
		"Lambda.ServiceException",
		"Lambda.AWSLambdaException",
		"Lambda.SdkClientException",
		"Lambda.TooManyRequestsException",
		string(domain.Transient),
	}
	// stageErrors are the named failures of the stages (shared/lambdaerr type names) plus
	// the Task timeout; each ends the run through NotifyFailure with the error in $.error.
	stageErrors = []string{
		string(domain.SpecMissing),
		string(domain.SpecInvalid),
		string(domain.SourceUnavailable),
		string(domain.BuildFailed),
		string(domain.TestsFailed),
		string(domain.StageTimedOut),
		string(domain.ArtifactsMissing),
		string(domain.ArtifactMismatch),
		string(domain.DecisionMissing),
		string(domain.DeployFailed),
		"States.Timeout",
	}
)

// Task timeouts. Stage tasks match Lambda's 15-minute ceiling; the small functions get
// a minute (their Lambda timeout is shorter, so the Lambda reports its own timeout first).
const (
	stageTaskSeconds  = 900
	smallTaskSeconds  = 60
	approvalTimeoutAt = "$.build.approvalTimeoutSeconds"
	// MaxRunDays bounds a whole execution; the approval wait must fit inside it.
	MaxRunDays = 30
)

// Comment is the definition's top-level comment.
const Comment = "shipgate pipeline: build, test, stage, wait for a recorded human decision, deploy."

// NewWorkflow defines the state machine with CDK's Step Functions constructs. The result
// is compared, state by state, with shared/workflow/definition.asl.json, which local mode
// runs; any change here must be regenerated there (go test ./infra/... -update).
func NewWorkflow(scope constructs.Construct, id string, p *WorkflowProps) *Workflow {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := jsii.String
	retry := &sfn.RetryProps{
		Errors:         jsii.Strings(lambdaServiceErrors...),
		Interval:       awscdk.Duration_Seconds(jsii.Number(2)),
		MaxAttempts:    jsii.Number(6),
		BackoffRate:    jsii.Number(2),
		MaxDelay:       awscdk.Duration_Seconds(jsii.Number(30)),
		JitterStrategy: sfn.JitterType_FULL,
	}
	seconds := func(n float64) sfn.Timeout { return sfn.Timeout_Duration(awscdk.Duration_Seconds(jsii.Number(n))) }

	// A stage Task invokes its function by bare ARN (payloadResponseOnly): the whole
	// state is the input and the handler's output lands at resultPath.
	stage := func(name string, fn workflow.Function, resultPath string, timeout float64) tasks.LambdaInvoke {
		t := tasks.NewLambdaInvoke(c, s(name), &tasks.LambdaInvokeProps{
			LambdaFunction:           p.Functions(fn),
			PayloadResponseOnly:      jsii.Bool(true),
			RetryOnServiceExceptions: jsii.Bool(false),
			ResultPath:               s(resultPath),
			TaskTimeout:              seconds(timeout),
		})
		t.AddRetry(retry)
		return t
	}
	notify := func(name, event string) tasks.LambdaInvoke {
		t := tasks.NewLambdaInvoke(c, s(name), &tasks.LambdaInvokeProps{
			LambdaFunction: p.Functions(workflow.FnNotify),
			Payload: sfn.TaskInput_FromObject(&map[string]any{
				"event": event,
				"state": sfn.JsonPath_EntirePayload(),
			}),
			RetryOnServiceExceptions: jsii.Bool(false),
			ResultPath:               sfn.JsonPath_DISCARD(),
			TaskTimeout:              seconds(smallTaskSeconds),
		})
		t.AddRetry(retry)
		return t
	}
	catchTo := func(t tasks.LambdaInvoke, next sfn.IChainable, resultPath string, errs ...string) {
		t.AddCatch(next, &sfn.CatchProps{Errors: jsii.Strings(errs...), ResultPath: s(resultPath)})
	}

	build := stage(workflow.StateBuild, workflow.FnBuild, "$.build", stageTaskSeconds)
	test := stage(workflow.StateTest, workflow.FnTest, "$.test", stageTaskSeconds)
	stg := stage(workflow.StageStage, workflow.FnStage, "$.stage", stageTaskSeconds)
	deploy := stage(workflow.StateDeploy, workflow.FnDeploy, "$.deploy", stageTaskSeconds)
	expire := stage(workflow.StateExpire, workflow.FnExpire, "$.expiry", smallTaskSeconds)

	// RequestApproval stores the pending approval and its token, then the run waits until
	// a decision callback answers the token, or until the spec's approval timeout.
	approval := tasks.NewLambdaInvoke(c, s(workflow.StateRequestApproval), &tasks.LambdaInvokeProps{
		LambdaFunction:     p.Functions(workflow.FnApproval),
		IntegrationPattern: sfn.IntegrationPattern_WAIT_FOR_TASK_TOKEN,
		Payload: sfn.TaskInput_FromObject(&map[string]any{
			"token": sfn.JsonPath_TaskToken(),
			"state": sfn.JsonPath_EntirePayload(),
		}),
		RetryOnServiceExceptions: jsii.Bool(false),
		ResultPath:               s("$.approval"),
		TaskTimeout:              sfn.Timeout_At(s(approvalTimeoutAt)),
	})
	approval.AddRetry(retry)

	notifySuccess := notify(workflow.StateNotifySuccess, workflow.EventSucceeded)
	notifyFailure := notify(workflow.StateNotifyFailure, workflow.EventFailed)
	notifyRejected := notify(workflow.StateNotifyRejected, workflow.EventRejected)
	notifyExpired := notify(workflow.StateNotifyExpired, workflow.EventExpired)

	succeeded := sfn.NewSucceed(c, s(workflow.StateSucceeded), nil)
	skipped := sfn.NewSucceed(c, s(workflow.StateSkipped), nil)
	failed := sfn.NewFail(c, s(workflow.StateFailed), &sfn.FailProps{
		ErrorPath: s("$.error.Error"), CausePath: s("$.error.Cause"),
	})
	rejected := sfn.NewFail(c, s(workflow.StateRejected), &sfn.FailProps{
		Error: s(string(domain.ApprovalRejected)), CausePath: s("$.error.Cause"),
	})
	expired := sfn.NewFail(c, s(workflow.StateExpired), &sfn.FailProps{
		Error: s(string(domain.ApprovalExpired)), Cause: s("no decision before the approval timeout"),
	})

	for _, t := range []tasks.LambdaInvoke{build, test, stg, deploy} {
		catchTo(t, notifyFailure, "$.error", stageErrors...)
		catchTo(t, notifyFailure, "$.error", "States.ALL")
	}
	catchTo(approval, notifyRejected, "$.error", string(domain.ApprovalRejected))
	catchTo(approval, expire, "$.error", "States.Timeout")
	catchTo(approval, notifyFailure, "$.error", "States.ALL")
	catchTo(expire, notifyExpired, "$.expiryError", "States.ALL")
	// A notification that cannot be sent must not change the run's outcome.
	catchTo(notifySuccess, succeeded, "$.notifyError", "States.ALL")
	catchTo(notifyFailure, failed, "$.notifyError", "States.ALL")
	catchTo(notifyRejected, rejected, "$.notifyError", "States.ALL")
	catchTo(notifyExpired, expired, "$.notifyError", "States.ALL")

	filtered := sfn.NewChoice(c, s(workflow.StateFiltered), nil)
	filtered.When(sfn.Condition_BooleanEquals(s("$.build.skipped"), jsii.Bool(true)), skipped, nil)
	filtered.Otherwise(test)
	build.Next(filtered)
	test.Next(stg)
	stg.Next(approval)
	approval.Next(deploy)
	deploy.Next(notifySuccess)
	notifySuccess.Next(succeeded)
	notifyFailure.Next(failed)
	notifyRejected.Next(rejected)
	expire.Next(notifyExpired)
	notifyExpired.Next(expired)

	w := &Workflow{}
	w.LogGroup = awslogs.NewLogGroup(c, s("Logs"), &awslogs.LogGroupProps{
		// The vendedlogs prefix keeps the Logs resource policy small as stacks multiply.
		LogGroupName:  s("/aws/vendedlogs/states/" + p.StateMachineName),
		Retention:     awslogs.RetentionDays_ONE_YEAR,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	w.StateMachine = sfn.NewStateMachine(c, s("StateMachine"), &sfn.StateMachineProps{
		StateMachineName: s(p.StateMachineName),
		StateMachineType: sfn.StateMachineType_STANDARD,
		Comment:          s(Comment),
		DefinitionBody:   sfn.DefinitionBody_FromChainable(build),
		Timeout:          awscdk.Duration_Days(jsii.Number(MaxRunDays)),
		TracingEnabled:   jsii.Bool(true),
		Logs: &sfn.LogOptions{
			Destination:          w.LogGroup,
			Level:                sfn.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
	})
	return w
}
