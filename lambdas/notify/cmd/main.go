// Command notify is the run-result notification Lambda: configuration is read once,
// then every invocation runs notify.Handler.Handle.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/notify"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	cfg, deps, err := app.Load(context.Background(), app.Getenv)
	if err != nil {
		log.Fatalf("notify: %v", err)
	}
	h, err := notify.New(cfg, deps)
	if err != nil {
		log.Fatalf("notify: %v", err)
	}
	lambda.Start(h.Handle)
}
