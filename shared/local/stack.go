// Package local runs the whole shipgate pipeline on one machine: the ASL engine serving
// the Step Functions API and running the state machine definition the CDK app
// synthesizes, the Lambda handlers invoked in process through aws-lambda-go's handler, a
// DynamoDB-protocol server (shared/ddblocal, in this process), an S3-protocol server, an email outbox, the HTTP
// routes (webhook, approval pages, console, API) and a git watcher that turns pushes into
// the CodeCommit events the trigger handles on AWS. Every AWS call goes through the real
// SDK to those local endpoints, so what runs here is what runs there.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shipgate/shipgate/lambdas/api"
	"github.com/shipgate/shipgate/lambdas/approval"
	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/deploy"
	"github.com/shipgate/shipgate/lambdas/expire"
	"github.com/shipgate/shipgate/lambdas/notify"
	"github.com/shipgate/shipgate/lambdas/stage"
	testlambda "github.com/shipgate/shipgate/lambdas/test"
	triggerlambda "github.com/shipgate/shipgate/lambdas/trigger"
	"github.com/shipgate/shipgate/shared/app"
	gate "github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/asl"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/ddblocal"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/gitwatch"
	"github.com/shipgate/shipgate/shared/inodes"
	"github.com/shipgate/shipgate/shared/inproc"
	sgnotify "github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/s3local"
	"github.com/shipgate/shipgate/shared/table"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/workflow"
)

// Names of the local resources (one stack per data directory).
const (
	TableName        = "shipgate-local"
	BucketName       = "shipgate-local-artifacts"
	StateMachineName = "shipgate"
)

// Options configure Start.
type Options struct {
	// Repo is the watched repository (bare, or a working tree). Required.
	Repo string
	// Data is the data directory; empty means <Repo>/.shipgate.
	Data string
	// Addr is where the console and HTTP routes listen; empty means 127.0.0.1 on a free port.
	Addr string
	// User is the signed-in console user and the CLI's approver identity; empty means
	// git's user.email, else "you@localhost".
	User string
	// Pipeline names the pipeline; empty means the repository directory's name.
	Pipeline string
	// Out receives the terminal summary lines (outbox mails, stage progress); nil: discard.
	Out io.Writer
	// Logger receives operational logs; nil: <data>/shipgate.log.
	Logger *slog.Logger
	// Clock is the engine's clock; tests pass an asl.VirtualClock. Nil: real time.
	Clock asl.Clock
	// OnEvent observes every history event (after the stack's own progress printing).
	OnEvent func(executionARN, executionName string, ev asl.Event)
	// Quiet turns off the stage progress lines on Out.
	Quiet bool
	// NoWatch turns off the git watcher (tests that drive pushes themselves).
	NoWatch bool
	// OverTCP makes the in-process handlers' AWS clients reach the stand-ins through
	// their TCP endpoints, as the CLI and the AWS CLI do, instead of in process
	// (shared/inproc). Tests of the wire path use it.
	OverTCP bool
	// Scratch is where the stages make their workspaces (and remove them again); empty
	// means os.TempDir(). A run is many small file operations (a checkout, snapshots
	// restored, scratch directories made and removed), so on a machine whose /tmp is a
	// disk, a RAM-backed directory (tmpfs, such as /dev/shm) makes runs markedly faster;
	// it also holds every running stage's workspace in memory.
	Scratch string
	// AllowRemote lets Addr be a non-loopback address. The console signs every request in
	// as User, so serving it beyond this machine hands approvals to anyone who can reach it.
	AllowRemote bool
}

// LocalGCPercent is the Go garbage collector's GOGC while a stack runs, unless GOGC is
// set in the environment.
const LocalGCPercent = 400

// gcTuning counts the stacks that run the collector at LocalGCPercent: the setting is
// the process's, so the first stack sets it and the last one to close gives it back.
var gcTuning struct {
	sync.Mutex
	stacks int
	prev   int
}

// lessGC sets LocalGCPercent for one more stack, and returns what undoes that.
func lessGC() func() error {
	gcTuning.Lock()
	defer gcTuning.Unlock()
	if gcTuning.stacks == 0 {
		gcTuning.prev = debug.SetGCPercent(LocalGCPercent)
	}
	gcTuning.stacks++
	return func() error {
		gcTuning.Lock()
		defer gcTuning.Unlock()
		if gcTuning.stacks--; gcTuning.stacks == 0 {
			debug.SetGCPercent(gcTuning.prev)
		}
		return nil
	}
}

