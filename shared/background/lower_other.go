//go:build !linux

package background

// lower does nothing here: the work runs at normal priority.
func lower() {}
