// Package stack is shipgate's CDK app in Go: one stack with a construct per concern
// (storage, notify, functions, workflow, api) wired by NewShipgateStack. The state machine
// it defines is the one local mode runs (shared/workflow/definition.asl.json, checked by
// this package's tests), and every permission is a grant or a resource-scoped statement;
// cdk-nag's AwsSolutions pack runs over it in the tests and at `cdk synth`.
package stack

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/shipgate/shipgate/shared/workflow"
)

// Stack output keys; the CLI (cmd/shipgate/target.go) reads TableName, BucketName,
// StateMachineArn, ConsoleUrl and PipelineName.
const (
	OutWebhookURL      = "WebhookUrl"
	OutConsoleURL      = "ConsoleUrl"
	OutTableName       = "TableName"
	OutBucketName      = "BucketName"
	OutStateMachineArn = "StateMachineArn"
	OutPipelineName    = "PipelineName"
	OutWebhookSecret   = "WebhookSecretArn"
	OutGitHubToken     = "GitHubTokenSecretArn"
	OutUserPoolID      = "UserPoolId"
	OutUserPoolClient  = "UserPoolClientId"
	OutLoginURL        = "LoginUrl"
)

// Props configures the stack.
type Props struct {
	awscdk.StackProps
	Config Config
	// ModuleRoot is the repository root (go.mod); BuildDir holds the compiled bootstraps
	// (default <ModuleRoot>/infra/build, git-ignored).
	ModuleRoot string
	BuildDir   string
}

// ShipgateStack is the synthesized pipeline and its parts, for tests and reports.
type ShipgateStack struct {
	Stack     awscdk.Stack
	Storage   *Storage
	Notify    *Notify
	Functions *Functions
	Workflow  *Workflow
	API       *API
	Alarms    []awscloudwatch.Alarm
}

// StackName is the default CloudFormation stack name for a pipeline: one stack per
// pipeline, so several can live in one account and region.
func StackName(pipeline string) string {
	if pipeline == DefaultPipelineName {
		return "Shipgate"
	}
	return "Shipgate-" + pipeline
}

// NewShipgateStack defines the whole pipeline. It compiles the zip Lambdas (go build) as
// part of the definition, so it fails, naming the package, when a handler is missing.
func NewShipgateStack(scope constructs.Construct, id string, props *Props) (s *ShipgateStack, err error) {
	// CDK validates inside jsii and reports by panicking; a bad value must reach the
	// user as an error naming it instead.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("stack %s: %v", id, r)
		}
	}()
	if props == nil || props.ModuleRoot == "" {
		return nil, fmt.Errorf("stack: Props.ModuleRoot (the repository root) is required")
	}
	cfg := props.Config
	buildDir := props.BuildDir
	if buildDir == "" {
		buildDir = filepath.Join(props.ModuleRoot, "infra", "build")
	}
	sp := props.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("shipgate continuous-delivery pipeline " + cfg.PipelineName)
	}
	st := awscdk.NewStack(scope, jsii.String(id), &sp)
	// Behaviour the stack relies on, whatever cdk.json says: access logs are delivered
	// through a bucket policy (the log bucket has ACLs disabled).
	st.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	s = &ShipgateStack{Stack: st}
	smName := cfg.PipelineName

	s.Storage = NewStorage(st, "Storage", &StorageProps{
		TableName:       cfg.TableName,
		BucketName:      cfg.BucketName,
		GitHubToken:     cfg.Provider() == ProviderGitHub,
		WorkspaceExpiry: awscdk.Duration_Days(jsii.Number(7)),
	})
	s.Notify = NewNotify(st, "Notify", &NotifyProps{Recipients: cfg.Recipients(), AlarmEmails: cfg.NotifyEmails})
	fns, err := NewFunctions(st, "Functions", &FunctionsProps{
		Config: cfg, Storage: s.Storage, Notify: s.Notify, StateMachineName: smName,
		ModuleRoot: props.ModuleRoot, BuildDir: buildDir,
	})
	if err != nil {
		return nil, err
	}
	s.Functions = fns
	s.Workflow = NewWorkflow(st, "Workflow", &WorkflowProps{
		StateMachineName: smName,
		Functions:        func(f workflow.Function) awslambda.IFunction { return fns.Function(f) },
	})
	// CDK's default state machine role gets X-Ray and log-delivery actions that have no
	// resource-level permissions, and lambda:InvokeFunction on "<arn>:*" (any version).
	suppress(s.Workflow.StateMachine.Role(), "AwsSolutions-IAM5",
		"X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs delivery actions do not support resource-level permissions; "+
			"lambda:InvokeFunction on '<function ARN>:*' covers the versions of exactly the state functions.",
		wildcardInvokes(st, fns)...)

	s.API = NewAPI(st, "Api", &APIProps{Handler: fns.Function(workflow.FnAPI), DomainPrefix: cfg.CognitoDomain, PipelineName: cfg.PipelineName})
	fns.AddEnvironment(workflow.EnvBaseURL, s.API.URL(), workflow.FnAPI, workflow.FnApproval, workflow.FnExpire, workflow.FnNotify)
	// The Api function signs console users in itself (the routes are public at API Gateway).
	cognitoEnv := s.API.Environment()
	for _, k := range slices.Sorted(maps.Keys(cognitoEnv)) {
		fns.AddEnvironment(k, cognitoEnv[k], workflow.FnAPI)
	}

	if cfg.Provider() == ProviderCodeCommit {
		s.codeCommitRule(cfg)
	}
	s.alarms()
	s.outputs(cfg)
	return s, nil
}

