//go:build !unix

package source

import "os/exec"

// setProcessGroup does nothing where process groups do not exist; cancellation kills
// git itself.
func setProcessGroup(cmd *exec.Cmd) {}
