package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// RecipientAttribute is the SNS message attribute each email subscription filters on.
// Approval links are private to one approver, and SNS otherwise sends every message to
// every subscriber, so the publisher sets it to the one address a message is for.
const RecipientAttribute = "recipient"

// NotifyProps configures Notify.
type NotifyProps struct {
	// Recipients get one email subscription each, filtered to messages addressed to them.
	Recipients []string
	// AlarmEmails get every CloudWatch alarm (unfiltered subscriptions on the alarm topic).
	AlarmEmails []string
}

// Notify is the outbound mail path: the KMS-encrypted, TLS-only topic the Approval and
// Notify functions publish to, and a second topic for CloudWatch alarms (alarms carry no
// recipient attribute, so they cannot share the filtered subscriptions).
type Notify struct {
	Key    awskms.Key
	Topic  awssns.Topic
	Alarms awssns.Topic
}

// NewNotify creates the topics, their key and the email subscriptions under scope/id.
func NewNotify(scope constructs.Construct, id string, props *NotifyProps) *Notify {
	c := constructs.NewConstruct(scope, jsii.String(id))
	n := &Notify{}
	n.Key = awskms.NewKey(c, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("shipgate: encrypts the notification and alarm topics"),
		EnableKeyRotation: jsii.Bool(true),
		// Only in-flight SNS messages are encrypted with it; nothing needs it after teardown.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(7)),
	})
	// CloudWatch publishes alarms to the encrypted alarm topic with its own principal,
	// which needs the key to encrypt the message.
	n.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
	}), nil)
	n.Topic = awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		DisplayName: jsii.String("shipgate"),
		MasterKey:   n.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	for _, email := range props.Recipients {
		awssns.NewSubscription(c, jsii.String("Recipient"+shortHash(email)), &awssns.SubscriptionProps{
			Topic:    n.Topic,
			Protocol: awssns.SubscriptionProtocol_EMAIL,
			Endpoint: jsii.String(email),
			FilterPolicy: &map[string]awssns.SubscriptionFilter{
				// Both spellings: a publisher may normalize the address to lower case.
				RecipientAttribute: awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{
					Allowlist: jsii.Strings(uniq([]string{email, strings.ToLower(email)})...),
				}),
			},
		})
	}
	n.Alarms = awssns.NewTopic(c, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("shipgate alarms"),
		MasterKey:   n.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	for _, email := range props.AlarmEmails {
		awssns.NewSubscription(c, jsii.String("Alarm"+shortHash(email)), &awssns.SubscriptionProps{
			Topic:    n.Alarms,
			Protocol: awssns.SubscriptionProtocol_EMAIL,
			Endpoint: jsii.String(email),
		})
	}
	return n
}

// shortHash gives a subscription a logical ID that depends only on its address, so
// reordering the context list does not replace subscriptions (each replacement would
// make the person confirm by email again).
func shortHash(s string) string {
	h := sha256.Sum256([]byte(strings.ToLower(s)))
	return hex.EncodeToString(h[:])[:10]
}