func wildcardInvokes(st awscdk.Stack, fns *Functions) []string {
	out := []string{"Resource::*", "Action::xray:GetSampling*"}
	for _, f := range workflow.StateFunctions() {
		cfn := fns.Function(f).Node().DefaultChild().(awscdk.CfnElement)
		out = append(out, "Resource::"+getAttTok(st, cfn, "Arn")+":*")
	}
	return out
}

// codeCommitRule starts runs from CodeCommit pushes: branch creations and updates of the
// configured repository. Deliveries the Trigger cannot take, and events it failed on,
// are retried and then kept in a queue (with an alarm), so a push is never silently lost.
func (s *ShipgateStack) codeCommitRule(cfg Config) {
	c := constructs.NewConstruct(s.Stack, jsii.String("CodeCommit"))
	repo := s.Stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("codecommit"), Resource: jsii.String(cfg.Repository), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME})
	dlq := awssqs.NewQueue(c, jsii.String("Undelivered"), &awssqs.QueueProps{
		EnforceSSL:      jsii.Bool(true),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	suppress(dlq, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the CodeCommit push rule's Lambda target.")
	rule := awsevents.NewRule(c, jsii.String("Push"), &awsevents.RuleProps{
		Description: jsii.String("shipgate: CodeCommit branch pushes start a pipeline run"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.codecommit"),
			DetailType: jsii.Strings("CodeCommit Repository State Change"),
			Resources:  &[]*string{repo},
			Detail: &map[string]any{
				"event":         []string{"referenceCreated", "referenceUpdated"},
				"referenceType": []string{"branch"},
			},
		},
	})
	trigger := s.Functions.Function(workflow.FnTrigger)
	rule.AddTarget(awseventstargets.NewLambdaFunction(trigger, &awseventstargets.LambdaFunctionProps{
		RetryAttempts:   jsii.Number(185),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(24)),
		DeadLetterQueue: dlq,
	}))
	// EventBridge hands the event over as an asynchronous invoke; when the Trigger then
	// fails, Lambda retries twice and would drop the event. Keep it in the same queue.
	trigger.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
		OnFailure:     awslambdadestinations.NewSqsDestination(dlq),
	})
	s.Alarms = append(s.Alarms, awscloudwatch.NewAlarm(c, jsii.String("UndeliveredPushes"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("shipgate: a CodeCommit push could not be delivered to the Trigger function"),
		Metric:             dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	}))
}

// alarms: failed runs (ExecutionsFailed: failures, rejections and expiries all end in a
// Fail state) and errors of each function, all to the alarm topic.
func (s *ShipgateStack) alarms() {
	c := constructs.NewConstruct(s.Stack, jsii.String("Alarms"))
	five := awscdk.Duration_Minutes(jsii.Number(5))
	s.Alarms = append(s.Alarms, awscloudwatch.NewAlarm(c, jsii.String("ExecutionsFailed"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("shipgate: a pipeline run ended in a Fail state"),
		Metric:             s.Workflow.StateMachine.MetricFailed(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	}))
	for _, f := range AllFunctions() {
		s.Alarms = append(s.Alarms, awscloudwatch.NewAlarm(c, jsii.String(string(f)+"Errors"), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("shipgate: the " + string(f) + " function returned errors"),
			Metric:             s.Functions.Function(f).MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		}))
	}
	action := awscloudwatchactions.NewSnsAction(s.Notify.Alarms)
	for _, a := range s.Alarms {
		a.AddAlarmAction(action)
	}
}

func (s *ShipgateStack) outputs(cfg Config) {
	out := func(key string, value *string, desc string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(key), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	url := s.API.URL()
	out(OutWebhookURL, awscdk.Fn_Join(jsii.String(""), &[]*string{url, jsii.String(RouteWebhook)}), "GitHub webhook payload URL (content type application/json)")
	out(OutConsoleURL, awscdk.Fn_Join(jsii.String(""), &[]*string{url, jsii.String("/")}), "Console (opening it asks to sign in through Cognito)")
	out(OutTableName, s.Storage.Table.TableName(), "Audit and approvals table")
	out(OutBucketName, s.Storage.Bucket.BucketName(), "Artifacts bucket")
	out(OutStateMachineArn, s.Workflow.StateMachine.StateMachineArn(), "Pipeline state machine")
	out(OutPipelineName, jsii.String(cfg.PipelineName), "Pipeline name")
	out(OutWebhookSecret, s.Storage.WebhookSecret.SecretArn(), "Secret holding the GitHub webhook secret")
	if s.Storage.GitHubToken != nil {
		out(OutGitHubToken, s.Storage.GitHubToken.SecretArn(), "Secret to put a GitHub read token in")
	}
	out(OutUserPoolID, s.API.UserPool.UserPoolId(), "Cognito user pool of console users")
	out(OutUserPoolClient, s.API.Client.UserPoolClientId(), "Cognito app client of the console")
	out(OutLoginURL, s.API.LoginURL(), "Console sign-in (through the Cognito hosted UI)")
}
