// Command build is the Build stage's Lambda: configuration is read once, then every
// invocation runs build.Handler.Handle.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	cfg, deps, err := app.Load(context.Background(), app.Getenv)
	if err != nil {
		log.Fatalf("build: %v", err)
	}
	h, err := build.New(cfg, deps)
	if err != nil {
		log.Fatalf("build: %v", err)
	}
	lambda.Start(h.Handle)
}
