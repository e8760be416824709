package gobuild

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.22\n"
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestBuild(t *testing.T) {
	root := writeModule(t, map[string]string{
		"ok/main.go":         "package main\n\nfunc main() { println(\"hi\") }\n",
		"broken/main.go":     "package main\n\nfunc main() { undefinedThing() }\n",
		"empty/README.md":    "no Go here\n",
		"onlytest/x_test.go": "package main\n",
	})
	tests := []struct {
		name    string
		pkg     string
		wantErr string // substring; "" means success
		noPkg   bool   // want errors.Is(err, ErrNoPackage)
	}{
		{name: "builds an arm64 bootstrap", pkg: "./ok"},
		{name: "missing package names the directory", pkg: "./lambdas/nope/cmd", wantErr: "lambdas/nope/cmd", noPkg: true},
		{name: "directory without Go files", pkg: "./empty", wantErr: "no Go source files", noPkg: true},
		{name: "only test files", pkg: "./onlytest", wantErr: "no Go source files", noPkg: true},
		{name: "compile error carries compiler output", pkg: "./broken", wantErr: "undefinedThing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "asset")
			res, err := Build(context.Background(), Options{ModuleRoot: root, Package: tc.pkg, OutDir: out})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if got := errors.Is(err, ErrNoPackage); got != tc.noPkg {
					t.Fatalf("errors.Is(err, ErrNoPackage) = %v, want %v", got, tc.noPkg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if want := filepath.Join(out, "bootstrap"); res.Path != want {
				t.Fatalf("Path = %q, want %q", res.Path, want)
			}
			f, err := elf.Open(res.Path)
			if err != nil {
				t.Fatalf("bootstrap is not ELF: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("machine = %v, want EM_AARCH64", f.Machine)
			}
			if f.Section(".symtab") != nil {
				t.Errorf("bootstrap has a symbol table; want it stripped (-s)")
			}
			if fi, _ := os.Stat(res.Path); fi.Size() != res.Size || fi.Mode()&0o111 == 0 {
				t.Errorf("size %d mode %v, want size %d and executable", fi.Size(), fi.Mode(), res.Size)
			}
		})
	}
}

func TestBuildRequiresOptions(t *testing.T) {
	if _, err := Build(context.Background(), Options{Package: "./x"}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("err = %v, want a 'required' error", err)
	}
}

func TestFindModuleRoot(t *testing.T) {
	root := writeModule(t, map[string]string{"a/b/c.txt": "x"})
	tests := []struct {
		name, from, want string
	}{
		{name: "root itself", from: root, want: root},
		{name: "nested directory", from: filepath.Join(root, "a", "b"), want: root},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindModuleRoot(tc.from)
			if err != nil || got != tc.want {
				t.Fatalf("FindModuleRoot(%q) = %q, %v; want %q", tc.from, got, err, tc.want)
			}
		})
	}
	if _, err := FindModuleRoot("/"); err == nil {
		t.Errorf("FindModuleRoot(/) succeeded; want an error")
	}
}