// Stack is a running local pipeline.
type Stack struct {
	Data         DataDir
	Endpoints    Endpoints
	Engine       *asl.Engine
	Config       app.Config
	Deps         *app.Deps
	Gate         *gate.Service
	Audit        *audit.Dynamo
	Trigger      *triggerlambda.Handler
	StateMachine string
	Watcher      *gitwatch.Watcher

	opts    Options
	log     *slog.Logger
	out     io.Writer
	closers []func() error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Start brings the stack up. On error everything started so far is stopped again.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Repo == "" {
		return nil, errors.New("no repository: pass --repo DIR")
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, err
	}
	o.Repo = repo
	gitDir, err := gitwatch.GitDir(repo)
	if err != nil {
		return nil, err
	}
	if o.Data == "" {
		o.Data = filepath.Join(repo, ".shipgate")
	}
	if o.Data, err = filepath.Abs(o.Data); err != nil {
		return nil, err
	}
	if o.Scratch != "" {
		if o.Scratch, err = usableScratch(o.Scratch); err != nil {
			return nil, err
		}
	}
	if o.Pipeline == "" {
		o.Pipeline = pipelineName(repo)
	}
	if o.User == "" {
		o.User = gitUserEmail(repo)
	}
	s := &Stack{Data: DataDir{Root: o.Data}, opts: o, out: o.Out}
	if s.out == nil {
		s.out = io.Discard
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	release, err := s.Data.TakeLock()
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { release(); return nil })
	ignoreDataDir(repo, gitDir, o.Data)
	if os.Getenv("GOGC") == "" {
		// The whole stack shares this process and two of its cores with the runs'
		// commands: collecting garbage a quarter as often took 15-25% off a trivial
		// run's overhead on a 2-core VM, for some 50 MB more memory at the peak.
		// GOGC in the environment still decides.
		s.closers = append(s.closers, lessGC())
	}

	s.log = o.Logger
	if s.log == nil {
		f, err := os.OpenFile(s.Data.Log(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, f.Close)
		s.log = slog.New(slog.NewTextHandler(f, nil))
	}

	// Stand-ins first: the handlers' clients point at them.
	if err := refuseDynaliteData(s.Data.DynamoDB()); err != nil {
		return nil, err
	}
	dyn, err := ddblocal.Start(ddblocal.Options{Path: s.Data.DynamoDB(), Region: awsclient.LocalRegion})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, dyn.Close)
	s3srv, err := s3local.Start(s3local.Options{DBPath: s.Data.S3(), Buckets: []string{BucketName}})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s3srv.Close)

	// The listeners are taken before anything else is built, because the handlers need
	// the Step Functions URL and the console's base URL (links in mails).
	sfnL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Step Functions API: %w", err)
	}
	s.closers = append(s.closers, closeListener(sfnL))
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := loopbackOnly(addr, o.AllowRemote); err != nil {
		return nil, err
	}
	webL, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.closers = append(s.closers, closeListener(webL))
	sfnURL := "http://" + sfnL.Addr().String()
	baseURL := "http://" + webL.Addr().String()

	eps := awsclient.Endpoints{StepFunctions: sfnURL, DynamoDB: dyn.URL, S3: s3srv.URL}
	cfg := app.Config{
		Table: TableName, Bucket: BucketName, Pipeline: o.Pipeline, BaseURL: baseURL,
		StateMachineARN: "arn:aws:states:" + awsclient.LocalRegion + ":000000000000:stateMachine:" + StateMachineName,
		Endpoints:       eps,
		// Run results go to the local user (approval requests go to the spec's approvers).
		NotifyEmails: []string{o.User},
	}
	deps, err := app.NewDeps(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// The handlers run in this process, and so do the stand-ins: their clients hand each
	// request to the stand-in's handler directly (the engine's once it serves, below;
	// until then a request to it goes over TCP).
	var wire *inproc.Transport
	if !o.OverTCP {
		wire = &inproc.Transport{}
		// DynamoDB answers with bounded JSON at once: in the caller's goroutine. S3
		// streams objects of any size: on a goroutine of its own, through a pipe.
		if err := errors.Join(wire.HandleBuffered(dyn.URL, dyn), wire.Handle(s3srv.URL, s3srv.Handler())); err != nil {
			return nil, err
		}
		deps.AWS.HTTPClient = &http.Client{Transport: wire}
		// The stand-ins accept any signature, and these requests never leave this
		// machine (the engine's go over loopback until it serves): signing them
		// (hashing each body, deriving keys, canonicalizing headers) was about a third
		// of each call's client CPU.
		deps.AWS.Credentials = aws.AnonymousCredentials{}
		deps.S3 = awsclient.S3(deps.AWS, cfg.Endpoints)
		deps.DynamoDB = awsclient.DynamoDB(deps.AWS, cfg.Endpoints)
		deps.SFN = awsclient.SFN(deps.AWS, cfg.Endpoints)
	}
	if o.Clock != nil {
		deps.Now = o.Clock.Now
	}
	if err := table.Ensure(ctx, deps.DynamoDB, TableName); err != nil {
		return nil, err
	}
	outbox, err := sgnotify.NewOutbox(s.Data.Outbox(), s.out)
	if err != nil {
		return nil, err
	}
	// A run writes three files here (the approval request, the result, the watcher's
	// state): where making a file is dear, they are made ahead, off the run's path.
	var dataFiles *inodes.Pool // nil where making files ahead does not pay
	if inodes.Worthwhile(s.Data.Root) {
		dataFiles = inodes.Make(s.Data.Root, 0, 0)
		dataFiles.KeepFilled(3)
		s.closers = append(s.closers, dataFiles.Close)
		outbox.Files = dataFiles
	}
	deps.Notify = outbox
	if deps.SigningKey, err = gate.LoadOrCreateKeyFile(s.Data.SigningKey()); err != nil {
		return nil, err
	}
	s.Config, s.Deps = cfg, deps
	s.Audit = audit.NewDynamo(deps.DynamoDB, TableName, audit.WithClock(deps.Clock()))

	funcs, err := s.handlers(cfg, deps)
	if err != nil {
		return nil, err
	}
	// NoSync: like the DynamoDB and S3 stand-ins beside it, the engine leaves syncing to
	// the kernel, so the stack survives kill -9 but not a power loss. Syncing only the
	// engine would not make a run survive one either (its audit records and artifacts
	// could still be lost) and cost a sync per Task, 1-3 ms each on a small VM's disk.
	eng, err := asl.Open(asl.Options{Path: s.Data.Engine(), Clock: o.Clock, Logger: s.log,
		OnEvent: s.onEvent, Functions: funcs, NoSync: true})
	if err != nil {
		return nil, err
	}
	s.Engine = eng
	s.closers = append(s.closers, eng.Close)
	def, err := Definition()
	if err != nil {
		return nil, err
	}
	if s.StateMachine, err = eng.PutStateMachine(ctx, StateMachineName, def); err != nil {
		return nil, fmt.Errorf("the embedded state machine definition does not load: %w", err)
	}
	if s.StateMachine != cfg.StateMachineARN {
		return nil, fmt.Errorf("state machine ARN %s, expected %s", s.StateMachine, cfg.StateMachineARN)
	}

	// HTTP: the engine's API on its own port, the product's routes on the console port.
	api := eng.Handler()
	if wire != nil {
		// Streaming: a page of execution history can hold tens of megabytes.
		if err := wire.Handle(sfnURL, api); err != nil {
			return nil, err
		}
	}
	sfnSrv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go sfnSrv.Serve(sfnL)
	s.closers = append(s.closers, shutdown(sfnSrv))
	topts := trigger.LocalOptions(s.Audit)
	topts.Commits = commitLister{}
	th, err := triggerlambda.NewWithOptions(cfg, deps, topts)
	if err != nil {
		return nil, err
	}
	s.Trigger = th
	router, err := s.routes(cfg, deps, baseURL)
	if err != nil {
		return nil, err
	}
	if !o.AllowRemote {
		router = sameHost(webL.Addr().(*net.TCPAddr).Port, router)
	}
	webSrv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	go webSrv.Serve(webL)
	s.closers = append(s.closers, shutdown(webSrv))

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if !o.NoWatch {
		w, err := gitwatch.New(gitwatch.Options{Repo: repo, StateFile: s.Data.WatchState(), Files: dataFiles,
			OnChange: func(c gitwatch.Change) error { return s.push(runCtx, c) },
			OnError:  func(err error) { s.log.Warn("git watch", "err", err) }})
		if err != nil {
			return nil, err
		}
		s.Watcher = w
		s.wg.Add(1)
		go func() { defer s.wg.Done(); w.Run(runCtx) }()
	}
	// A decision recorded but not yet delivered to the engine (a crash between the two)
	// is completed by the sweep; run it now and then.
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.sweep(runCtx) }()

	s.Endpoints = Endpoints{Console: baseURL, StepFunctions: sfnURL, DynamoDB: dyn.URL, S3: s3srv.URL,
		Table: TableName, Bucket: BucketName, StateMachine: s.StateMachine, Pipeline: o.Pipeline, User: o.User, PID: os.Getpid()}
	if err := s.Data.WriteEndpoints(s.Endpoints); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { return os.Remove(s.Data.Endpoints()) })
	return s, nil
}

