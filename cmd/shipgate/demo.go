package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/asl"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/local"
	"github.com/shipgate/shipgate/shared/trigger"
)

// The demo's people: a developer pushes, a lead approves (and is the console user).
const (
	demoPusher   = "dev@example.com"
	demoApprover = "lead@example.com"
)

func runDemo(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dir := fs.String("dir", ".shipgate-demo", "where to create the sample repository and the stack's data (recreated)")
	addr := fs.String("addr", "127.0.0.1:0", "address of the console")
	autoApprove := fs.Bool("auto-approve", false, "approve from the CLI channel instead of waiting for you (scripts, CI)")
	exit := fs.Bool("exit", false, "stop after the run ends instead of keeping the console up")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: shipgate demo [--dir DIR] [--addr HOST:PORT] [--auto-approve] [--exit]")
		fmt.Fprintln(c.stderr, "\nCreates a sample repository with a shipgate.yml, starts the local stack on it,")
		fmt.Fprintln(c.stderr, "pushes a commit and walks you through the run: stages, approval, deploy, audit.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate demo: %v\n", err)
		return exitUsage
	}
	d := &demo{c: c, root: root}
	if err := d.run(ctx, *addr, *autoApprove, *exit); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(c.stdout, "\nshipgate demo: stopped")
			return exitOK
		}
		fmt.Fprintf(c.stderr, "shipgate demo: %v\n", err)
		return exitError
	}
	return exitOK
}

type demo struct {
	c    *cli
	root string
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.c.stdout, format+"\n", a...) }

func (d *demo) run(ctx context.Context, addr string, autoApprove, exitAfter bool) error {
	bare, work, data := filepath.Join(d.root, "app.git"), filepath.Join(d.root, "work"), filepath.Join(d.root, "data")
	deployDir := filepath.Join(d.root, "deployed")
	if err := d.prepare(bare, work, deployDir); err != nil {
		return err
	}
	d.say("== 1. A sample repository with a shipgate.yml: %s", work)
	d.say("   pushes go to %s (bare), which the local stack watches", bare)

	s, err := local.Start(ctx, local.Options{Repo: bare, Data: data, Addr: addr, User: demoApprover, Out: d.c.stdout})
	if err != nil {
		return err
	}
	defer s.Close()
	d.say("\n== 2. The local stack is up (same state machine as on AWS, in process)")
	printEndpoints(d.c.stdout, s)

	d.say("\n== 3. %s pushes a commit", demoPusher)
	if err := gitRun(work, "push", "-q", "origin", "main"); err != nil {
		return err
	}
	commit, err := gitOutput(work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	runID := trigger.ExecutionName(bare, "refs/heads/main", commit)
	arn := s.Engine.ExecutionARNFor(local.StateMachineName, runID)

	a, err := d.waitForGate(ctx, s, runID, arn)
	if err != nil {
		return err
	}
	d.say("\n== 4. The run waits for a person. %s got an email (see %s):", demoApprover, s.Data.Outbox())
	d.say("   open the link in it (GET only shows what you would approve; the button POSTs),")
	d.say("   or the console: %s", s.Endpoints.Console)
	d.say("   or the CLI:     shipgate approve %s --data %s --comment \"looks good\"", runID, data)
	d.say("   Self-approval is off: the pusher (%s) cannot approve this push.", demoPusher)
	if autoApprove {
		d.say("   (--auto-approve: approving through the CLI channel as %s)", demoApprover)
		_, err := s.Gate.Decide(ctx, approval.DecideRequest{ApprovalID: a.ID, Actor: domain.Identity{Email: demoApprover},
			Channel: domain.ChannelCLI, Outcome: domain.Approved, Comment: "demo auto-approval", ManifestDigest: a.ManifestDigest})
		if err != nil {
			return fmt.Errorf("auto-approve: %w", err)
		}
	}

	desc, err := s.Engine.WaitExecution(ctx, arn)
	if err != nil {
		return err
	}
	d.say("\n== 5. The run ended: %s", desc.Status)
	if desc.Status == asl.StatusSucceeded {
		if ents, err := os.ReadDir(deployDir); err == nil {
			for _, e := range ents {
				d.say("   deployed: %s", filepath.Join(deployDir, e.Name()))
			}
		}
	}
	d.say("\n== 6. The audit trail of the run (shipgate audit --run %s --data %s):", runID, data)
	if err := d.printAudit(ctx, s.Audit, runID); err != nil {
		return err
	}
	d.say("\n   Verify the whole trail's hash chain: shipgate audit verify --data %s", data)
	if exitAfter {
		return nil
	}
	d.say("\nThe stack keeps running: push more commits from %s, use the console, Ctrl-C to stop.", work)
	<-ctx.Done()
	return nil
}

// demoMarker marks a directory the demo created, so that only such a directory is ever
// cleared: --dir pointing at a project (or at a running stack's data) is refused.
const demoMarker = ".shipgate-demo-dir"

// prepare recreates the demo directory with a sample app and its spec.
func (d *demo) prepare(bare, work, deployDir string) error {
	if ents, err := os.ReadDir(d.root); err == nil && len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(d.root, demoMarker)); err != nil {
			return fmt.Errorf("%s exists and was not made by shipgate demo; refusing to clear it (pass another --dir)", d.root)
		}
		// A demo stack still running on this directory holds its data lock.
		release, err := (local.DataDir{Root: filepath.Join(d.root, "data")}).TakeLock()
		if err != nil {
			return err
		}
		release()
		if err := os.RemoveAll(d.root); err != nil {
			return fmt.Errorf("clear %s: %w", d.root, err)
		}
	}
	if err := os.MkdirAll(d.root, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.root, demoMarker), []byte("created by shipgate demo; the next demo run clears this directory\n"), 0o644); err != nil {
		return err
	}
	if err := gitRun(d.root, "init", "-q", "--bare", "-b", "main", bare); err != nil {
		return err
	}
	if err := gitRun(d.root, "init", "-q", "-b", "main", work); err != nil {
		return err
	}
	files := map[string]string{
		"shipgate.yml": demoSpec(deployDir),
		"src/hello.sh": "#!/bin/sh\necho \"hello from shipgate, commit ${SHIPGATE_COMMIT:-unknown}\"\n",
		"test/run.sh": `#!/bin/sh
# A tiny test suite that writes a JUnit report, as real test runners do.
set -e
mkdir -p reports
out=$(sh dist/hello.sh)
case "$out" in
  "hello from shipgate"*) status='' ;;
  *) status='<failure message="unexpected greeting"/>' ;;
esac
cat > reports/junit.xml <<XML
<testsuites><testsuite name="hello" tests="2">
<testcase classname="hello" name="prints a greeting">$status</testcase>
<testcase classname="hello" name="is executable"/>
</testsuite></testsuites>
XML
[ -z "$status" ]
`,
		"README.md": "# demo app\n\nBuilt, tested, staged and deployed by shipgate.\n",
	}
	for name, body := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			return err
		}
	}
	if err := gitRun(work, "remote", "add", "origin", bare); err != nil {
		return err
	}
	if err := gitRun(work, "add", "."); err != nil {
		return err
	}
	return gitRun(work, "commit", "-q", "-m", "Add the hello service")
}

