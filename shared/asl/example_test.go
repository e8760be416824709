package asl_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/shared/asl"
)

// Example shows the wiring local mode does: open the engine, register handlers by
// function ARN, create the state machine, serve the API for the SDK, start an execution.
func Example() {
	e, err := asl.Open(asl.Options{
		Path:   "", // a directory for durability; "" keeps everything in memory
		Clock:  asl.NewVirtualClock(asl.VirtualStart, true),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnEvent: func(executionARN, executionName string, ev asl.Event) {
			if ev.Type == "TaskStateEntered" {
				fmt.Println(executionName, "entered", ev.StateName)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	const greet = "arn:aws:lambda:us-east-1:000000000000:function:greet"
	e.RegisterFunction(greet, lambda.NewHandler(func(ctx context.Context, in struct{ Name string }) (string, error) {
		return "hello " + in.Name, nil
	}))

	srv := httptest.NewServer(e.Handler()) // point the sfn client's BaseEndpoint here
	defer srv.Close()

	ctx := context.Background()
	smARN, err := e.CreateStateMachine(ctx, "demo", []byte(`{"StartAt":"Greet","States":{
		"Greet":{"Type":"Task","Resource":"`+greet+`","End":true}}}`))
	if err != nil {
		panic(err)
	}
	res, err := e.StartExecution(ctx, smARN, "run-1", []byte(`{"Name":"ana"}`))
	if err != nil {
		panic(err)
	}
	d, err := e.WaitExecution(ctx, res.ExecutionARN)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Status, *d.Output)

	_, err = e.CreateStateMachine(ctx, "bad", []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`))
	var ve asl.ValidationErrors
	if errors.As(err, &ve) {
		fmt.Println(asl.ErrorCode(err), ve[0].State, ve[0].Pointer)
	}
	// Output:
	// run-1 entered Greet
	// SUCCEEDED "hello ana"
	// InvalidDefinition A /States/A
}
