package gitobj_test

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/gitobj"
)

// repo makes a repository of the object format and writes body into it as a blob.
func repo(t *testing.T, format, body string) (objects, id string) {
	t.Helper()
	dir := t.TempDir()
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q", "--object-format="+format)
	return filepath.Join(dir, ".git", "objects"), git(body, "hash-object", "-w", "--stdin")
}

// put replaces object id's file with the zlib stream of raw.
func put(t *testing.T, objects, id string, raw []byte) {
	t.Helper()
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	p := filepath.Join(objects, id[:2], id[2:])
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadLoose(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			objects, id := repo(t, format, "hello\n")
			typ, body, err := gitobj.ReadLoose(objects, id, 1<<10)
			if err != nil || typ != "blob" || string(body) != "hello\n" {
				t.Fatalf("ReadLoose = %q %q %v, want the blob", typ, body, err)
			}
			// The bound is on the whole object, "blob 6\x00hello\n": 13 bytes.
			if _, _, err := gitobj.ReadLoose(objects, id, 13); err != nil {
				t.Errorf("an object exactly at the bound: %v", err)
			}
			if _, _, err := gitobj.ReadLoose(objects, strings.Repeat("0", len(id)), 1<<10); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a missing object: %v, want fs.ErrNotExist", err)
			}
		})
	}
	unreadable := map[string]func(t *testing.T, objects, id string) (string, int){
		"an id in capitals":       func(t *testing.T, o, id string) (string, int) { return strings.ToUpper(id), 1 << 10 },
		"an id of another length": func(t *testing.T, o, id string) (string, int) { return id[:39], 1 << 10 },
		"larger than the bound":   func(t *testing.T, o, id string) (string, int) { return id, len("blob 6") + 6 },
		"content after the object": func(t *testing.T, o, id string) (string, int) {
			put(t, o, id, []byte("blob 6\x00hello\nmore"))
			return id, 1 << 10
		},
		"a size not written as git writes it": func(t *testing.T, o, id string) (string, int) {
			put(t, o, id, []byte("blob 06\x00hello\n"))
			return id, 1 << 10
		},
		"an unknown type": func(t *testing.T, o, id string) (string, int) {
			put(t, o, id, []byte("blub 6\x00hello\n"))
			return id, 1 << 10
		},
		"content that is not the id's": func(t *testing.T, o, id string) (string, int) {
			put(t, o, id, []byte("blob 6\x00hellO\n"))
			return id, 1 << 10
		},
		"a damaged checksum": func(t *testing.T, o, id string) (string, int) {
			p := filepath.Join(o, id[:2], id[2:])
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0xff
			os.Chmod(p, 0o644)
			os.WriteFile(p, b, 0o644)
			return id, 1 << 10
		},
	}
	for name, spoil := range unreadable {
		t.Run(name, func(t *testing.T) {
			objects, id := repo(t, "sha1", "hello\n")
			id, max := spoil(t, objects, id)
			if _, _, err := gitobj.ReadLoose(objects, id, max); !errors.Is(err, gitobj.ErrUnreadable) {
				t.Errorf("ReadLoose: %v, want ErrUnreadable", err)
			}
		})
	}
}

func TestCommitHeader(t *testing.T) {
	tree, p1, p2 := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	for _, tc := range []struct {
		name, body string
		ok         bool
		parents    int
	}{
		{"a root commit", "tree " + tree + "\nauthor A <a@x> 1 +0000\n", true, 0},
		{"two parents", "tree " + tree + "\nparent " + p1 + "\nparent " + p2 + "\nauthor A <a@x> 1 +0000\n", true, 2},
		{"no tree line first", "parent " + p1 + "\ntree " + tree + "\n", false, 0},
		{"a tree line without its newline", "tree " + tree, false, 0},
		{"a parent line without its newline", "tree " + tree + "\nparent " + p1, false, 0},
		{"a short parent", "tree " + tree + "\nparent " + p1[:39] + "\n", false, 0},
		{"a parent in capitals", "tree " + tree + "\nparent " + strings.ToUpper(p1) + "\n", false, 0},
		{"a tree of the other length", "tree " + strings.Repeat("a", 64) + "\n", false, 0},
	} {
		got, parents, ok := gitobj.CommitHeader([]byte(tc.body), 40)
		if ok != tc.ok || (ok && (got != tree || len(parents) != tc.parents)) {
			t.Errorf("%s: CommitHeader = %q %q %v, want ok=%v with %d parents", tc.name, got, parents, ok, tc.ok, tc.parents)
		}
	}
}
