// Package snsnotify sends shipgate's notifications through one SNS topic, a publish per
// recipient carrying notify.RecipientAttribute, which each email subscription's filter
// policy matches. It is apart from shared/notify so that the Lambdas that only name a
// notify.Sender (every one, through app.Deps) do not link the SNS client: about 200 KB
// of the 12 MB each may weigh.
package snsnotify

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/shipgate/shipgate/shared/notify"
)

// SNSAPI is the part of the SNS client the sender uses.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS sends each message as one plain-text Publish per recipient to a topic.
type SNS struct {
	api   SNSAPI
	topic string
}

var _ notify.Sender = (*SNS)(nil)

// New returns a sender publishing to topicARN.
func New(api SNSAPI, topicARN string) (*SNS, error) {
	if api == nil {
		return nil, fmt.Errorf("snsnotify: SNS client is nil")
	}
	if topicARN == "" {
		return nil, fmt.Errorf("snsnotify: SNS topic ARN is empty")
	}
	return &SNS{api: api, topic: topicARN}, nil
}

// Send publishes once per recipient; it stops at the first failure and names the
// recipient, so a retry knows the message may have reached earlier recipients.
func (s *SNS) Send(ctx context.Context, m notify.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	subject := snsSubject(m.Subject)
	for _, to := range m.To {
		_, err := s.api.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(s.topic),
			Subject:  aws.String(subject),
			Message:  aws.String(m.Text),
			MessageAttributes: map[string]types.MessageAttributeValue{
				notify.RecipientAttribute: {DataType: aws.String("String"), StringValue: aws.String(notify.NormalizeEmail(to))},
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
	for _, r := range strings.Join(strings.Fields(s), " ") {
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
