package domain

import "time"

// Provider is where a push came from.
type Provider string

const (
	ProviderCodeCommit Provider = "codecommit"
	ProviderGitHub     Provider = "github"
	// ProviderLocal is a repository on this machine (local mode). Local pushes travel the
	// CodeCommit event path, so they carry ProviderCodeCommit-shaped events but this
	// provider on the run, which tells the source stage to clone from a path.
	ProviderLocal Provider = "local"
)

// Identity is a person (or system) acting on shipgate: a pusher, an approver, a caller.
type Identity struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Login string `json:"login,omitempty"` // GitHub login or IAM ARN for CodeCommit/CLI callers
}

// Commit is one commit carried by a push.
type Commit struct {
	ID        string    `json:"id"`
	Message   string    `json:"message,omitempty"`
	Author    Identity  `json:"author"`
	Timestamp time.Time `json:"timestamp,omitempty"`
	Added     []string  `json:"added,omitempty"`
	Modified  []string  `json:"modified,omitempty"`
	Removed   []string  `json:"removed,omitempty"`
}

// MaxPushCommits caps the commits a run carries so the execution input stays far below
// Step Functions' 256 KiB; Push.CommitsTruncated says when more were pushed.
const MaxPushCommits = 50

// Push is what a run starts with: everything known about the push that triggered it.
type Push struct {
	Provider         Provider  `json:"provider"`
	Repository       string    `json:"repository"`        // "owner/repo" (GitHub), repo name (CodeCommit), dir (local)
	CloneURL         string    `json:"cloneUrl"`          // https URL, or a filesystem path in local mode
	Ref              string    `json:"ref"`               // refs/heads/main
	Branch           string    `json:"branch"`            // main
	Commit           string    `json:"commit"`            // full 40-hex SHA
	Before           string    `json:"before,omitempty"`  // previous tip of the ref, if known
	Message          string    `json:"message,omitempty"` // head commit message
	Pusher           Identity  `json:"pusher"`            // self-approval is checked against this
	Commits          []Commit  `json:"commits,omitempty"` // at most MaxPushCommits
	CommitsTruncated bool      `json:"commitsTruncated,omitempty"`
	CompareURL       string    `json:"compareUrl,omitempty"`
	ReceivedAt       time.Time `json:"receivedAt"`
	DeliveryID       string    `json:"deliveryId,omitempty"` // X-GitHub-Delivery / EventBridge event id
}

// Run identifies one pipeline run. ID is the Step Functions execution name.
type Run struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Push     Push   `json:"push"`
}

// State is the document the state machine carries from state to state. The execution
// input is {"run": ...}; each Task adds its result under its own key (ResultPath), so
// every field here is a reference or a summary, never a log or an artifact.
type State struct {
	Run      Run           `json:"run"`
	Build    *BuildResult  `json:"build,omitempty"`
	Test     *TestResult   `json:"test,omitempty"`
	Stage    *StageResult  `json:"stage,omitempty"`
	Approval *Decision     `json:"approval,omitempty"`
	Deploy   *DeployResult `json:"deploy,omitempty"`
	Expiry   *Decision     `json:"expiry,omitempty"`
	Error    *StateError   `json:"error,omitempty"`
}

// StateError is what a Catch stores at $.error: Step Functions' {Error, Cause} pair.
type StateError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// StepSummary is common to the results of stages that run user commands.
type StepSummary struct {
	LogKey     string `json:"logKey,omitempty"`  // S3 key of the full log
	LogTail    string `json:"logTail,omitempty"` // last lines, at most LogTailBytes
	ExitCode   int    `json:"exitCode"`
	DurationMs int64  `json:"durationMs"`
}

// LogTailBytes bounds the log tail carried in state and notifications.
const LogTailBytes = 4096

// BuildResult is the Build stage's output ($.build).
type BuildResult struct {
	StepSummary
	// Skipped is true when the spec's branch or path filters exclude this push; the run
	// then ends successfully without building. Reason says why.
	Skipped bool   `json:"skipped"`
	Reason  string `json:"reason,omitempty"`
	// SpecKey is the S3 key of the parsed spec (JSON) that later stages load.
	SpecKey string `json:"specKey,omitempty"`
	// WorkspaceKey is the S3 key of the compressed tar of the built workspace.
	WorkspaceKey string `json:"workspaceKey,omitempty"`
	// ApprovalTimeoutSeconds is the spec's approval timeout; the RequestApproval state's
	// TimeoutSecondsPath points here.
	ApprovalTimeoutSeconds int `json:"approvalTimeoutSeconds"`
}

// TestResult is the Test stage's output ($.test).
type TestResult struct {
	StepSummary
	Passed      int      `json:"passed"`
	Failed      int      `json:"failed"`
	Skipped     int      `json:"skipped"`
	FailedTests []string `json:"failedTests,omitempty"` // at most 20 names
	ReportKeys  []string `json:"reportKeys,omitempty"`
}

// Artifact is one staged file, as listed in a manifest.
type Artifact struct {
	Name   string `json:"name"`   // the spec's artifact name
	Path   string `json:"path"`   // path relative to the workspace
	Key    string `json:"key"`    // S3 key of the immutable copy
	Size   int64  `json:"size"`   // bytes
	SHA256 string `json:"sha256"` // lowercase hex
}

// Manifest is the immutable list of a run's staged artifacts.
type Manifest struct {
	Pipeline  string     `json:"pipeline"`
	Run       string     `json:"run"`
	Commit    string     `json:"commit"`
	CreatedAt time.Time  `json:"createdAt"`
	Artifacts []Artifact `json:"artifacts"`
	// SpecKey and SpecDigest bind the spec (deploy commands and target) to the manifest,
	// so approving the manifest's digest approves how it will be deployed too.
	SpecKey    string `json:"specKey,omitempty"`
	SpecDigest string `json:"specDigest,omitempty"` // "sha256:<hex>" of the stored spec's bytes
}

// StageResult is the Stage stage's output ($.stage).
type StageResult struct {
	ManifestKey    string `json:"manifestKey"`
	ManifestDigest string `json:"manifestDigest"` // "sha256:<hex>" of the manifest object's bytes
	// Artifacts summarizes the manifest for approval mails (at most 20 entries).
	Artifacts  []Artifact `json:"artifacts,omitempty"`
	DurationMs int64      `json:"durationMs"`
}

// DeployResult is the Deploy stage's output ($.deploy).
type DeployResult struct {
	StepSummary
	ManifestDigest string `json:"manifestDigest"`
	Target         string `json:"target,omitempty"` // e.g. s3://bucket/prefix
	// AlreadyDeployed is true when a retry found the deploy marker already written.
	AlreadyDeployed bool `json:"alreadyDeployed,omitempty"`
}
