//go:build unix

package stagekit_test

import (
	"syscall"
	"testing"

	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
)

// TestTheStockStaysWithinTheDescriptorLimit: where the process may open few files, the
// stock keeps at most a thirty-second of them, so four handlers' stocks never take more
// than an eighth.
func TestTheStockStaysWithinTheDescriptorLimit(t *testing.T) {
	parent := t.TempDir()
	if !inodes.Available() || !inodes.Worthwhile(parent) {
		t.Skip("no files are kept ahead here")
	}
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &was); err != nil {
		t.Fatal(err)
	}
	low := was
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower the descriptor limit: %v", err)
	}
	s := stagekit.NewScratch(parent, "build")
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &was); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stagekit.WaitSpare(t, s)
	stagekit.WaitStock(t, s, 8)
	d, err := s.Dirs()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if f, _ := d.Inodes.Held(); f != 8 {
		t.Errorf("the stock holds %d files under a limit of 256 descriptors, want 8", f)
	}
}
