// Command shipgate is the CLI of the shipgate continuous-delivery pipeline: run the whole
// pipeline locally (local, demo), inspect runs, approve or reject them, query and verify
// the audit trail, validate a spec, and run a state machine definition (states run).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes mean the same for every subcommand.
const (
	exitOK      = 0 // done
	exitFailure = 1 // the thing asked about is bad: a run failed, verification found tampering
	exitUsage   = 2 // bad flags or input; nothing was done
	exitError   = 3 // could not do it: stack unreachable, AWS error
)

// cli carries the process's streams so subcommands are testable in process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	summary string
	run     func(ctx context.Context, c *cli, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"local":    {"run the whole pipeline on this machine, watching a repository", runLocal},
		"demo":     {"create a sample repository, start the local stack and walk through a run", runDemo},
		"runs":     {"list pipeline runs and their status", runRuns},
		"approve":  {"approve a run waiting at the gate: approve RUN [--comment TEXT]", runApprove},
		"reject":   {"reject a run waiting at the gate: reject RUN --comment TEXT", runReject},
		"audit":    {"query the audit trail (audit --help), or verify it (audit verify)", runAudit},
		"states":   {"run a state machine definition: states run --definition FILE", runStates},
		"validate": {"check a shipgate.yml: validate [FILE]", runValidate},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "shipgate: continuous delivery with a human gate, on AWS or on this machine.")
	fmt.Fprintln(w, "\nUsage: shipgate COMMAND [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'shipgate COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 failed/found a problem, 2 bad usage or input, 3 could not reach the stack.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		usage(c.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(c.stdout)
		return exitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "shipgate: unknown command %q\n\n", args[0])
		usage(c.stderr)
		return exitUsage
	}
	return cmd.run(ctx, c, args[1:])
}
