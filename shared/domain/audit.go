package domain

import "time"

// RecordType names an audit record. The set is a contract with the audit trail's readers.
type RecordType string

const (
	RecRunStarted         RecordType = "run.started"
	RecPushSkipped        RecordType = "push.skipped"   // filtered out, or ignored event (tag, delete)
	RecPushDuplicate      RecordType = "push.duplicate" // redelivery of a push already run
	RecStageStarted       RecordType = "stage.started"
	RecStageFinished      RecordType = "stage.finished"
	RecApprovalRequested  RecordType = "approval.requested"
	RecApprovalDecision   RecordType = "approval.decision" // one approver's approve/reject
	RecApprovalFinal      RecordType = "approval.final"    // the outcome that resumed the run
	RecApprovalRefused    RecordType = "approval.refused"  // bad token, not an approver, self-approval
	RecApprovalExpired    RecordType = "approval.expired"
	RecApprovalSuperseded RecordType = "approval.superseded"
	RecDeployStarted      RecordType = "deploy.started"
	RecDeployFinished     RecordType = "deploy.finished"
	RecRunFinished        RecordType = "run.finished"
)

// Record is one audit trail entry as producers hand it to the audit store. The store
// assigns the ordering key and the hash chain; producers fill the rest.
type Record struct {
	Type     RecordType `json:"type"`
	Pipeline string     `json:"pipeline"`
	RunID    string     `json:"runId,omitempty"`
	Commit   string     `json:"commit,omitempty"`
	Actor    string     `json:"actor"` // email, login/ARN, or "system"
	Time     time.Time  `json:"time"`
	// Stage is set on stage.* records: build, test, stage, deploy.
	Stage string `json:"stage,omitempty"`
	// Outcome: stage outcome (succeeded/failed/timed_out), decision outcome, run status.
	Outcome string `json:"outcome,omitempty"`
	// Channel and ApprovalID are set on approval.* records.
	Channel    Channel `json:"channel,omitempty"`
	ApprovalID string  `json:"approvalId,omitempty"`
	// Detail carries type-specific fields (durationMs, logKey, manifestDigest, reason,
	// comment, push metadata ...). Values must be JSON-encodable.
	Detail map[string]any `json:"detail,omitempty"`
}
