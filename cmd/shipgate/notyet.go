package main

import "fmt"

// notYet is what a subcommand that has not landed yet answers. Remove with the last stub.
func notYet(c *cli, name string) int {
	fmt.Fprintf(c.stderr, "shipgate: %s is not built yet\n", name)
	return exitError
}
