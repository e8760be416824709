//go:build !linux

package background

// niceOfThisThread is 0 here: lower does nothing off Linux.
func niceOfThisThread() int { return 0 }

var lowNice, normalNice = 0, 0
