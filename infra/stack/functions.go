package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/shipgate/shipgate/infra/gobuild"
	"github.com/shipgate/shipgate/shared/workflow"
)

// EnvApprovalTimeout carries the approvalTimeout context value (seconds) to Build, which
// puts it in its output as approvalTimeoutSeconds when the spec names no timeout.
const EnvApprovalTimeout = workflow.EnvApprovalTimeout

// FunctionsProps configures Functions.
type FunctionsProps struct {
	Config  Config
	Storage *Storage
	Notify  *Notify
	// StateMachineName is the pipeline state machine's physical name. Functions reach the
	// state machine through an ARN built from it, never through a reference to the
	// resource: the state machine references the stage functions, so a reference back
	// (env var or IAM statement) would be a dependency cycle.
	StateMachineName string
	// ModuleRoot is the repository root (go.mod); BuildDir receives one directory per zip
	// function holding its bootstrap.
	ModuleRoot string
	BuildDir   string
}

// Functions are the nine pipeline Lambdas, each with its own role (no managed policies),
// its own log group and only the permissions its handler uses.
type Functions struct {
	ByName map[workflow.Function]awslambda.Function
	// Builds reports each zip function's compiled bootstrap (size, build time).
	Builds map[workflow.Function]gobuild.Result
	// StateMachine is the pipeline state machine as the functions see it (by ARN).
	StateMachine awsstepfunctions.IStateMachine
	roles        map[workflow.Function]awsiam.Role
	wildcards    map[workflow.Function]map[string][]string // reason -> appliesTo
}

// Function returns the named Lambda.
func (f *Functions) Function(name workflow.Function) awslambda.Function { return f.ByName[name] }

// fnSpec is one function's runtime shape.
type fnSpec struct {
	name      workflow.Function
	image     bool // container image (Build, Test: they run user commands and need toolchains)
	memoryMiB int
	timeout   awscdk.Duration
	disk      int // MiB of /tmp
	desc      string
}

// Packages are the handler main packages, one per function, relative to the module root.
func Packages() map[workflow.Function]string {
	out := map[workflow.Function]string{}
	for _, f := range AllFunctions() {
		out[f] = "./lambdas/" + strings.ToLower(string(f)) + "/cmd"
	}
	return out
}

// AllFunctions lists the nine functions: the entry points and the state functions.
func AllFunctions() []workflow.Function {
	return append([]workflow.Function{workflow.FnTrigger, workflow.FnAPI}, workflow.StateFunctions()...)
}

// ImageFunctions are built as container images from infra/image/Dockerfile.
func ImageFunctions() []workflow.Function {
	return []workflow.Function{workflow.FnBuild, workflow.FnTest}
}

