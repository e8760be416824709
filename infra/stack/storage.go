package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/shipgate/shipgate/shared/workflow"
)

// StorageProps configures Storage.
type StorageProps struct {
	TableName  string // "" lets CloudFormation choose
	BucketName string // "" lets CloudFormation choose
	// GitHubToken creates the secret Build reads a GitHub token from (GitHub repositories).
	GitHubToken bool
	// WorkspaceExpiry is how long workspace snapshots live; they only carry a run's tree
	// from Build to Test and Stage.
	WorkspaceExpiry awscdk.Duration
}

// Storage is everything that holds state: the audit/approvals table, the artifacts bucket
// and its access-log bucket, and the secrets. The table and buckets are retained on stack
// deletion: they are the audit trail and the evidence of what was deployed.
type Storage struct {
	Table         awsdynamodb.Table
	Bucket        awss3.Bucket
	LogBucket     awss3.Bucket
	WebhookSecret awssecretsmanager.Secret
	SigningKey    awssecretsmanager.Secret
	GitHubToken   awssecretsmanager.Secret // nil unless StorageProps.GitHubToken
}

// NewStorage creates the stateful resources under scope/id.
func NewStorage(scope constructs.Construct, id string, props *StorageProps) *Storage {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &Storage{}
	str := awsdynamodb.AttributeType_STRING

	tp := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(workflow.AttrPK), Type: str},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(workflow.AttrSK), Type: str},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
		// No TimeToLiveAttribute: audit items must never expire.
	}
	if props.TableName != "" {
		tp.TableName = jsii.String(props.TableName)
	}
	s.Table = awsdynamodb.NewTable(c, jsii.String("Table"), tp)
	for _, ix := range workflow.TableIndexes() {
		s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.PK), Type: str},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ix.SK), Type: str},
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}

	s.LogBucket = awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	// No access logs of its own: it is the artifacts bucket's log destination (cdk-nag
	// recognizes that, so no suppression is needed).

	bp := &awss3.BucketProps{
		Versioned:              jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: s.LogBucket,
		ServerAccessLogsPrefix: jsii.String("artifacts/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{
				// Workspace snapshots are scratch space between stages; staged artifacts
				// and manifests (artifacts/) are evidence and have no expiry rule at all.
				Id:                                  jsii.String("expire-workspaces"),
				Prefix:                              jsii.String(prefixWorkspaces),
				Expiration:                          props.WorkspaceExpiry,
				NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(1)),
				AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
			},
		},
	}
	if props.BucketName != "" {
		bp.BucketName = jsii.String(props.BucketName)
	}
	s.Bucket = awss3.NewBucket(c, jsii.String("Artifacts"), bp)

	// Generated values: the webhook secret is pasted into GitHub after deploy; the link
	// key signs approval links and never leaves AWS.
	s.WebhookSecret = awssecretsmanager.NewSecret(c, jsii.String("WebhookSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("shipgate: GitHub webhook secret (X-Hub-Signature-256). Paste this value into the repository's webhook settings."),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	suppress(s.WebhookSecret, "AwsSolutions-SMG4", "The value is shared with GitHub's webhook settings, which Secrets Manager cannot update; rotate by hand (docs/deploy.md).")
	s.SigningKey = awssecretsmanager.NewSecret(c, jsii.String("LinkSigningKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("shipgate: HMAC-SHA256 key that signs approval links."),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	suppress(s.SigningKey, "AwsSolutions-SMG4", "Rotating the link key invalidates every outstanding approval link; rotate by hand between runs (docs/deploy.md).")
	if props.GitHubToken {
		s.GitHubToken = awssecretsmanager.NewSecret(c, jsii.String("GitHubToken"), &awssecretsmanager.SecretProps{
			Description: jsii.String("shipgate: GitHub token Build fetches source with. Replace the generated placeholder with a fine-grained read-only token."),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				PasswordLength: jsii.Number(32), ExcludePunctuation: jsii.Bool(true),
			},
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		suppress(s.GitHubToken, "AwsSolutions-SMG4", "A GitHub token is issued by GitHub; Secrets Manager cannot rotate it.")
	}
	return s
}

// S3 key prefixes of the artifacts bucket (shared/artifact's layout, which a test checks):
// each is followed by "<pipeline>/", and IAM statements are scoped to that.
const (
	prefixRuns       = "runs/"
	prefixWorkspaces = "workspaces/"
	prefixLogs       = "logs/"
	prefixReports    = "reports/"
	prefixArtifacts  = "artifacts/"
)