// Definition is the embedded golden definition with local function ARNs. It refuses to
// run a definition whose functions differ from the ones local mode registers: that means
// the CDK app and local mode drifted apart.
func Definition() ([]byte, error) {
	want := make([]string, 0, len(workflow.StateFunctions()))
	for _, f := range workflow.StateFunctions() {
		want = append(want, workflow.Placeholder(f))
	}
	got := workflow.Placeholders(workflow.Definition)
	if strings.Join(slices.Sorted(slices.Values(want)), ",") != strings.Join(got, ",") {
		return nil, fmt.Errorf("the embedded definition references functions %v but local mode registers %v: regenerate it with `go test ./infra/... -update`", got, slices.Sorted(slices.Values(want)))
	}
	return workflow.Resolve(workflow.Definition, workflow.LocalARN), nil
}

// handlers builds every state machine function, keyed by its local ARN. One approval
// gate serves the RequestApproval and Expire functions, the console and the sweep, and
// one audit store serves everything, so appends to the pipeline's chain are serialized in
// process and each costs a single conditional write.
func (s *Stack) handlers(cfg app.Config, deps *app.Deps) (map[string]lambda.Handler, error) {
	g, err := gate.New(cfg, deps, gate.WithAudit(s.Audit), gate.WithLogger(s.log))
	if err != nil {
		return nil, err
	}
	s.Gate = g
	var errs []error
	check := func(f workflow.Function, err error) bool {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s handler: %w", f, err))
		}
		return err == nil
	}
	fns := map[string]lambda.Handler{}
	reg := func(f workflow.Function, handle any) { fns[workflow.LocalARN(f)] = lambda.NewHandler(handle) }
	if h, err := build.NewWith(cfg, deps, build.Options{Audit: s.Audit, WorkDir: s.opts.Scratch, Scratch: s.scratchFor("build")}); check(workflow.FnBuild, err) {
		reg(workflow.FnBuild, h.Handle)
	}
	if h, err := testlambda.NewWith(cfg, deps, testlambda.Options{Audit: s.Audit, WorkDir: s.opts.Scratch, Scratch: s.scratchFor("test")}); check(workflow.FnTest, err) {
		reg(workflow.FnTest, h.Handle)
	}
	if h, err := stage.NewWith(cfg, deps, stage.Options{Audit: s.Audit, WorkDir: s.opts.Scratch, Scratch: s.scratchFor("stage")}); check(workflow.FnStage, err) {
		reg(workflow.FnStage, h.Handle)
	}
	if h, err := deploy.NewWith(cfg, deps, deploy.Options{Audit: s.Audit, WorkDir: s.opts.Scratch, Scratch: s.scratchFor("deploy")}); check(workflow.FnDeploy, err) {
		reg(workflow.FnDeploy, h.Handle)
	}
	if h, err := notify.NewWith(cfg, deps, notify.Options{Audit: s.Audit}); check(workflow.FnNotify, err) {
		reg(workflow.FnNotify, h.Handle)
	}
	reg(workflow.FnApproval, approval.NewWithService(g).Handle)
	reg(workflow.FnExpire, expire.NewWithService(g).Handle)
	return fns, errors.Join(errs...)
}

