// Package gobuild compiles the pipeline's Lambda handlers into `bootstrap` executables for
// the provided.al2023 runtime while the CDK app synthesizes, so a deployment always ships
// binaries built from the checked-out source and no binary is ever committed. It knows
// nothing about CDK: the stack hands it package paths and gets asset directories back.
package gobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options says what to build and where.
type Options struct {
	// ModuleRoot is the directory holding go.mod (see FindModuleRoot).
	ModuleRoot string
	// Package is the main package relative to ModuleRoot, e.g. "./lambdas/build/cmd".
	Package string
	// OutDir receives the executable named "bootstrap"; it is created when missing and
	// should hold nothing else, because CDK zips the whole directory as the asset.
	OutDir string
	// Go is the go command; "go" when empty.
	Go string
}

// Result describes one built executable.
type Result struct {
	Path     string        // OutDir/bootstrap
	Size     int64         // bytes of the stripped executable
	Duration time.Duration // wall time of `go build`
}

// ErrNoPackage reports a handler package that does not exist (yet): the stack fails with a
// message naming it rather than with the compiler's wording.
var ErrNoPackage = errors.New("no such Go package")

// Build compiles opt.Package for linux/arm64 exactly as the Lambda runtime wants it: a
// static executable (CGO off) named bootstrap, without the RPC shim that only the retired
// go1.x runtime used (lambda.norpc), stripped (-s -w) and path-independent (-trimpath)
// so the same source yields the same asset hash on every machine.
func Build(ctx context.Context, opt Options) (Result, error) {
	if opt.ModuleRoot == "" || opt.Package == "" || opt.OutDir == "" {
		return Result{}, fmt.Errorf("gobuild: ModuleRoot, Package and OutDir are required (got %q, %q, %q)", opt.ModuleRoot, opt.Package, opt.OutDir)
	}
	dir := filepath.Join(opt.ModuleRoot, filepath.FromSlash(strings.TrimPrefix(opt.Package, "./")))
	if err := hasGoFiles(dir); err != nil {
		return Result{}, fmt.Errorf("gobuild %s: %w", opt.Package, err)
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("gobuild %s: %w", opt.Package, err)
	}
	goCmd := opt.Go
	if goCmd == "" {
		goCmd = "go"
	}
	out := filepath.Join(opt.OutDir, "bootstrap")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false",
		"-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, opt.Package)
	cmd.Dir = opt.ModuleRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("gobuild %s: go build: %w\n%s", opt.Package, err, strings.TrimSpace(stderr.String()))
	}
	fi, err := os.Stat(out)
	if err != nil {
		return Result{}, fmt.Errorf("gobuild %s: %w", opt.Package, err)
	}
	return Result{Path: out, Size: fi.Size(), Duration: time.Since(start)}, nil
}

// CheckPackage reports ErrNoPackage when pkg (relative to moduleRoot) has no Go source;
// container-image functions compile inside the image, so synth checks them this way.
func CheckPackage(moduleRoot, pkg string) error {
	if err := hasGoFiles(filepath.Join(moduleRoot, filepath.FromSlash(strings.TrimPrefix(pkg, "./")))); err != nil {
		return fmt.Errorf("gobuild %s: %w", pkg, err)
	}
	return nil
}

// hasGoFiles tells a missing package apart from a broken one, because other engineers'
// handler packages appear over time and "not written yet" deserves a plain message.
func hasGoFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: directory %s does not exist", ErrNoPackage, dir)
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			return nil
		}
	}
	return fmt.Errorf("%w: %s holds no Go source files", ErrNoPackage, dir)
}

// FindModuleRoot walks up from dir to the directory holding go.mod; the CDK CLI runs the
// app from the repository root while `go test` runs from the package directory, and both
// must find the same handler packages.
func FindModuleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or any parent directory", abs)
		}
	}
}
