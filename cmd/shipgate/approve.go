package main

import "context"

// Placeholder until this subcommand lands: it fails loudly rather than pretending.
func runApprove(ctx context.Context, c *cli, args []string) int { return notYet(c, "runApprove") }
func runReject(ctx context.Context, c *cli, args []string) int  { return notYet(c, "runReject") }