// scratchFor is the Scratch of one stage handler: its workspaces made ahead and removed
// after it reports, off the run's path. Closed after the engine, which stops calling the
// handlers first.
func (s *Stack) scratchFor(stage string) *stagekit.Scratch {
	sc := stagekit.NewScratch(s.opts.Scratch, stage)
	s.closers = append(s.closers, sc.Close)
	return sc
}

// routes builds the HTTP surface: the same router the Api Lambda serves on AWS, signed in
// as the local user instead of through Cognito.
func (s *Stack) routes(cfg app.Config, deps *app.Deps, baseURL string) (http.Handler, error) {
	secret, err := Secret(s.Data.WebhookSecret(), 32)
	if err != nil {
		return nil, err
	}
	// GitHub deliveries go to the same trigger service as local pushes; they name a
	// github.com repository, but locally its commits live in the watched directory, so
	// the run clones from there.
	return api.Router(api.Parts{Gate: s.Gate, Audit: s.Audit, Trigger: localGitHub{svc: s.Trigger.Service(), repo: s.opts.Repo},
		WebhookSecret: secret, BaseURL: baseURL, Pipeline: cfg.Pipeline, FormKey: deps.SigningKey, LocalUser: s.opts.User, Logger: s.log})
}

// localGitHub points GitHub pushes at the local repository.
type localGitHub struct {
	svc  *trigger.Service
	repo string
}

