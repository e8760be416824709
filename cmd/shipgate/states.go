package main

import "context"

// Placeholder until this subcommand lands: it fails loudly rather than pretending.
func runStates(ctx context.Context, c *cli, args []string) int { return notYet(c, "runStates") }