func demoSpec(deployDir string) string {
	return fmt.Sprintf(`# The demo pipeline: build, test, stage, wait for a person, deploy.
branches: [main]
env:
  GREETING: hello
build:
  commands:
    - mkdir -p dist && cp src/hello.sh dist/hello.sh
    - tar -czf dist/hello.tar.gz -C dist hello.sh
  timeout: 2m
test:
  commands: ["sh test/run.sh"]
  timeout: 2m
  reports: ["reports/*.xml"]
artifacts:
  - name: hello
    paths: ["dist/hello.tar.gz"]
approval:
  approvers: [%s]
  required: 1
  timeout: 72h
  allow_self_approval: false
deploy:
  commands:
    - mkdir -p %s && cp dist/hello.tar.gz %s/
`, demoApprover, deployDir, deployDir)
}

// waitForGate waits until the run waits at the gate (or ends without reaching it).
func (d *demo) waitForGate(ctx context.Context, s *local.Stack, runID, arn string) (*approval.Approval, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if a, err := s.Gate.ByRun(ctx, runID); err == nil && a != nil {
			return a, nil
		}
		if desc, err := s.Engine.DescribeExecution(ctx, arn); err == nil && desc.Status != asl.StatusRunning {
			return nil, fmt.Errorf("the run ended %s before the approval gate: %s %s", desc.Status, deref(desc.Error), deref(desc.Cause))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, errors.New("the run did not reach the approval gate within 2 minutes")
}

func (d *demo) printAudit(ctx context.Context, q audit.Querier, runID string) error {
	page, err := q.Query(ctx, audit.Filter{Run: runID, Limit: 100})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(d.c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   TIME\tTYPE\tSTAGE\tOUTCOME\tACTOR\tCHANNEL")
	for _, e := range page.Records {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Type, e.Stage, e.Outcome, e.Actor, e.Channel)
	}
	return tw.Flush()
}

func gitRun(dir string, args ...string) error {
	_, err := gitOutput(dir, args...)
	return err
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL="+demoPusher,
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL="+demoPusher, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
