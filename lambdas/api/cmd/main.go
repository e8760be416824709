// Command api is the Api Lambda's bootstrap: configuration and secrets are read once,
// then lambda.Start serves API Gateway HTTP API events.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/api"
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
	secret, err := api.LoadWebhookSecret(ctx, cfg, deps)
	if err != nil {
		log.Fatal(err)
	}
	h, err := api.New(cfg, deps, api.Options{WebhookSecret: secret})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h.Handle)
}
