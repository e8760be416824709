// Package spec reads the pipeline spec, shipgate.yml, at the root of the user's
// repository: what to build, test, stage, who approves and how to deploy.
package spec

import (
	"encoding/json"
	"fmt"
	"time"
)

// FileName is where the spec lives in the user's repository.
const FileName = "shipgate.yml"

// Spec is a parsed, validated shipgate.yml. It is also what the Build stage stores as
// JSON (BuildResult.SpecKey) for the later stages, so its JSON form is a contract.
type Spec struct {
	// Branches are branch-name globs that run the pipeline; empty means every branch.
	Branches []string `json:"branches,omitempty"`
	// Paths are path globs; a push runs only if it touches one. Empty means any change.
	Paths     []string          `json:"paths,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Build     Step              `json:"build"`
	Test      TestStep          `json:"test"`
	Artifacts []Artifact        `json:"artifacts,omitempty"`
	Approval  Approval          `json:"approval"`
	Deploy    Deploy            `json:"deploy"`
}

// Step is a list of shell commands run with sh -c, in order, under one timeout.
type Step struct {
	Commands []string `json:"commands,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"` // 0 means DefaultStepTimeout
}

// TestStep is a Step plus the JUnit XML report globs to parse.
type TestStep struct {
	Step
	Reports []string `json:"reports,omitempty"`
}

// Artifact names a set of files (globs relative to the repository root) to stage.
type Artifact struct {
	Name  string   `json:"name"`
	Paths []string `json:"paths"`
}

// Approval is who may approve, how many must, and for how long the gate waits.
type Approval struct {
	Approvers         []string `json:"approvers"`          // emails
	Required          int      `json:"required,omitempty"` // 0 means 1
	Timeout           Duration `json:"timeout,omitempty"`  // 0 means DefaultApprovalTimeout
	AllowSelfApproval bool     `json:"allowSelfApproval,omitempty"`
	// Supersede rejects older pending approvals when a newer run reaches the gate. nil
	// means true.
	Supersede *bool `json:"supersede,omitempty"`
}

// Deploy runs commands and/or copies the artifacts to a target.
type Deploy struct {
	Step
	Target *Target `json:"target,omitempty"`
}

// Target is where Deploy copies the staged artifacts.
type Target struct {
	S3 *S3Target `json:"s3,omitempty"`
}

// S3Target is an S3 bucket and key prefix.
type S3Target struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix,omitempty"`
}

// Defaults.
const (
	DefaultStepTimeout     = 10 * time.Minute
	DefaultApprovalTimeout = 72 * time.Hour
)

// RequiredApprovals is Approval.Required with its default applied.
func (a Approval) RequiredApprovals() int {
	if a.Required < 1 {
		return 1
	}
	return a.Required
}

// ApprovalTimeout is Approval.Timeout with its default applied.
func (a Approval) ApprovalTimeout() time.Duration {
	if a.Timeout <= 0 {
		return DefaultApprovalTimeout
	}
	return time.Duration(a.Timeout)
}

// SupersedeOlder is Approval.Supersede with its default applied.
func (a Approval) SupersedeOlder() bool { return a.Supersede == nil || *a.Supersede }

// TimeoutOr is the step's timeout, or DefaultStepTimeout.
func (s Step) TimeoutOr() time.Duration {
	if s.Timeout <= 0 {
		return DefaultStepTimeout
	}
	return time.Duration(s.Timeout)
}

// Duration is a time.Duration written as Go duration text ("90s", "10m", "72h").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
