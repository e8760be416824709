// Command infra is shipgate's CDK app: `npx cdk synth|deploy` runs it (see cdk.json) and
// it defines one stack per pipeline from the context values in docs/deploy.md.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/shipgate/shipgate/infra/gobuild"
	"github.com/shipgate/shipgate/infra/stack"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "shipgate infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg, err := stack.FromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return err
	}
	root, err := gobuild.FindModuleRoot(".")
	if err != nil {
		return err
	}
	props := &stack.Props{Config: cfg, ModuleRoot: root}
	// With credentials the CLI names the target account and region; without them the
	// stack stays environment-agnostic, which is all an offline synth needs.
	if acct, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); acct != "" && region != "" {
		props.Env = &awscdk.Environment{Account: jsii.String(acct), Region: jsii.String(region)}
	}
	if _, err := stack.NewShipgateStack(app, stack.StackName(cfg.PipelineName), props); err != nil {
		return err
	}
	stack.AddNagChecks(app)
	app.Synth(nil)
	return nil
}
