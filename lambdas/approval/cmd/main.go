// Command approval is the RequestApproval Lambda's bootstrap: configuration is read once,
// the link signing key is loaded from Secrets Manager, then lambda.Start serves.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	handler "github.com/shipgate/shipgate/lambdas/approval"
	"github.com/shipgate/shipgate/shared/app"
	gate "github.com/shipgate/shipgate/shared/approval"
)

func main() {
	ctx := context.Background()
	cfg, deps, err := app.Load(ctx, os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	if err := gate.EnsureSigningKey(ctx, cfg, deps); err != nil {
		log.Fatal(err)
	}
	h, err := handler.New(cfg, deps)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h.Handle)
}