func (l localGitHub) Handle(ctx context.Context, ev trigger.Event) (trigger.Result, error) {
	ev.Push.Provider = domain.ProviderLocal
	ev.Push.CloneURL = l.repo
	return l.svc.Handle(ctx, ev)
}

// push turns a ref change into the CodeCommit event EventBridge would deliver and hands
// it to the trigger handler, as on AWS. The pusher is the new commit's committer.
// push starts the run of a change. The error it returns, when stopping or when the
// trigger failed in a way a retry can mend, leaves the change to the watcher, which
// reports it again after a wait that grows to a minute; whatever else went wrong is
// reported and the change is done with.
func (s *Stack) push(ctx context.Context, c gitwatch.Change) error {
	caller := s.opts.User
	if c.New != gitwatch.ZeroSHA {
		if email := committerEmail(s.opts.Repo, c.New); email != "" {
			caller = email
		}
	}
	ev := trigger.CodeCommitEvent(s.opts.Repo, c.Ref, c.Old, c.New, caller, time.Now())
	res, err := s.Trigger.Handle(ctx, ev)
	if err != nil {
		if ctx.Err() != nil {
			return err // stopping: the next start reports the push again
		}
		// A transient failure, or losing the audit chain's race too often, can pass.
		retry := domain.IsKind(err, domain.Transient) || domain.IsKind(err, domain.Conflict)
		if retry {
			fmt.Fprintf(s.out, "push %s %s: not started yet, retrying: %v\n", c.Ref, short(c.New), err)
		} else {
			fmt.Fprintf(s.out, "push %s %s: not started: %v\n", c.Ref, short(c.New), err)
		}
		s.log.Error("trigger", "ref", c.Ref, "commit", c.New, "retry", retry, "err", err)
		if retry {
			return err
		}
		return nil
	}
	switch res.Outcome {
	case trigger.Started:
		fmt.Fprintf(s.out, "push %s %s: run %s started\n", c.Ref, short(c.New), res.RunID)
	default:
		fmt.Fprintf(s.out, "push %s %s: %s (%s)\n", c.Ref, short(c.New), res.Outcome, res.Reason)
	}
	return nil
}

func (s *Stack) sweep(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if n, err := s.Gate.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("approval sweep", "err", err)
		} else if n > 0 {
			s.log.Info("approval sweep resumed runs", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refuseDynaliteData stops a start on a data directory whose table an earlier shipgate
// kept in dynalite (LevelDB files, no log of local mode's own DynamoDB): starting empty
// would silently lose its approvals and audit trail while the engine still waits on them.
func refuseDynaliteData(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, ddblocal.LogName)); err == nil {
		return nil
	}
	return fmt.Errorf("%s holds a table written by an earlier shipgate (dynalite), which this one cannot read; "+
		"start with another --data directory, or remove %s to start the whole stack afresh", dir, filepath.Dir(dir))
}

