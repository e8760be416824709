// Command deploy is the Deploy stage's Lambda: configuration is read once, then every
// invocation runs deploy.Handler.Handle.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/deploy"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	cfg, deps, err := app.Load(context.Background(), app.Getenv)
	if err != nil {
		log.Fatalf("deploy: %v", err)
	}
	h, err := deploy.New(cfg, deps)
	if err != nil {
		log.Fatalf("deploy: %v", err)
	}
	lambda.Start(h.Handle)
}
