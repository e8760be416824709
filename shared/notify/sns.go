package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
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

// SNSAPI is the part of the SNS client the sender uses.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS sends each message as one plain-text Publish per recipient to a topic.
type SNS struct {
	api   SNSAPI
	topic string
}

var _ Sender = (*SNS)(nil)

// NewSNS returns a sender publishing to topicARN.
func NewSNS(api SNSAPI, topicARN string) (*SNS, error) {
	if api == nil {
		return nil, fmt.Errorf("notify: SNS client is nil")
	}
	if topicARN == "" {
		return nil, fmt.Errorf("notify: SNS topic ARN is empty")
	}
	return &SNS{api: api, topic: topicARN}, nil
}

// Send publishes once per recipient; it stops at the first failure and names the
// recipient, so a retry knows the message may have reached earlier recipients.
func (s *SNS) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	subject := snsSubject(m.Subject)
	for _, to := range m.To {
		_, err := s.api.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(s.topic),
			Subject:  aws.String(subject),
			Message:  aws.String(m.Text),
			MessageAttributes: map[string]types.MessageAttributeValue{
				RecipientAttribute: {DataType: aws.String("String"), StringValue: aws.String(NormalizeEmail(to))},
			},
		})
		if err != nil {
			return fmt.Errorf("notify: publish to %s: %w", to, err)
		}
	}
	return nil
}

// snsSubject fits SNS's subject rules: ASCII, no line breaks, under 100 characters.
func snsSubject(s string) string {
	var b strings.Builder
	for _, r := range oneLine(s) {
		if r < 128 && unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('?')
		}
	}
	out := b.String()
	if len(out) > 99 {
		out = out[:96] + "..."
	}
	return out
}
