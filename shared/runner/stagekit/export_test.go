package stagekit

import (
	"testing"
	"time"
)

// WaitSpare waits until s holds a set made ahead, ready to be handed out.
func WaitSpare(t *testing.T, s *Scratch) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(s.spare) > 0 {
			return
		}
	}
	t.Fatal("no set was made ahead within 5 s")
}

// WaitStock waits until s's stock of files holds n.
func WaitStock(t *testing.T, s *Scratch, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if f, _ := s.files.Held(); f >= n {
			return
		}
	}
	f, _ := s.files.Held()
	t.Fatalf("the stock holds %d files after 5 s, want %d", f, n)
}
