// Package browsertest starts the headless Chromium that the console's browser tests drive,
// so that every such test starts it the same way (fresh profile, no sandbox, no background
// traffic) and skips, saying why, on a machine that has no Chromium.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvBinary names the variable that points the tests at a Chromium other than the default.
const EnvBinary = "SHIPGATE_CHROMIUM"

// DefaultBinary is where Debian's chromium package installs the browser.
const DefaultBinary = "/usr/bin/chromium"

// StepTimeout bounds the steps a test runs in the browser, so a page that never shows the
// awaited element fails the test instead of hanging it.
const StepTimeout = 60 * time.Second

// Require returns the Chromium to run, or skips the test when there is none. A test that
// must build costly fixtures before it calls New calls this first, so it skips at once.
func Require(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		bin = DefaultBinary
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("headless browser test skipped: no Chromium at %s (apt-get install chromium, or set %s)", bin, EnvBinary)
	}
	return bin
}

// New starts headless Chromium with a fresh profile and returns a context for chromedp
// steps that times out after StepTimeout; the browser stops when the test ends. It
// accepts self-signed certificates because the test servers (the console behind the
// local gateway is https, so its Secure __Host- cookies behave as in production) have no
// other kind.
func New(t testing.TB) context.Context {
	t.Helper()
	bin := Require(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.IgnoreCertErrors,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// The first call starts the browser and must not carry a timeout (it would stop the
	// browser); the steps run under one derived from it.
	if err := chromedp.Do(ctx); err != nil {
		cancelC()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelT := context.WithTimeout(ctx, StepTimeout)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return tctx
}