// onEvent prints stage progress: each Task state as it starts and ends, and the run's end.
func (s *Stack) onEvent(arn, name string, ev asl.Event) {
	if !s.opts.Quiet {
		if line := progressLine(name, ev); line != "" {
			fmt.Fprintln(s.out, line)
		}
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(arn, name, ev)
	}
}

func progressLine(run string, ev asl.Event) string {
	switch ev.Type {
	case "TaskStateEntered":
		if ev.StateName == workflow.StateRequestApproval {
			return fmt.Sprintf("[%s] %s: waiting for a decision", run, ev.StateName)
		}
		if strings.HasPrefix(ev.StateName, "Notify") {
			return ""
		}
		return fmt.Sprintf("[%s] %s: started", run, ev.StateName)
	case "TaskStateExited":
		if strings.HasPrefix(ev.StateName, "Notify") {
			return ""
		}
		return fmt.Sprintf("[%s] %s: done", run, ev.StateName)
	case "TaskFailed", "TaskTimedOut":
		return fmt.Sprintf("[%s] %s %s: %s", run, strings.TrimPrefix(ev.Type, "Task"), ev.Error, firstLine(ev.Cause))
	case "ExecutionSucceeded":
		return fmt.Sprintf("[%s] run SUCCEEDED", run)
	case "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted":
		return fmt.Sprintf("[%s] run %s: %s %s", run, strings.TrimPrefix(ev.Type, "Execution"), ev.Error, firstLine(ev.Cause))
	}
	return ""
}

// Close stops the stack in order: no new pushes, the HTTP servers, the engine (it lets
// handler invocations in flight finish and flushes its database), then the stores.
func (s *Stack) Close() error {
	var errs []error
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// loopbackOnly refuses a listen address beyond this machine unless allowed.
func loopbackOnly(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT: %w", addr, err)
	}
	if allow || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--addr %s is not a loopback address: the local console signs every visitor in as the configured user, so it only listens on this machine (127.0.0.1); pass --allow-remote to override", addr)
}

// sameHost answers only requests addressed to this machine's loopback names, so a web
// page in the user's browser cannot reach the signed-in console through DNS rebinding.
func sameHost(port int, next http.Handler) http.Handler {
	ok := map[string]bool{}
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		ok[fmt.Sprintf("%s:%d", h, port)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok[strings.ToLower(r.Host)] {
			http.Error(w, "misdirected request: the local console answers only to 127.0.0.1 and localhost", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func closeListener(l net.Listener) func() error {
	return func() error {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// shutdown lets requests in flight finish for a moment, then closes what is left: an
// idle pooled connection that never sent a request must not hold up Ctrl-C.
func shutdown(srv *http.Server) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			return srv.Close()
		}
		return nil
	}
}

// ignoreDataDir keeps a data directory inside a working tree out of git status.
func ignoreDataDir(repo, gitDir, data string) {
	rel, err := filepath.Rel(repo, data)
	if err != nil || strings.HasPrefix(rel, "..") || gitDir == repo { // bare: nothing is tracked there
		return
	}
	exclude := filepath.Join(gitDir, "info", "exclude")
	b, _ := os.ReadFile(exclude)
	line := "/" + filepath.ToSlash(rel) + "/"
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == line {
			return
		}
	}
	_ = os.MkdirAll(filepath.Dir(exclude), 0o755)
	f, err := os.OpenFile(exclude, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if len(b) > 0 && !strings.HasSuffix(string(b), "\n") {
		line = "\n" + line
	}
	fmt.Fprintln(f, line)
}

func pipelineName(repo string) string {
	n := strings.TrimSuffix(filepath.Base(repo), ".git")
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "pipeline"
	}
	return b.String()
}

// usableScratch checks that dir (made if missing) is a directory the stages can create
// their workspaces in, and returns it absolute: a bad --scratch fails at start, not in
// the first run's Build.
func usableScratch(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("scratch directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("scratch directory %s: %w", dir, err)
	}
	probe, err := os.MkdirTemp(abs, ".shipgate-probe-")
	if err != nil {
		return "", fmt.Errorf("scratch directory %s: the stages cannot create workspaces in it: %w", dir, err)
	}
	os.Remove(probe)
	return abs, nil
}

func gitUserEmail(repo string) string {
	if e := gitOut(repo, "config", "user.email"); e != "" {
		return e
	}
	return "you@localhost"
}

func gitOut(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
