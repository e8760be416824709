package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shipgate/shipgate/shared/asl"
)

// The one JSON object `shipgate states run` prints. Other tools parse it: keep the keys
// and their meaning.
type statesSucceeded struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
}

type statesFailed struct {
	Status string  `json:"status"`
	Error  string  `json:"error"`
	Cause  *string `json:"cause"`
}

// runStates runs one state machine definition in process, start to end:
// `states run --definition FILE [--input FILE|-] [--virtual-clock]`. Exit 0 whenever the
// execution ran to an end (the status says how), 2 for an invalid definition or input.
func runStates(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(c.stdout, "Usage: shipgate states run --definition FILE [--input FILE|-] [--virtual-clock]")
			return exitOK
		}
		fmt.Fprintln(c.stderr, "Usage: shipgate states run --definition FILE [--input FILE|-] [--virtual-clock]")
		return exitUsage
	}
	fs := flag.NewFlagSet("states run", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	defFile := fs.String("definition", "", "the state machine definition (Amazon States Language JSON)")
	inFile := fs.String("input", "", "the execution input: a JSON file, or - for standard input (default {})")
	virtual := fs.Bool("virtual-clock", false, "let Wait states and retry backoff complete at once")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: shipgate states run --definition FILE [--input FILE|-] [--virtual-clock]")
		fmt.Fprintln(fs.Output(), "\nRuns the definition with shipgate's engine and prints one JSON object:")
		fmt.Fprintln(fs.Output(), `  {"status":"SUCCEEDED","output":...} or {"status":"FAILED","error":"...","cause":"..."|null}`)
		fmt.Fprintln(fs.Output(), "Exit codes: 0 the execution ended (whatever its status), 2 invalid definition or input.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *defFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	def, err := os.ReadFile(*defFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate states run: %v\n", err)
		return exitUsage
	}
	input := []byte("{}")
	switch *inFile {
	case "":
	case "-":
		input, err = io.ReadAll(c.stdin)
	default:
		input, err = os.ReadFile(*inFile)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate states run: reading the input: %v\n", err)
		return exitUsage
	}
	d, err := asl.Run(ctx, def, input, asl.RunOptions{VirtualClock: *virtual})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(c.stderr, "shipgate states run: interrupted\n")
			return exitError
		}
		fmt.Fprintf(c.stderr, "shipgate states run: %v\n", err)
		return exitUsage
	}
	var res any
	if d.Status == asl.StatusSucceeded {
		res = statesSucceeded{Status: d.Status, Output: json.RawMessage(*d.Output)}
	} else {
		f := statesFailed{Status: d.Status, Cause: d.Cause}
		if d.Error != nil {
			f.Error = *d.Error
		}
		res = f
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return exitError
	}
	return exitOK
}