// NewFunctions builds every zip function's bootstrap (go build, linux/arm64) and creates
// the functions. A handler package that does not exist yet is an error naming it.
func NewFunctions(scope constructs.Construct, id string, p *FunctionsProps) (*Functions, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	cfg := p.Config
	f := &Functions{
		ByName:    map[workflow.Function]awslambda.Function{},
		Builds:    map[workflow.Function]gobuild.Result{},
		roles:     map[workflow.Function]awsiam.Role{},
		wildcards: map[workflow.Function]map[string][]string{},
	}
	smArn := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String("stateMachine"),
		ResourceName: jsii.String(p.StateMachineName), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	f.StateMachine = awsstepfunctions.StateMachine_FromStateMachineArn(c, jsii.String("Pipeline"), smArn)

	buildTimeout := awscdk.Duration_Seconds(jsii.Number(cfg.BuildTimeout.Seconds()))
	specs := []fnSpec{
		{workflow.FnTrigger, false, 256, awscdk.Duration_Seconds(jsii.Number(30)), 512, "CodeCommit push events -> one execution per push"},
		{workflow.FnAPI, false, 512, awscdk.Duration_Seconds(jsii.Number(29)), 512, "HTTP: GitHub webhook, approval pages, console, /api"},
		{workflow.FnBuild, true, cfg.BuildMemoryMiB, buildTimeout, 10240, "Build stage: source at the commit, build commands, workspace snapshot"},
		{workflow.FnTest, true, cfg.BuildMemoryMiB, buildTimeout, 10240, "Test stage: restore the workspace, test commands, reports"},
		{workflow.FnStage, false, 1024, awscdk.Duration_Minutes(jsii.Number(15)), 10240, "Stage: artifacts with SHA-256, immutable manifest"},
		{workflow.FnApproval, false, 256, awscdk.Duration_Seconds(jsii.Number(50)), 512, "RequestApproval: pending approval, private links to approvers"},
		{workflow.FnExpire, false, 256, awscdk.Duration_Seconds(jsii.Number(50)), 512, "Records an approval that expired"},
		{workflow.FnDeploy, false, 1024, awscdk.Duration_Minutes(jsii.Number(15)), 10240, "Deploy: verify the recorded decision and digests, then deploy"},
		{workflow.FnNotify, false, 256, awscdk.Duration_Seconds(jsii.Number(50)), 512, "Run result notifications"},
	}
	pkgs := Packages()
	for _, s := range specs {
		role := awsiam.NewRole(c, jsii.String(string(s.name)+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("shipgate " + string(s.name) + " function"),
		})
		logs := awslogs.NewLogGroup(c, jsii.String(string(s.name)+"Logs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_THREE_MONTHS,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		logs.GrantWrite(role)
		env := &map[string]*string{
			workflow.EnvTable:    p.Storage.Table.TableName(),
			workflow.EnvPipeline: jsii.String(cfg.PipelineName),
		}
		var fn awslambda.Function
		if s.image {
			code := awslambda.DockerImageCode_FromImageAsset(jsii.String(p.ModuleRoot), &awslambda.AssetImageCodeProps{
				File:      jsii.String("infra/image/Dockerfile"),
				BuildArgs: &map[string]*string{"HANDLER": jsii.String(strings.ToLower(string(s.name)))},
				Platform:  awsecrassets.Platform_LINUX_ARM64(),
				Exclude:   jsii.Strings(imageExcludes...),
			})
			if err := gobuild.CheckPackage(p.ModuleRoot, pkgs[s.name]); err != nil {
				return nil, fmt.Errorf("function %s: %w", s.name, err)
			}
			fn = awslambda.NewDockerImageFunction(c, jsii.String(string(s.name)), &awslambda.DockerImageFunctionProps{
				Code:                 code,
				Architecture:         awslambda.Architecture_ARM_64(),
				MemorySize:           jsii.Number(float64(s.memoryMiB)),
				Timeout:              s.timeout,
				EphemeralStorageSize: awscdk.Size_Mebibytes(jsii.Number(float64(s.disk))),
				Role:                 role,
				LogGroup:             logs,
				Environment:          env,
				Description:          jsii.String(s.desc),
			})
		} else {
			res, err := gobuild.Build(context.Background(), gobuild.Options{
				ModuleRoot: p.ModuleRoot,
				Package:    pkgs[s.name],
				OutDir:     filepath.Join(p.BuildDir, strings.ToLower(string(s.name))),
			})
			if err != nil {
				return nil, fmt.Errorf("function %s: %w", s.name, err)
			}
			f.Builds[s.name] = res
			fn = awslambda.NewFunction(c, jsii.String(string(s.name)), &awslambda.FunctionProps{
				Runtime:              awslambda.Runtime_PROVIDED_AL2023(),
				Architecture:         awslambda.Architecture_ARM_64(),
				Handler:              jsii.String("bootstrap"),
				Code:                 awslambda.Code_FromAsset(jsii.String(filepath.Dir(res.Path)), nil),
				MemorySize:           jsii.Number(float64(s.memoryMiB)),
				Timeout:              s.timeout,
				EphemeralStorageSize: awscdk.Size_Mebibytes(jsii.Number(float64(s.disk))),
				Role:                 role,
				LogGroup:             logs,
				Environment:          env,
				Description:          jsii.String(s.desc),
			})
		}
		f.ByName[s.name] = fn
		f.roles[s.name] = role
		f.wildcards[s.name] = map[string][]string{}
	}
	f.grant(stack, p)
	return f, nil
}

// deployMarkerPartition is the partition-key pattern of the Deploy function's markers
// (lambdas/deploy), the only items any function may delete.
const deployMarkerPartition = "RUN#*"

// imageExcludes keep the container build context to the Go sources: no Node tools, no
// previous assemblies (which would nest), no local data.
var imageExcludes = []string{
	".git", "node_modules", "cdk.out", "infra/cdk.out", "infra/build", ".shipgate", "bin", "*.test", "*.prof", "shipgate",
}

// AddEnvironment sets key=value on each named function (values known only after the
// functions exist, such as the API's URL).
func (f *Functions) AddEnvironment(key string, value *string, names ...workflow.Function) {
	for _, n := range names {
		f.ByName[n].AddEnvironment(jsii.String(key), value, nil)
	}
}

// grant gives each function the environment and permissions its handler uses, and
// nothing else. Table access is split: every function appends audit records (the audit
// store writes conditionally with PutItem and reads with GetItem/Query); only Trigger
// and the decision path (Api, Approval, Expire, Deploy) update items (push claims,
// approval state, the deploy marker); only Deploy deletes, and only in RUN# partitions
// (its markers), never audit records; no function may scan.
func (f *Functions) grant(stack awscdk.Stack, p *FunctionsProps) {
	cfg := p.Config
	st := p.Storage
	bucketTok := getAttTok(stack, st.Bucket.Node().DefaultChild().(awscdk.CfnElement), "Arn")
	tableTok := getAttTok(stack, st.Table.Node().DefaultChild().(awscdk.CfnElement), "Arn")
	env := func(name workflow.Function, kv ...*string) {
		for i := 0; i+1 < len(kv); i += 2 {
			f.ByName[name].AddEnvironment(kv[i], kv[i+1], nil)
		}
	}
	s := jsii.String

	// DynamoDB: one table, scoped to it and its indexes.
	for _, name := range AllFunctions() {
		actions := []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"}
		switch name {
		case workflow.FnTrigger, workflow.FnAPI, workflow.FnApproval, workflow.FnExpire, workflow.FnDeploy:
			// push claims (Trigger, and Api for GitHub), approval state, the deploy marker
			actions = append(actions, "dynamodb:UpdateItem")
		}
		if name == workflow.FnDeploy {
			// Deploy releases its own deploy marker (RUN#<run>/DEPLOY) when an attempt
			// stopped before any side effect. The delete is limited to RUN# partitions,
			// so the audit chain (PIPE#<pipeline>) stays out of reach of every role.
			f.roles[name].AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("dynamodb:DeleteItem"),
				Resources: &[]*string{st.Table.TableArn()},
				Conditions: &map[string]any{"ForAllValues:StringLike": map[string]any{
					"dynamodb:LeadingKeys": []string{deployMarkerPartition},
				}},
			}))
		}
		st.Table.Grant(f.roles[name], *jsii.Strings(actions...)...)
		f.wild(name, "The table's global secondary indexes (GSI1..GSI5) are queried by name under table/index/; only this table's indexes match.",
			"Resource::"+tableTok+"/index/*")
	}

	// S3: objects under <prefix><pipeline>/ only; keys are per run, so the resource is a prefix.
	read := map[workflow.Function][]string{
		workflow.FnAPI:      {prefixRuns, prefixLogs, prefixReports, prefixArtifacts},
		workflow.FnTest:     {prefixRuns, prefixWorkspaces},
		workflow.FnStage:    {prefixRuns, prefixWorkspaces},
		workflow.FnApproval: {prefixRuns, prefixArtifacts},
		workflow.FnDeploy:   {prefixRuns, prefixArtifacts},
		workflow.FnNotify:   {prefixRuns, prefixLogs},
	}
	write := map[workflow.Function][]string{
		workflow.FnBuild:  {prefixRuns, prefixWorkspaces, prefixLogs},
		workflow.FnTest:   {prefixLogs, prefixReports},
		workflow.FnStage:  {prefixArtifacts, prefixLogs},
		workflow.FnDeploy: {prefixLogs},
	}
	for _, name := range AllFunctions() {
		if len(read[name]) == 0 && len(write[name]) == 0 {
			continue
		}
		env(name, s(workflow.EnvBucket), st.Bucket.BucketName())
		var objs, prefixes []string
		for _, pre := range read[name] {
			objs = append(objs, pre+cfg.PipelineName+"/*")
			prefixes = append(prefixes, pre+cfg.PipelineName+"/*")
		}
		if len(objs) > 0 {
			f.statement(name, []string{"s3:GetObject"}, objectArns(st, objs)...)
			// ListBucket lets a missing key read as NoSuchKey rather than AccessDenied.
			f.roles[name].AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:    jsii.Strings("s3:ListBucket"),
				Resources:  &[]*string{st.Bucket.BucketArn()},
				Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}},
			}))
		}
		var wobjs []string
		for _, pre := range write[name] {
			wobjs = append(wobjs, pre+cfg.PipelineName+"/*")
		}
		if len(wobjs) > 0 {
			f.statement(name, []string{"s3:PutObject", "s3:AbortMultipartUpload"}, objectArns(st, wobjs)...)
		}
		var applies []string
		for _, o := range uniq(append(objs, wobjs...)) {
			applies = append(applies, "Resource::"+bucketTok+"/"+o)
		}
		f.wild(name, "S3 keys carry the run id, unknown at deploy time; access is limited to this pipeline's prefixes that the handler reads or writes.", applies...)
	}

	// Deploy targets named in the context (the spec's deploy.s3 buckets).
	for _, b := range cfg.DeployBuckets {
		arn := "arn:" + *awscdk.Aws_PARTITION() + ":s3:::" + b
		f.statement(workflow.FnDeploy, []string{"s3:PutObject", "s3:AbortMultipartUpload"}, arn+"/*")
		f.statement(workflow.FnDeploy, []string{"s3:ListBucket"}, arn)
		f.wild(workflow.FnDeploy, "Deploy copies a run's artifacts into the deploy target buckets the operator listed in the deployBuckets context; object keys come from the spec.",
			"Resource::arn:<AWS::Partition>:s3:::"+b+"/*")
	}

	// Step Functions. Trigger and Api start runs; Api (decisions from links, console and
	// CLI) and Approval (superseding older pending approvals) answer task tokens, and
	// only for this state machine. Nobody else may touch executions.
	sm := f.StateMachine
	execArn := stack.FormatArn(&awscdk.ArnComponents{
		Service: s("states"), Resource: s("execution"),
		ResourceName: s(p.StateMachineName + ":*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	execTok := "Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:" + p.StateMachineName + ":*"
	for _, name := range []workflow.Function{workflow.FnTrigger, workflow.FnAPI} {
		sm.GrantStartExecution(f.roles[name])
		f.statement(name, []string{"states:DescribeExecution"}, *execArn)
		f.wild(name, "Execution names derive from each push (idempotent starts), so the resource is this state machine's executions.", execTok)
	}
	f.statement(workflow.FnAPI, []string{"states:ListExecutions"}, *sm.StateMachineArn())
	f.statement(workflow.FnAPI, []string{"states:GetExecutionHistory"}, *execArn)
	for _, name := range []workflow.Function{workflow.FnAPI, workflow.FnApproval} {
		sm.GrantTaskResponse(f.roles[name])
	}
	for _, name := range []workflow.Function{workflow.FnTrigger, workflow.FnAPI, workflow.FnApproval} {
		env(name, s(workflow.EnvStateMachineARN), sm.StateMachineArn())
	}

	// Secrets.
	st.WebhookSecret.GrantRead(f.roles[workflow.FnAPI], nil)
	env(workflow.FnAPI, s(workflow.EnvWebhookSecret), st.WebhookSecret.SecretArn())
	for _, name := range []workflow.Function{workflow.FnAPI, workflow.FnApproval} {
		st.SigningKey.GrantRead(f.roles[name], nil)
		env(name, s(workflow.EnvSigningKeySec), st.SigningKey.SecretArn())
	}
	if st.GitHubToken != nil {
		st.GitHubToken.GrantRead(f.roles[workflow.FnBuild], nil)
		env(workflow.FnBuild, s(workflow.EnvGitHubTokenSec), st.GitHubToken.SecretArn())
	}

	// SNS: Approval (links), Expire (telling approvers the wait ended) and Notify (run
	// results) publish; the topic's key must encrypt.
	for _, name := range []workflow.Function{workflow.FnApproval, workflow.FnExpire, workflow.FnNotify} {
		f.statement(name, []string{"sns:Publish"}, *p.Notify.Topic.TopicArn())
		f.statement(name, []string{"kms:GenerateDataKey", "kms:Decrypt"}, *p.Notify.Key.KeyArn())
		env(name, s(workflow.EnvTopicARN), p.Notify.Topic.TopicArn())
	}
	env(workflow.FnNotify, s(workflow.EnvNotifyEmails), s(strings.Join(cfg.NotifyEmails, ",")))

	// Repository and branch filter.
	for _, name := range []workflow.Function{workflow.FnTrigger, workflow.FnAPI, workflow.FnBuild} {
		env(name, s(workflow.EnvRepository), s(cfg.Repository), s(workflow.EnvBranches), s(strings.Join(cfg.Branches, ",")))
	}
	env(workflow.FnBuild, s(EnvApprovalTimeout), s(fmt.Sprint(int(cfg.ApprovalTimeout.Seconds()))))
	if cfg.Provider() == ProviderCodeCommit {
		repo := stack.FormatArn(&awscdk.ArnComponents{Service: s("codecommit"), Resource: s(cfg.Repository), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME})
		// The trigger lists a push's commits (GetCommit); Build clones over HTTPS git
		// with the role's credentials (GitPull).
		f.statement(workflow.FnTrigger, []string{"codecommit:GetCommit"}, *repo)
		f.statement(workflow.FnBuild, []string{"codecommit:GitPull", "codecommit:GetCommit"}, *repo)
	}

	for _, name := range AllFunctions() {
		f.suppressWildcards(name)
	}
}

// statement adds one resource-scoped statement to a function's role.
func (f *Functions) statement(name workflow.Function, actions []string, resources ...string) {
	f.roles[name].AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}))
}

// wild notes a wildcard resource that cdk-nag (IAM5) will report, with why it is needed.
func (f *Functions) wild(name workflow.Function, reason string, appliesTo ...string) {
	if len(appliesTo) == 0 {
		return
	}
	f.wildcards[name][reason] = append(f.wildcards[name][reason], appliesTo...)
}

// suppressWildcards accepts exactly the noted wildcards on the function's role; any
// other wildcard stays a finding.
func (f *Functions) suppressWildcards(name workflow.Function) {
	w := f.wildcards[name]
	if len(w) == 0 {
		return
	}
	var reasons, applies []string
	for r, a := range w {
		reasons = append(reasons, r)
		applies = append(applies, a...)
	}
	sort.Strings(reasons)
	suppress(f.roles[name], "AwsSolutions-IAM5", strings.Join(reasons, " "), uniq(applies)...)
}

func objectArns(st *Storage, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = *st.Bucket.ArnForObjects(jsii.String(k))
	}
	return out
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
