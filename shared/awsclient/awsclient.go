// Package awsclient builds AWS SDK v2 clients for shipgate, on AWS (default credential
// chain, region from the environment) or against local protocol-speaking stand-ins
// (endpoint overrides, static credentials). The same client code runs in both places;
// only the endpoints differ.
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// Endpoints overrides service endpoints. Empty fields mean "the real AWS endpoint".
type Endpoints struct {
	StepFunctions string `json:"stepfunctions,omitempty"`
	DynamoDB      string `json:"dynamodb,omitempty"`
	S3            string `json:"s3,omitempty"`
}

// Local reports whether any endpoint is overridden (local stand-ins in use).
func (e Endpoints) Local() bool { return e.StepFunctions != "" || e.DynamoDB != "" || e.S3 != "" }

// LocalRegion and the static credentials below are what local mode uses: the stand-ins
// accept any signature, and fixed values keep the user's real credentials out of it.
const (
	LocalRegion    = "us-east-1"
	localAccessKey = "shipgate-local"
	localSecretKey = "shipgate-local-secret"
)

// Load returns an aws.Config: the default chain on AWS, static credentials locally.
func Load(ctx context.Context, ep Endpoints) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if ep.Local() {
		opts = append(opts,
			config.WithRegion(LocalRegion),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(localAccessKey, localSecretKey, "")),
			config.WithRetryMaxAttempts(3),
		)
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// S3 returns an S3 client; locally it uses path-style addressing over plain HTTP and
// computes checksums only when required (gofakes3 stores aws-chunked framing otherwise).
func S3(cfg aws.Config, ep Endpoints) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if ep.S3 != "" {
			o.BaseEndpoint = aws.String(ep.S3)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
}

// DynamoDB returns a DynamoDB client.
func DynamoDB(cfg aws.Config, ep Endpoints) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep.DynamoDB != "" {
			o.BaseEndpoint = aws.String(ep.DynamoDB)
		}
	})
}

// SFN returns a Step Functions client.
func SFN(cfg aws.Config, ep Endpoints) *sfn.Client {
	return sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if ep.StepFunctions != "" {
			o.BaseEndpoint = aws.String(ep.StepFunctions)
		}
	})
}
