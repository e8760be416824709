// Command stage is the Stage stage's Lambda: configuration is read once, then every
// invocation runs stage.Handler.Handle.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	cfg, deps, err := app.Load(context.Background(), app.Getenv)
	if err != nil {
		log.Fatalf("stage: %v", err)
	}
	h, err := stage.New(cfg, deps)
	if err != nil {
		log.Fatalf("stage: %v", err)
	}
	lambda.Start(h.Handle)
}
