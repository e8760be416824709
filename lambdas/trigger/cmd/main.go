// Command trigger is the Trigger Lambda's bootstrap: it reads the configuration once,
// builds the handler and serves EventBridge's CodeCommit events.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/trigger"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	cfg, err := app.FromEnv(os.Getenv)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	deps, err := app.NewDeps(context.Background(), cfg)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	h, err := trigger.New(cfg, deps)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	lambda.Start(h.Handle)
}
