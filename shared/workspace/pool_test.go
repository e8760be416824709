package workspace_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/shared/workspace"
)

// smallTree writes a workspace shaped like Build's: a few source files, a .git skeleton
// and a build output.
func smallTree(t testing.TB, seed string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"shipgate.yml": "build: {commands: [true]}\n", "n.txt": seed, "dist/a.txt": "x" + seed,
		".git/HEAD": "ref: refs/heads/main\n", ".git/config": "[core]\n", ".git/objects/info/alternates": "/r/objects\n",
		"src/main.go": strings.Repeat("package main // "+seed+"\n", 200),
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The compressors are reused between streams: streams written and read at the same
// time, and after a stream that failed, must still each come back as written.
func TestReusedCompressorsKeepStreamsApart(t *testing.T) {
	const n = 8
	srcs := make([]string, n)
	for i := range srcs {
		srcs[i] = smallTree(t, fmt.Sprint(i))
	}
	// A stream that is not gzip, and one cut short, leave their reader behind in error.
	if err := workspace.Extract(strings.NewReader("not gzip at all"), t.TempDir()); err == nil {
		t.Fatal("Extract accepted a stream that is not gzip")
	}
	var good bytes.Buffer
	if err := workspace.Write(&good, srcs[0]); err != nil {
		t.Fatal(err)
	}
	if err := workspace.Extract(bytes.NewReader(good.Bytes()[:good.Len()/2]), t.TempDir()); err == nil {
		t.Fatal("Extract accepted a truncated stream")
	}
	// A writer whose destination fails mid-stream goes back to the pool too.
	if err := workspace.Write(failingWriter{after: 100}, srcs[0]); err == nil {
		t.Fatal("Write reported success into a failing writer")
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	dsts := make([]string, n)
	for i := range n {
		dsts[i] = t.TempDir()
		wg.Go(func() {
			for range 5 {
				var buf bytes.Buffer
				if errs[i] = workspace.Write(&buf, srcs[i]); errs[i] != nil {
					return
				}
				if errs[i] = workspace.Extract(&buf, dsts[i]); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("stream %d: %v", i, errs[i])
		}
		for _, name := range []string{"n.txt", "dist/a.txt", "src/main.go", ".git/objects/info/alternates"} {
			want, _ := os.ReadFile(filepath.Join(srcs[i], filepath.FromSlash(name)))
			got, err := os.ReadFile(filepath.Join(dsts[i], filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("stream %d: %s = %q (err %v), want %q", i, name, clip(got), err, clip(want))
			}
		}
	}
}

type failingWriter struct{ after int }

func (f failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		return f.after, io.ErrShortWrite
	}
	return len(p), nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// BenchmarkSnapshotSmall writes and extracts a small workspace shaped like Build's, the
// case of most pipeline runs, where fixed costs (compressor state, buffers) outweigh
// the bytes.
func BenchmarkSnapshotSmall(b *testing.B) {
	src := smallTree(b, "1")
	var buf bytes.Buffer
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := workspace.Write(&buf, src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("extract", func(b *testing.B) {
		b.ReportAllocs()
		parent := b.TempDir()
		for i := 0; b.Loop(); i++ {
			dst := filepath.Join(parent, fmt.Sprint(i))
			if err := os.Mkdir(dst, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := workspace.Extract(bytes.NewReader(buf.Bytes()), dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}
