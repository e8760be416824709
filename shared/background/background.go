// Package background runs work nobody is waiting for at a low CPU priority, so that it
// uses the CPU a run's critical path leaves idle instead of sharing it: local mode makes
// the next stage's scratch directories while a stage runs, on a machine whose cores the
// stage's own commands may be using.
//
// Only work that may take long is fit for it: under a busy machine it gets a small share
// of a core (nice 10, about a tenth of an ordinary thread's), so nothing that anyone waits
// on must run here.
package background

// Go runs f on a goroutine of its own, at a low priority where the platform allows it.
func Go(f func()) {
	go func() {
		lower()
		f()
	}()
}
