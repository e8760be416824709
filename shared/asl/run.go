package asl

import (
	"context"
	"fmt"
	"time"
)

// RunOptions tune Run.
type RunOptions struct {
	// VirtualClock makes Wait states and retry backoff complete at once.
	VirtualClock bool
	// Setup, when set, is called with the throwaway engine before the execution starts
	// (to register functions).
	Setup func(*Engine) error
}

// Run executes one definition to its end in a throwaway in-memory engine: what
// `shipgate states run` does. A definition or input error is returned as an error; a
// failed execution is a result with Status FAILED.
func Run(ctx context.Context, definition, input []byte, opts RunOptions) (*ExecutionDescription, error) {
	o := Options{}
	if opts.VirtualClock {
		o.Clock = NewVirtualClock(time.Time{}, true)
	}
	e, err := Open(o)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if opts.Setup != nil {
		if err := opts.Setup(e); err != nil {
			return nil, err
		}
	}
	arn, err := e.CreateStateMachine(ctx, "run", definition)
	if err != nil {
		if ae, ok := err.(*APIError); ok {
			return nil, fmt.Errorf("%s", ae.Message)
		}
		return nil, err
	}
	res, err := e.StartExecution(ctx, arn, "run", input)
	if err != nil {
		if ae, ok := err.(*APIError); ok {
			return nil, fmt.Errorf("%s", ae.Message)
		}
		return nil, err
	}
	return e.WaitExecution(ctx, res.ExecutionARN)
}
