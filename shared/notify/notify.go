// Package notify sends shipgate's messages to people: approval requests (one private
// message per approver), and run results. On AWS messages go through SNS (plain text,
// one publish per recipient with a message attribute that the recipient's email
// subscription filters on; the sender is in shared/notify/snsnotify); locally they are
// written to an outbox directory as RFC 5322 .eml files and summarized on the terminal.
package notify

import "context"

// Message is one notification to one or more recipients. Approval links are private, so
// a message carrying one must have exactly one recipient.
type Message struct {
	To      []string // email addresses
	Subject string
	Text    string // plain text body (what SNS email delivers)
	HTML    string // optional HTML alternative (outbox only)
	// Links are absolute URLs in the body worth showing on a terminal summary.
	Links []string
	// Kind tags the message for filtering/logging: approval.request, run.succeeded, ...
	Kind string
	// RunID ties the message to a run (logged with the summary).
	RunID string
}

// Sender delivers messages. Implementations: Outbox (local), snsnotify.SNS (AWS).
type Sender interface {
	Send(ctx context.Context, m Message) error
}
