package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/local"
)

// Endpoints is the content of <data>/endpoints.json, which `shipgate local` writes so the
// CLI and scripts find the running local stack.
type Endpoints = local.Endpoints

// target is the stack a CLI command talks to: the local one or a deployed one.
type target struct {
	Local     bool
	AWS       aws.Config
	Endpoints awsclient.Endpoints
	Table     string
	Bucket    string
	// StateMachine is the pipeline's state machine ARN.
	StateMachine string
	Console      string
	Pipeline     string
	// User is who the caller is, for approve/reject: the configured local user, or the
	// AWS caller identity (resolved by the command that needs it).
	User string
}

// targetFlags are the flags every stack-facing command accepts.
type targetFlags struct {
	data  string
	stack string
}

func (t *targetFlags) register(fs *flag.FlagSet, c *cli) {
	def := c.getenv("SHIPGATE_DATA")
	if def == "" {
		def = ".shipgate"
	}
	fs.StringVar(&t.data, "data", def, "local stack data directory (its endpoints.json names the running stack)")
	fs.StringVar(&t.stack, "stack", c.getenv("SHIPGATE_STACK"), "deployed CloudFormation stack name (uses the usual AWS profile/region settings)")
}

// resolve finds the target: --stack wins, else the local endpoints.json under --data.
func (t *targetFlags) resolve(ctx context.Context) (*target, error) {
	if t.stack != "" {
		return resolveStack(ctx, t.stack)
	}
	dd := local.DataDir{Root: t.data}
	ep, err := dd.ReadEndpoints()
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no local stack at %s (start one with `shipgate local`, pass --data DIR, or --stack NAME for a deployed one)", t.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dd.Endpoints(), err)
	}
	eps := awsclient.Endpoints{StepFunctions: ep.StepFunctions, DynamoDB: ep.DynamoDB, S3: ep.S3}
	cfg, err := awsclient.Load(ctx, eps)
	if err != nil {
		return nil, err
	}
	return &target{Local: true, AWS: cfg, Endpoints: eps, Table: ep.Table, Bucket: ep.Bucket,
		StateMachine: ep.StateMachine, Console: ep.Console, Pipeline: ep.Pipeline, User: ep.User}, nil
}

// Stack output keys the CDK app exports (infra sets the same names).
const (
	outTable        = "TableName"
	outBucket       = "BucketName"
	outStateMachine = "StateMachineArn"
	outConsole      = "ConsoleUrl"
	outPipeline     = "PipelineName"
)

func resolveStack(ctx context.Context, stack string) (*target, error) {
	cfg, err := awsclient.Load(ctx, awsclient.Endpoints{})
	if err != nil {
		return nil, err
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return nil, fmt.Errorf("describe stack %s: %w", stack, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("stack %s not found", stack)
	}
	t := &target{AWS: cfg}
	for _, o := range out.Stacks[0].Outputs {
		v := aws.ToString(o.OutputValue)
		switch aws.ToString(o.OutputKey) {
		case outTable:
			t.Table = v
		case outBucket:
			t.Bucket = v
		case outStateMachine:
			t.StateMachine = v
		case outConsole:
			t.Console = v
		case outPipeline:
			t.Pipeline = v
		}
	}
	var missing []string
	if t.Table == "" {
		missing = append(missing, outTable)
	}
	if t.StateMachine == "" {
		missing = append(missing, outStateMachine)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("stack %s lacks outputs %s: is it a shipgate stack?", stack, strings.Join(missing, ", "))
	}
	return t, nil
}
