package workspace_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/s3local"
	"github.com/shipgate/shipgate/shared/workspace"
)

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv, err := s3local.Start(s3local.Options{Buckets: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep := awsclient.Endpoints{S3: srv.URL}
	cfg, _ := awsclient.Load(ctx, ep)
	store := artifact.New(awsclient.S3(cfg, ep), "b")

	src := t.TempDir()
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	files := map[string]string{"README": "hello\n", "bin/tool": "#!/bin/sh\necho hi\n", "a/b/c/deep.txt": strings.Repeat("x", 100000)}
	for name, body := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	os.Chmod(filepath.Join(src, "bin/tool"), 0o755)
	os.MkdirAll(filepath.Join(src, "empty"), 0o755)
	os.Symlink("bin/tool", filepath.Join(src, "tool-link"))

	obj, err := workspace.Snapshot(ctx, store, "workspaces/p/r.tar.gz", src)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if obj.Size == 0 {
		t.Fatal("snapshot is empty")
	}
	dst := t.TempDir()
	if err := workspace.Restore(ctx, store, "workspaces/p/r.tar.gz", dst); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for name, body := range files {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != body {
			t.Errorf("%s after restore: %d bytes, err %v; want %d bytes", name, len(b), err, len(body))
		}
		st, _ := os.Stat(filepath.Join(dst, name))
		if st != nil && !st.ModTime().Equal(old) {
			t.Errorf("%s mtime = %s, want %s", name, st.ModTime(), old)
		}
	}
	if st, err := os.Stat(filepath.Join(dst, "bin/tool")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bin/tool mode = %v (err %v), want 0755", st.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "tool-link")); err != nil || l != "bin/tool" {
		t.Errorf("tool-link = %q (err %v), want a symlink to bin/tool", l, err)
	}
	if st, err := os.Stat(filepath.Join(dst, "empty")); err != nil || !st.IsDir() {
		t.Errorf("empty dir not restored: %v", err)
	}
}

func TestRestoreExtractsOnlyWhatIsKept(t *testing.T) {
	ctx := context.Background()
	srv, err := s3local.Start(s3local.Options{Buckets: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep := awsclient.Endpoints{S3: srv.URL}
	cfg, _ := awsclient.Load(ctx, ep)
	store := artifact.New(awsclient.S3(cfg, ep), "b")
	src := t.TempDir()
	for _, name := range []string{"dist/app.bin", "dist/sub/lib.so", "src/main.go", ".git/config", ".git/objects/ab/cdef", "README"} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(name), 0o644)
	}
	os.Symlink("/etc", filepath.Join(src, "dist/etc-link"))
	if _, err := workspace.Snapshot(ctx, store, "ws.tar.gz", src); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{"one dir", []string{"dist/**"}, []string{"dist/app.bin", "dist/sub/lib.so"}},
		{"everything but .git", []string{"**"}, []string{"README", "dist/app.bin", "dist/sub/lib.so", "src/main.go"}},
		{".git only when named", []string{".git/config"}, []string{".git/config"}},
		{"nothing", []string{"*.tar.gz"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			if err := workspace.RestoreWith(ctx, store, "ws.tar.gz", dst, workspace.RestoreOptions{Keep: workspace.Matcher(tc.patterns)}); err != nil {
				t.Fatal(err)
			}
			var got []string
			filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
				if d.Type()&os.ModeSymlink != 0 {
					t.Errorf("symlink %s restored", p)
				}
				if d.Type().IsRegular() {
					rel, _ := filepath.Rel(dst, p)
					got = append(got, filepath.ToSlash(rel))
				}
				return nil
			})
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("restored %v, want %v", got, tc.want)
			}
		})
	}
}

// TestExtractWritesNothingThroughItsSymlinks: an archive that makes a symlink and then
// names a file or a directory at the same place is refused, and nothing outside the
// workspace is written, its mode or times changed.
func TestExtractWritesNothingThroughItsSymlinks(t *testing.T) {
	outside := t.TempDir()
	file, dir := filepath.Join(outside, "file"), filepath.Join(outside, "dir")
	if err := os.WriteFile(file, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{file, dir} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	for name, second := range map[string]*tar.Header{
		"a file":      {Name: "x", Typeflag: tar.TypeReg, Mode: 0o666, Size: 6},
		"a directory": {Name: "x/", Typeflag: tar.TypeDir, Mode: 0o777},
	} {
		t.Run(name, func(t *testing.T) {
			target := file
			if second.Typeflag == tar.TypeDir {
				target = dir
			}
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			tw.WriteHeader(&tar.Header{Name: "x", Linkname: target, Typeflag: tar.TypeSymlink, Mode: 0o777})
			tw.WriteHeader(second)
			if second.Size > 0 {
				tw.Write([]byte("stolen"))
			}
			tw.Close()
			zw.Close()
			err := workspace.Extract(&buf, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), "symlink") {
				t.Errorf("Extract error = %v, want a refusal naming the symlink", err)
			}
		})
	}
	if b, _ := os.ReadFile(file); string(b) != "mine" {
		t.Errorf("the file outside holds %q", b)
	}
	for p, mode := range map[string]os.FileMode{file: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != mode || !fi.ModTime().Equal(old) {
			t.Errorf("%s outside: %v, want its mode (%v) and times (%v) as they were", p, fi, mode, old)
		}
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	type entry struct {
		name, link string
		typ        byte
	}
	cases := []struct {
		name    string
		entries []entry
		wantErr string
	}{
		{"dot-dot", []entry{{name: "../evil", typ: tar.TypeReg}}, "escapes"},
		{"absolute", []entry{{name: "/etc/evil", typ: tar.TypeReg}}, "escapes"},
		{"through a symlink", []entry{{name: "l", link: "/tmp", typ: tar.TypeSymlink}, {name: "l/evil", typ: tar.TypeReg}}, "under the symlink"},
		{"hard link", []entry{{name: "h", link: "x", typ: tar.TypeLink}}, "unsupported type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			for _, e := range tc.entries {
				tw.WriteHeader(&tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644})
			}
			tw.Close()
			zw.Close()
			err := workspace.Extract(&buf, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Extract error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
