package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/shipgate/shipgate/shared/local"
)

func runLocal(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	repo := fs.String("repo", "", "the repository to watch: a bare repository (push to it) or a working one (commit on a branch)")
	data := fs.String("data", "", "data directory (default REPO/.shipgate)")
	addr := fs.String("addr", "127.0.0.1:0", "address of the console and HTTP routes (port 0 picks a free one)")
	user := fs.String("user", "", "the signed-in console user and CLI approver (default: git config user.email)")
	pipeline := fs.String("pipeline", "", "pipeline name (default: the repository directory's name)")
	scratch := fs.String("scratch", "", "where stages make their workspaces (default $TMPDIR or /tmp); a tmpfs such as /dev/shm speeds runs up when /tmp is a disk")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --addr (the console signs every visitor in as --user: only on a trusted network)")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: shipgate local --repo DIR [--data DIR] [--addr HOST:PORT] [--user EMAIL] [--scratch DIR]")
		fmt.Fprintln(c.stderr, "\nRuns the whole pipeline on this machine until Ctrl-C: pushes to DIR start runs.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *repo == "" {
		fmt.Fprintln(c.stderr, "shipgate local: --repo DIR is required")
		fs.Usage()
		return exitUsage
	}
	s, err := local.Start(ctx, local.Options{Repo: *repo, Data: *data, Addr: *addr, User: *user, Pipeline: *pipeline, Out: c.stdout, AllowRemote: *allowRemote, Scratch: *scratch})
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate local: %v\n", err)
		return exitError
	}
	printEndpoints(c.stdout, s)
	<-ctx.Done()
	fmt.Fprintln(c.stdout, "\nshipgate local: stopping (runs and approvals are kept; start again to continue)")
	if err := s.Close(); err != nil {
		fmt.Fprintf(c.stderr, "shipgate local: stop: %v\n", err)
		return exitError
	}
	return exitOK
}

func printEndpoints(w io.Writer, s *local.Stack) {
	e := s.Endpoints
	fmt.Fprintf(w, "shipgate local: pipeline %q watching %s\n", e.Pipeline, s.Watcher.GitDirOf())
	fmt.Fprintf(w, "  console        %s  (signed in as %s)\n", e.Console, e.User)
	fmt.Fprintf(w, "  step functions %s\n", e.StepFunctions)
	fmt.Fprintf(w, "  dynamodb       %s  (table %s)\n", e.DynamoDB, e.Table)
	fmt.Fprintf(w, "  s3             %s  (bucket %s)\n", e.S3, e.Bucket)
	fmt.Fprintf(w, "  outbox         %s\n", s.Data.Outbox())
	fmt.Fprintf(w, "  endpoints      %s\n", s.Data.Endpoints())
	fmt.Fprintln(w, "Push to the repository to start a run; Ctrl-C stops.")
}
