package ddblocal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shortWriter writes the first n bytes of the next Write to the real file, then fails,
// as a full disk does.
type shortWriter struct {
	*os.File
	n int
}

func (w *shortWriter) Write(b []byte) (int, error) {
	if w.n < 0 {
		return w.File.Write(b)
	}
	k, _ := w.File.Write(b[:min(w.n, len(b))])
	w.n = -1
	return k, errors.New("no space left on device")
}

func TestAFailedWriteLeavesNoFragment(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string) error {
		_, err := s.Do("PutItem", []byte(`{"TableName":"tbl","Item":{"id":{"S":"`+id+`"},"pad":{"S":"`+strings.Repeat("x", 200)+`"}}}`))
		return err
	}
	if _, err := s.Do("CreateTable", []byte(`{"TableName":"tbl","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`)); err != nil {
		t.Fatal(err)
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	real := s.log.f.(*os.File)
	s.log.f = &shortWriter{File: real, n: 37}
	if err := put("failed"); err == nil {
		t.Fatal("a put whose log write failed succeeded")
	}
	if err := put("after"); err != nil {
		t.Fatalf("the put after a failed write: %v", err)
	}
	s.log.f = real
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, LogName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "failed") {
		t.Errorf("the failed write's fragment is still in the log:\n%s", b)
	}
	s2, err := Open(Options{Path: dir})
	if err != nil {
		t.Fatalf("reopen after a failed write: %v", err)
	}
	defer s2.Close()
	for id, want := range map[string]bool{"before": true, "failed": false, "after": true} {
		out, err := s2.Do("GetItem", []byte(`{"TableName":"tbl","Key":{"id":{"S":"`+id+`"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(out), `"Item"`); got != want {
			t.Errorf("item %q after reopen: present %v, want %v", id, got, want)
		}
	}
}
