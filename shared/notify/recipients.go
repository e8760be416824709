package notify

import (
	"encoding/json"
	"strings"
)

// RecipientAttribute is the message attribute every publish carries: the recipient's
// email, lowercased. Each email subscription of the topic has the filter policy
// FilterPolicy(email), so a publish reaches exactly one person even though all share the
// topic; that keeps per-approver links private.
const RecipientAttribute = "recipient"

// FilterPolicy is the subscription filter policy (JSON) that selects messages for email.
// The CDK app sets it on each approver's email subscription.
func FilterPolicy(email string) string {
	b, _ := json.Marshal(map[string][]string{RecipientAttribute: {NormalizeEmail(email)}})
	return string(b)
}

// NormalizeEmail is the form recipients are matched in (trimmed, lowercase).
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
