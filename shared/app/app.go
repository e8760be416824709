// Package app is the wiring every Lambda main and local mode share: the typed
// configuration read once from the environment, and the AWS clients built from it. A
// handler package exports New(cfg app.Config, deps *app.Deps) (*Handler, error), so the
// same constructor serves `lambda.Start` on AWS and in-process invocation locally.
package app

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/workflow"
)

// Config is what a Lambda reads from its environment at start (see workflow.Env*).
type Config struct {
	Table           string
	Bucket          string
	StateMachineARN string
	TopicARN        string
	Pipeline        string
	BaseURL         string // absolute, no trailing slash; links in messages start with it
	SigningKeySec   string
	WebhookSecret   string
	GitHubTokenSec  string
	Repository      string
	Branches        []string
	NotifyEmails    []string
	// Cognito sign-in of the console on AWS (see shared/webauth); all empty: no sessions.
	CognitoPoolID   string
	CognitoClientID string
	CognitoDomain   string // hosted UI base URL, no trailing slash
	CognitoIssuer   string // "" derives https://cognito-idp.<region>.amazonaws.com/<pool>
	// ApprovalTimeout is the deployment's default wait for a decision, used when the
	// spec names none (0: the spec package's default).
	ApprovalTimeout time.Duration
	Endpoints       awsclient.Endpoints // empty on AWS
}

// FromEnv reads Config from the environment. Only what every function needs is required.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Table:           getenv(workflow.EnvTable),
		Bucket:          getenv(workflow.EnvBucket),
		StateMachineARN: getenv(workflow.EnvStateMachineARN),
		TopicARN:        getenv(workflow.EnvTopicARN),
		Pipeline:        getenv(workflow.EnvPipeline),
		BaseURL:         strings.TrimRight(getenv(workflow.EnvBaseURL), "/"),
		SigningKeySec:   getenv(workflow.EnvSigningKeySec),
		WebhookSecret:   getenv(workflow.EnvWebhookSecret),
		GitHubTokenSec:  getenv(workflow.EnvGitHubTokenSec),
		Repository:      getenv(workflow.EnvRepository),
		Branches:        splitList(getenv(workflow.EnvBranches)),
		NotifyEmails:    splitList(getenv(workflow.EnvNotifyEmails)),
		CognitoPoolID:   getenv(workflow.EnvCognitoPoolID),
		CognitoClientID: getenv(workflow.EnvCognitoClientID),
		CognitoDomain:   strings.TrimRight(getenv(workflow.EnvCognitoDomain), "/"),
		CognitoIssuer:   strings.TrimRight(getenv(workflow.EnvCognitoIssuer), "/"),
	}
	if v := getenv(workflow.EnvApprovalTimeout); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs <= 0 {
			return c, fmt.Errorf("%s=%q: want a positive number of seconds", workflow.EnvApprovalTimeout, v)
		}
		c.ApprovalTimeout = time.Duration(secs) * time.Second
	}
	var missing []string
	if c.Table == "" {
		missing = append(missing, workflow.EnvTable)
	}
	if c.Pipeline == "" {
		missing = append(missing, workflow.EnvPipeline)
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Deps are the clients and services a handler is built from. On AWS, NewDeps builds
// them; local mode fills the same struct with clients pointed at the stand-ins, the
// outbox sender, a key file's signing key and, in tests, a virtual clock.
type Deps struct {
	AWS      aws.Config
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SFN      *sfn.Client
	// Notify sends messages; nil means "SNS on Config.TopicARN" (the handler builds it).
	Notify notify.Sender
	// SigningKey signs approval links (HMAC-SHA256); locally from a key file under the data
	// dir, on AWS from Secrets Manager (Config.SigningKeySec), loaded by whoever needs it.
	SigningKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Clock returns d.Now or time.Now.
func (d *Deps) Clock() func() time.Time {
	if d.Now != nil {
		return d.Now
	}
	return time.Now
}

// NewDeps builds AWS clients for cfg (real AWS, or cfg.Endpoints when set).
func NewDeps(ctx context.Context, cfg Config) (*Deps, error) {
	ac, err := awsclient.Load(ctx, cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	return &Deps{
		AWS:      ac,
		S3:       awsclient.S3(ac, cfg.Endpoints),
		DynamoDB: awsclient.DynamoDB(ac, cfg.Endpoints),
		SFN:      awsclient.SFN(ac, cfg.Endpoints),
	}, nil
}

// Load is what every Lambda's main does first: the configuration from getenv, then the
// clients for it.
func Load(ctx context.Context, getenv func(string) string) (Config, *Deps, error) {
	cfg, err := FromEnv(getenv)
	if err != nil {
		return Config{}, nil, err
	}
	deps, err := NewDeps(ctx, cfg)
	if err != nil {
		return Config{}, nil, err
	}
	return cfg, deps, nil
}

// Getenv is os.Getenv, named so mains read as FromEnv(app.Getenv).
func Getenv(k string) string { return os.Getenv(k) }
