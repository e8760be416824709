package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// shipgateBin is the CLI built once for the tests that drive it as a user would.
var shipgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shipgate-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shipgateBin = filepath.Join(dir, "shipgate")
	cmd := exec.Command("go", "build", "-o", shipgateBin, "../cmd/shipgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shipgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
