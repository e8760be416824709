//go:build !linux

package gitwatch

import "context"

// inotify does nothing here: the ticker's rescans (every Options.Interval, half a
// second by default) find the pushes.
func (w *Watcher) inotify(context.Context, chan<- struct{}) func() { return func() {} }
