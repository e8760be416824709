// Command trigger is the Trigger Lambda's bootstrap: it reads the configuration once,
// builds the handler and serves EventBridge's CodeCommit events.
//
// It wires its own Deps with only the clients the trigger calls (DynamoDB, Step Functions;
// CodeCommit in the handler) rather than app.NewDeps, which also builds an S3 client: an
// unused client still costs the binary its share of the 12 MB budget (issue 4).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/trigger"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/awsclient"
)

func main() {
	cfg, err := app.FromEnv(os.Getenv)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	ac, err := awsclient.Load(context.Background(), cfg.Endpoints)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	deps := &app.Deps{AWS: ac, DynamoDB: awsclient.DynamoDB(ac, cfg.Endpoints), SFN: awsclient.SFN(ac, cfg.Endpoints)}
	h, err := trigger.New(cfg, deps)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	lambda.Start(h.Handle)
}
