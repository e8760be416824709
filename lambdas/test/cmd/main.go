// Command test is the Test stage's Lambda: configuration is read once, then every
// invocation runs test.Handler.Handle.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/test"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	cfg, deps, err := app.Load(context.Background(), app.Getenv)
	if err != nil {
		log.Fatalf("test: %v", err)
	}
	h, err := test.New(cfg, deps)
	if err != nil {
		log.Fatalf("test: %v", err)
	}
	lambda.Start(h.Handle)
}
