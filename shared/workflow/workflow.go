// Package workflow holds the names that the CDK app and local mode must agree on: the
// state machine's states and functions, the environment variables each Lambda reads, the
// table's key schema, and the golden state machine definition that the CDK app
// synthesizes and local mode runs. It imports neither AWS code nor handler code, so both
// infra and the local stack can depend on it.
package workflow

import (
	_ "embed"
	"regexp"
	"sort"
	"strings"
)

// Definition is the state machine definition synthesized by the CDK app (infra), with each
// Lambda ARN replaced by a placeholder "${<Function>Arn}". The infra tests regenerate it
// (go test ./infra -update) and fail when it drifts; local mode embeds and runs it.
//
//go:embed definition.asl.json
var Definition []byte

// Function is the logical name of one pipeline Lambda.
type Function string

// The pipeline's Lambdas. Each has a handler package under lambdas/<lowercase name>.
const (
	FnTrigger  Function = "Trigger"  // CodeCommit EventBridge events -> StartExecution
	FnAPI      Function = "Api"      // HTTP: GitHub webhook, approval pages, console, /api
	FnBuild    Function = "Build"    // spec + source + build commands + workspace snapshot
	FnTest     Function = "Test"     // restore + test commands + JUnit
	FnStage    Function = "Stage"    // artifacts + manifest
	FnApproval Function = "Approval" // RequestApproval (waitForTaskToken)
	FnExpire   Function = "Expire"   // records an expired approval
	FnDeploy   Function = "Deploy"   // verify decision + digest, deploy
	FnNotify   Function = "Notify"   // success / failure / rejection / expiry messages
)

// StateFunctions are the functions the state machine invokes (not Trigger/Api).
func StateFunctions() []Function {
	return []Function{FnBuild, FnTest, FnStage, FnApproval, FnExpire, FnDeploy, FnNotify}
}

// Placeholder is how a function's ARN appears in the golden Definition.
func Placeholder(f Function) string { return "${" + string(f) + "Arn}" }

// LocalARN is the function ARN local mode substitutes for the placeholder.
func LocalARN(f Function) string {
	return "arn:aws:lambda:us-east-1:000000000000:function:shipgate-" + strings.ToLower(string(f))
}

// Placeholders lists the placeholders present in def, sorted. Local mode refuses to start
// when they differ from the functions it registers (the definition drifted).
func Placeholders(def []byte) []string {
	m := map[string]bool{}
	for _, p := range placeholderRE.FindAllString(string(def), -1) {
		m[p] = true
	}
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

var placeholderRE = regexp.MustCompile(`\$\{[A-Za-z]+Arn\}`)

// Resolve returns def with every placeholder replaced by arn(function).
func Resolve(def []byte, arn func(Function) string) []byte {
	s := string(def)
	for _, f := range StateFunctions() {
		s = strings.ReplaceAll(s, Placeholder(f), arn(f))
	}
	return []byte(s)
}

// State names in the definition. Tests and the console refer to them.
const (
	StateBuild           = "Build"
	StateFiltered        = "Filtered?"
	StateSkipped         = "Skipped"
	StateTest            = "Test"
	StageStage           = "Stage"
	StateRequestApproval = "RequestApproval"
	StateDeploy          = "Deploy"
	StateNotifySuccess   = "NotifySuccess"
	StateSucceeded       = "Succeeded"
	StateNotifyFailure   = "NotifyFailure"
	StateFailed          = "Failed"
	StateNotifyRejected  = "NotifyRejected"
	StateRejected        = "Rejected"
	StateExpire          = "Expire"
	StateNotifyExpired   = "NotifyExpired"
	StateExpired         = "Expired"
)

// Notify events: the "event" field of the Notify function's input.
const (
	EventSucceeded = "succeeded"
	EventFailed    = "failed"
	EventRejected  = "rejected"
	EventExpired   = "expired"
)

// Environment variables the Lambdas read once at start (set by infra, and by local mode).
const (
	EnvTable           = "SHIPGATE_TABLE"               // DynamoDB audit/approvals table name
	EnvBucket          = "SHIPGATE_BUCKET"              // S3 bucket for artifacts, logs, workspaces
	EnvStateMachineARN = "SHIPGATE_STATE_MACHINE"       // ARN of the pipeline state machine
	EnvTopicARN        = "SHIPGATE_TOPIC"               // SNS topic for notifications
	EnvPipeline        = "SHIPGATE_PIPELINE"            // pipeline name (one per stack)
	EnvBaseURL         = "SHIPGATE_BASE_URL"            // public URL of the HTTP API (links)
	EnvSigningKeySec   = "SHIPGATE_SIGNING_KEY_SECRET"  // Secrets Manager id of the link key
	EnvWebhookSecret   = "SHIPGATE_WEBHOOK_SECRET"      // Secrets Manager id of the GitHub secret
	EnvGitHubTokenSec  = "SHIPGATE_GITHUB_TOKEN_SECRET" // Secrets Manager id of the GitHub token
	EnvBranches        = "SHIPGATE_BRANCHES"            // comma-separated branch globs (trigger pre-filter)
	EnvRepository      = "SHIPGATE_REPOSITORY"          // owner/repo or CodeCommit repo name
	EnvNotifyEmails    = "SHIPGATE_NOTIFY_EMAILS"       // comma-separated addresses for run results
	// EnvApprovalTimeout is the deployment's default approval wait in seconds (CDK context
	// approvalTimeout), set on Build: it reports approvalTimeoutSeconds from it when the
	// spec names no approval timeout.
	EnvApprovalTimeout = "SHIPGATE_APPROVAL_TIMEOUT"
	// The console's Cognito sign-in (Api function only; local mode signs in a configured
	// user instead). The issuer defaults to the pool's regional cognito-idp URL.
	EnvCognitoPoolID   = "SHIPGATE_COGNITO_POOL_ID"   // user pool id, e.g. us-east-1_AbC123
	EnvCognitoClientID = "SHIPGATE_COGNITO_CLIENT_ID" // the console's app client (no secret)
	EnvCognitoDomain   = "SHIPGATE_COGNITO_DOMAIN"    // hosted UI base URL, https://<prefix>.auth.<region>.amazoncognito.com
	EnvCognitoIssuer   = "SHIPGATE_COGNITO_ISSUER"    // optional: ID token issuer (other partitions, tests)
)

// Table key schema: one table holds the audit trail and the approvals. Every key
// attribute is a string; every index projects ALL. GSI4 is the pending-approvals index
// (sparse: only pending approval items carry GSI4PK); the audit trail uses the others.
const (
	AttrPK = "PK"
	AttrSK = "SK"
)

// TableIndexes are the global secondary indexes: name -> (partition attr, sort attr).
func TableIndexes() []Index {
	return []Index{
		{Name: "GSI1", PK: "GSI1PK", SK: "GSI1SK"},
		{Name: "GSI2", PK: "GSI2PK", SK: "GSI2SK"},
		{Name: "GSI3", PK: "GSI3PK", SK: "GSI3SK"},
		{Name: "GSI4", PK: "GSI4PK", SK: "GSI4SK"},
		{Name: "GSI5", PK: "GSI5PK", SK: "GSI5SK"},
	}
}

// Index is one global secondary index of the table.
type Index struct{ Name, PK, SK string }
