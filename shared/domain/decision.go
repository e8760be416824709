package domain

import "time"

// Outcome is what an approval ended as.
type Outcome string

const (
	Approved   Outcome = "approved"
	Rejected   Outcome = "rejected"
	Expired    Outcome = "expired"
	Superseded Outcome = "superseded"
)

// Channel is how a decision reached shipgate.
type Channel string

const (
	ChannelEmail   Channel = "email"
	ChannelConsole Channel = "console"
	ChannelCLI     Channel = "cli"
	ChannelSystem  Channel = "system" // expiry, superseding
)

// Decision is one recorded approval decision. The final decision of a run is what the
// RequestApproval task resumes with ($.approval) and what Deploy re-reads before acting.
type Decision struct {
	ApprovalID     string    `json:"approvalId"`
	Pipeline       string    `json:"pipeline"`
	RunID          string    `json:"runId"`
	Commit         string    `json:"commit"`
	Outcome        Outcome   `json:"outcome"`
	Approvers      []string  `json:"approvers,omitempty"` // who approved (quorum) or who rejected
	Channel        Channel   `json:"channel"`
	Comment        string    `json:"comment,omitempty"`
	ManifestDigest string    `json:"manifestDigest"` // what was shown and approved
	DecidedAt      time.Time `json:"decidedAt"`
}
