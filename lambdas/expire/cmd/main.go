// Command expire is the Expire Lambda's bootstrap: configuration is read once, then
// lambda.Start serves.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	handler "github.com/shipgate/shipgate/lambdas/expire"
	"github.com/shipgate/shipgate/shared/app"
)

func main() {
	ctx := context.Background()
	cfg, deps, err := app.Load(ctx, os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	h, err := handler.New(cfg, deps)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h.Handle)
}
