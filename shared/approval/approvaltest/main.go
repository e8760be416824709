package approvaltest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/shipgate/shipgate/shared/dynalite"
)

// Main runs a package's tests, from its TestMain, against one dynalite shared by all of
// them (each NewEnv makes its own table): it sets *dynamoURL for NewEnv, stops dynalite
// afterwards and exits with the tests' status. Without dynalite no test could run, so it
// exits 1 at once, saying why.
func Main(m *testing.M, dynamoURL *string) {
	srv, err := dynalite.Start(context.Background(), dynalite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests need dynalite:", err)
		os.Exit(1)
	}
	*dynamoURL = srv.URL
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}
