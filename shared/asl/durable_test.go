package asl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	bolt "go.etcd.io/bbolt"
)

const durableDef = `{"StartAt":"Prepare","States":{
	"Prepare":{"Type":"Pass","Result":"prepared","ResultPath":"$.prep","Next":"Work"},
	"Work":{"Type":"Task","Resource":"` + fnARN + `work","ResultPath":"$.work",
		"Retry":[{"ErrorEquals":["Lambda.ServiceException"],"IntervalSeconds":1,"MaxAttempts":2}],"Next":"Ask"},
	"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},
		"TimeoutSeconds":3600,"ResultPath":"$.answer","End":true}}}`

// durableParallelDef: branch 0 finishes before the crash, branch 1 waits on a token
// (after a Wait, so branch 0 is done by then, and with a variable of its own), branch 2
// is mid-flight in a handler when the process dies.
const durableParallelDef = `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
	{"StartAt":"Fast","States":{"Fast":{"Type":"Task","Resource":"` + fnARN + `work","End":true}}},
	{"StartAt":"Pre","States":{
		"Pre":{"Type":"Pass","Result":"pre","ResultPath":"$.pre","Assign":{"v":"kept"},"Next":"Pause"},
		"Pause":{"Type":"Wait","Seconds":1,"Next":"Ask"},
		"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},
			"TimeoutSeconds":3600,"ResultPath":"$.answer","Next":"Post"},
		"Post":{"Type":"Pass","Parameters":{"answer.$":"$.answer","pre.$":"$.pre","v.$":"$v"},"End":true}}},
	{"StartAt":"Slow","States":{"Slow":{"Type":"Task","Resource":"` + fnARN + `slow","End":true}}}]}}}`

// durableMapDef runs one iteration at a time: item 0 finishes, item 1 waits on a token,
// item 2 has not started when the process dies.
const durableMapDef = `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,
	"ItemsPath":"$.items","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Kind","States":{
		"Kind":{"Type":"Choice","Choices":[{"Variable":"$.kind","StringEquals":"ask","Next":"Ask"}],"Default":"Work"},
		"Work":{"Type":"Task","Resource":"` + fnARN + `work","End":true},
		"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token","index.$":"$$.Map.Item.Index"}},
			"TimeoutSeconds":3600,"End":true}}}}}}`

// durableParMapDef nests a Map in a Parallel branch: branch 0 finishes, branch 1 (with
// a variable of its own, after a Wait so branch 0 is done) runs a Map one item at a
// time whose item 0 finishes, item 1 waits on a token (with a variable of the
// iteration's own and reading the branch's) and item 2 has not started.
const durableParMapDef = `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
	{"StartAt":"Fast","States":{"Fast":{"Type":"Task","Resource":"` + fnARN + `work","End":true}}},
	{"StartAt":"Pre","States":{
		"Pre":{"Type":"Pass","Assign":{"v":"kept"},"Next":"Pause"},
		"Pause":{"Type":"Wait","Seconds":1,"Next":"M"},
		"M":{"Type":"Map","MaxConcurrency":1,"ItemsPath":"$.items","ResultPath":"$.m","Next":"Post",
			"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Kind","States":{
				"Kind":{"Type":"Choice","Choices":[{"Variable":"$.kind","StringEquals":"ask","Next":"Mark"}],"Default":"Work"},
				"Work":{"Type":"Task","Resource":"` + fnARN + `work","End":true},
				"Mark":{"Type":"Pass","Assign":{"w":"inner"},"Next":"Ask"},
				"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
					"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},
					"TimeoutSeconds":3600,"ResultPath":"$.answer","Next":"Seen"},
				"Seen":{"Type":"Pass","Parameters":{"answer.$":"$.answer","w.$":"$w","v.$":"$v"},"End":true}}}},
		"Post":{"Type":"Pass","Parameters":{"m.$":"$.m","v.$":"$v"},"End":true}}}]}}}`

// durableMapParDef nests a Parallel in a Map iteration: items run one at a time, item
// 0 finishes, item 1 runs a Parallel whose branch 0 finishes and branch 1 waits on a
// token (after a Wait), item 2 has not started.
const durableMapParDef = `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,
	"ItemsPath":"$.items","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Kind","States":{
		"Kind":{"Type":"Choice","Choices":[{"Variable":"$.kind","StringEquals":"ask","Next":"P"}],"Default":"Work"},
		"Work":{"Type":"Task","Resource":"` + fnARN + `work","End":true},
		"P":{"Type":"Parallel","End":true,"Branches":[
			{"StartAt":"Fast","States":{"Fast":{"Type":"Task","Resource":"` + fnARN + `work","End":true}}},
			{"StartAt":"Pause","States":{
				"Pause":{"Type":"Wait","Seconds":1,"Next":"Ask"},
				"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
					"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},
					"TimeoutSeconds":3600,"End":true}}}]}}}}}}`

// parkedKeys names, per child mode, the branch records that must be on disk (finished,
// and waiting on a token) before the child reports PARKED.
var parkedKeys = map[string]struct {
	done  []string
	token string
}{
	"parallel": {[]string{"0"}, "1"},
	"map":      {[]string{"0"}, "1"},
	"parmap":   {[]string{"0", "1/0"}, "1/1"},
	"mappar":   {[]string{"0", "1/0"}, "1/1"},
}

// TestDurableChild is the process that gets killed: it only runs when re-executed by
// TestDurability.
func TestDurableChild(t *testing.T) {
	mode, dir := os.Getenv("ASL_CHILD_MODE"), os.Getenv("ASL_CHILD_DIR")
	if mode == "" {
		t.Skip("helper process for TestDurability")
	}
	e, err := Open(Options{Path: dir, NoSync: os.Getenv("ASL_CHILD_NOSYNC") != ""})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	e.RegisterFunction(fnARN+"work", lambda.NewHandler(func(ctx context.Context) (string, error) {
		if mode == "inflight" {
			fmt.Println("INFLIGHT")
			select {} // killed while the handler runs
		}
		return "worked", nil
	}))
	e.RegisterFunction(fnARN+"slow", lambda.NewHandler(func(ctx context.Context) (string, error) {
		fmt.Println("SLOW")
		select {} // killed while the handler runs
	}))
	issued := make(chan string, 1)
	e.RegisterFunction(fnARN+"ask", lambda.NewHandler(func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		fmt.Println("TOKEN", in.Token)
		select {
		case issued <- in.Token:
		default:
		}
		return "", nil
	}))
	// With ASL_CHILD_ANSWER the child answers its own token once parked, then stops the
	// execution right after the answer is acknowledged, before any checkpoint: the
	// kill -9 that follows must not lose the answer.
	answered := false
	answerOnce := func() {
		if answered || os.Getenv("ASL_CHILD_ANSWER") == "" {
			return
		}
		answered = true
		testHookResume = func() {
			fmt.Println("RESUMING")
			select {}
		}
		if err := e.SendTaskSuccess(context.Background(), <-issued, []byte(`{"approved":"before the crash"}`)); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("ACKED")
	}
	if mode == "grown" {
		growDatabase(e)
	}
	def, input := durableDef, `{"n":1}`
	switch mode {
	case "parallel":
		def = durableParallelDef
	case "map":
		def, input = durableMapDef, `{"items":[{"kind":"work"},{"kind":"ask"},{"kind":"work"}]}`
	case "parmap":
		def, input = durableParMapDef, `{"items":[{"kind":"work"},{"kind":"ask"},{"kind":"work"}]}`
	case "mappar":
		def, input = durableMapParDef, `{"items":[{"kind":"work"},{"kind":"ask"},{"kind":"work"}]}`
	}
	arn, err := e.CreateStateMachine(context.Background(), "durable", []byte(def))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	res, err := e.StartExecution(context.Background(), arn, "d1", []byte(input))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if pk, ok := parkedKeys[mode]; ok {
		// Report once the database holds the finished branches and the one waiting on
		// its token: what the crash must not lose.
		for {
			var r execRec
			_ = e.st.db.View(func(tx *bolt.Tx) error {
				if v := tx.Bucket(bExecs).Get([]byte(res.ExecutionARN)); v != nil {
					return json.Unmarshal(v, &r)
				}
				return nil
			})
			ready := true
			for _, k := range pk.done {
				var b branchRec
				ready = ready && json.Unmarshal(r.Branches[k], &b) == nil && b.Done
			}
			var w branchRec
			ready = ready && json.Unmarshal(r.Branches[pk.token], &w) == nil && w.Cursor != nil && w.Cursor.Token != ""
			if ready {
				fmt.Println("PARKED")
				answerOnce()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Report once the execution is parked on its token (its checkpoint is on disk).
	x, _ := e.getExec(res.ExecutionARN)
	for {
		x.mu.Lock()
		parked := x.parked != nil
		x.mu.Unlock()
		if parked {
			fmt.Println("PARKED")
			answerOnce()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Executions growDatabase runs, and the size of each one's input: enough that the
// database file grows past its first InitialFileSize before the crash.
const grownRuns, grownInput = 150, 32 << 10

// growDatabase runs grownRuns short executions with large inputs, one after another,
// so that the database's file grows past the size it starts at.
func growDatabase(e *Engine) {
	arn, err := e.CreateStateMachine(context.Background(), "filler", []byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	for i := range grownRuns {
		res, err := e.StartExecution(context.Background(), arn, fmt.Sprintf("f%d", i), []byte(grownPayload(i)))
		if err == nil {
			_, err = e.WaitExecution(context.Background(), res.ExecutionARN)
		}
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
	}
}

func grownPayload(i int) string {
	return fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat(strconv.Itoa(i%10), grownInput))
}

// startChild runs TestDurableChild and returns it with its stdout lines.
func startChild(t *testing.T, mode, dir string, env ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableChild$", "-test.v")
	cmd.Env = append(append(os.Environ(), "ASL_CHILD_MODE="+mode, "ASL_CHILD_DIR="+dir), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, lines
}

func expectLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child exited before printing %s", prefix)
			}
			if strings.HasPrefix(l, "ERROR") {
				t.Fatalf("child: %s", l)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		case <-timeout:
			t.Fatalf("child never printed %s", prefix)
		}
	}
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestDurability kills a real engine process with SIGKILL and reopens its database,
// with the engine syncing every commit and with NoSync (local mode's setting), which
// must survive a killed process all the same.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"sync", false}, {"nosync", true}} {
		t.Run(tc.name, func(t *testing.T) { testDurability(t, tc.noSync) })
	}
}

func testDurability(t *testing.T, noSync bool) {
	var childEnv []string
	if noSync {
		childEnv = []string{"ASL_CHILD_NOSYNC=1"}
	}
	startChild := func(t *testing.T, mode, dir string) (*exec.Cmd, <-chan string) {
		t.Helper()
		return startChild(t, mode, dir, childEnv...)
	}
	execARN := "arn:aws:states:us-east-1:000000000000:execution:durable:d1"
	// reopen opens the engine on dir with its functions registered up front: Open resumes
	// executions at once, and a function registered after it may be looked up too late.
	reopen := func(t *testing.T, dir string, work func() (string, error), extra ...map[string]lambda.Handler) (*Engine, chan string) {
		tokens := make(chan string, 16)
		funcs := map[string]lambda.Handler{
			fnARN + "work": lambda.NewHandler(work),
			fnARN + "ask": lambda.NewHandler(func(ctx context.Context, in struct {
				Token string `json:"token"`
			}) (string, error) {
				tokens <- in.Token
				return "asked", nil
			}),
		}
		for _, m := range extra {
			for k, v := range m {
				funcs[k] = v
			}
		}
		e, err := Open(Options{NoSync: noSync, Path: dir, Clock: NewVirtualClock(time.Now(), true), Functions: funcs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e, tokens
	}
	// crashAtToken runs mode in a child engine until its task token is parked, kills it
	// with SIGKILL and returns the token issued before the crash.
	crashAtToken := func(t *testing.T, mode, dir string) string {
		t.Helper()
		cmd, lines := startChild(t, mode, dir)
		token := expectLine(t, lines, "TOKEN")
		expectLine(t, lines, "PARKED")
		kill9(t, cmd)
		return token
	}
	// answerAndWait answers the pre-crash token with an approval and waits for the end.
	answerAndWait := func(t *testing.T, e *Engine, token string) *ExecutionDescription {
		t.Helper()
		if err := e.SendTaskSuccess(context.Background(), token, []byte(`{"approved":true}`)); err != nil {
			t.Fatalf("SendTaskSuccess with the pre-crash token: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := e.WaitExecution(ctx, execARN)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// checkIDs checks the history's event ids run 1, 2, 3... across the crash.
	checkIDs := func(t *testing.T, h []Event) {
		t.Helper()
		for i, ev := range h {
			if ev.ID != int64(i+1) {
				t.Fatalf("event %d has id %d", i, ev.ID)
			}
		}
	}
	t.Run("a task token issued before the crash resumes the execution", func(t *testing.T) {
		dir := t.TempDir()
		token := crashAtToken(t, "token", dir)

		var calls atomic.Int32
		e, _ := reopen(t, dir, func() (string, error) { calls.Add(1); return "again", nil })
		d, err := e.DescribeExecution(context.Background(), execARN)
		if err != nil || d.Status != StatusRunning {
			t.Fatalf("after restart: got %+v %v, want RUNNING", d, err)
		}
		d = answerAndWait(t, e, token)
		want := `{"answer":{"approved":true},"n":1,"prep":"prepared","work":"worked"}`
		if d.Status != StatusSucceeded || str(d.Output) != want {
			t.Errorf("got %s %s, want SUCCEEDED %s", d.Status, str(d.Output), want)
		}
		if calls.Load() != 0 {
			t.Errorf("the finished Work task ran again %d times; want 0", calls.Load())
		}
		h, _ := e.GetExecutionHistory(context.Background(), execARN)
		if got := eventTypes(h); !strings.HasPrefix(got, "ExecutionStarted PassStateEntered PassStateExited TaskStateEntered LambdaFunctionScheduled") || !strings.HasSuffix(got, "TaskSucceeded TaskStateExited ExecutionSucceeded") {
			t.Errorf("history: got %s", got)
		}
		checkIDs(t, h)
		if err := e.SendTaskSuccess(context.Background(), token, []byte(`{}`)); ErrorCode(err) != "TaskTimedOut" {
			t.Errorf("reusing the token: got %v, want TaskTimedOut", err)
		}
	})
	t.Run("a database grown before the crash opens with all it held", func(t *testing.T) {
		dir := t.TempDir()
		token := crashAtToken(t, "grown", dir)
		if fi, err := os.Stat(filepath.Join(dir, DBFile)); err != nil || fi.Size() <= InitialFileSize {
			t.Fatalf("the database is %v (%v): it did not grow as the test needs", fi, err)
		}
		e, _ := reopen(t, dir, func() (string, error) { return "again", nil })
		for i := range grownRuns {
			arn := fmt.Sprintf("arn:aws:states:us-east-1:000000000000:execution:filler:f%d", i)
			d, err := e.DescribeExecution(context.Background(), arn)
			if err != nil || d.Status != StatusSucceeded || str(d.Output) != grownPayload(i) {
				t.Fatalf("execution f%d after the crash: %v %v", i, d, err)
			}
		}
		if d := answerAndWait(t, e, token); d.Status != StatusSucceeded {
			t.Errorf("the execution parked after the growth: %s, want SUCCEEDED", d.Status)
		}
	})
	t.Run("a task interrupted mid-flight is re-run per its Retry policy", func(t *testing.T) {
		dir := t.TempDir()
		cmd, lines := startChild(t, "inflight", dir)
		expectLine(t, lines, "INFLIGHT")
		kill9(t, cmd)

		var calls atomic.Int32
		e, tokens := reopen(t, dir, func() (string, error) { calls.Add(1); return "rerun", nil })
		token := waitToken(t, tokens)
		if err := e.SendTaskSuccess(context.Background(), token, []byte(`"yes"`)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := e.WaitExecution(ctx, execARN)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != StatusSucceeded || !strings.Contains(str(d.Output), `"work":"rerun"`) {
			t.Errorf("got %s %s, want SUCCEEDED with the re-run's result", d.Status, str(d.Output))
		}
		if calls.Load() != 1 {
			t.Errorf("re-runs: got %d, want 1", calls.Load())
		}
		h, _ := e.GetExecutionHistory(context.Background(), execARN)
		if got := eventTypes(h); !strings.Contains(got, "LambdaFunctionStarted LambdaFunctionFailed LambdaFunctionScheduled LambdaFunctionStarted LambdaFunctionSucceeded") {
			t.Errorf("history: got %s, want the interrupted attempt failed then retried", got)
		}
	})
	t.Run("a task token issued inside a Parallel branch before the crash resumes its branch", func(t *testing.T) {
		dir := t.TempDir()
		cmd, lines := startChild(t, "parallel", dir)
		expectLine(t, lines, "SLOW") // printed at once; the token comes after the 1 s Wait
		token := expectLine(t, lines, "TOKEN")
		expectLine(t, lines, "PARKED")
		kill9(t, cmd)

		var calls, slowCalls atomic.Int32
		e, tokens := reopen(t, dir, func() (string, error) { calls.Add(1); return "again", nil }, map[string]lambda.Handler{
			fnARN + "slow": lambda.NewHandler(func(ctx context.Context) (string, error) {
				slowCalls.Add(1)
				return "slow again", nil
			})})
		d := answerAndWait(t, e, token)
		want := `["worked",{"answer":{"approved":true},"pre":"pre","v":"kept"},"slow again"]`
		if d.Status != StatusSucceeded || str(d.Output) != want {
			t.Errorf("got %s %s, want SUCCEEDED %s", d.Status, str(d.Output), want)
		}
		checks := []struct {
			name      string
			got, want int32
		}{
			{"finished branch's handler runs after restart", calls.Load(), 0},
			{"interrupted branch's handler runs after restart", slowCalls.Load(), 1},
			{"new tokens issued after restart", int32(len(tokens)), 0},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
			}
		}
		if err := e.SendTaskSuccess(context.Background(), token, []byte(`{}`)); ErrorCode(err) != "TaskTimedOut" {
			t.Errorf("reusing the token: got %v, want TaskTimedOut", err)
		}
	})
	t.Run("a task token issued inside a Map iteration before the crash resumes its iteration", func(t *testing.T) {
		dir := t.TempDir()
		token := crashAtToken(t, "map", dir)

		var calls atomic.Int32
		e, tokens := reopen(t, dir, func() (string, error) { calls.Add(1); return "again", nil })
		d := answerAndWait(t, e, token)
		want := `["worked",{"approved":true},"again"]`
		if d.Status != StatusSucceeded || str(d.Output) != want {
			t.Errorf("got %s %s, want SUCCEEDED %s", d.Status, str(d.Output), want)
		}
		if calls.Load() != 1 || len(tokens) != 0 {
			t.Errorf("after restart: work ran %d times (want 1: item 2 only), %d new tokens (want 0)", calls.Load(), len(tokens))
		}
		h, _ := e.GetExecutionHistory(context.Background(), execARN)
		checkIDs(t, h)
		if got := eventTypes(h); strings.Count(got, "MapStateStarted") != 1 || !strings.HasSuffix(got, "MapStateSucceeded MapStateExited ExecutionSucceeded") {
			t.Errorf("history: got %s, want one MapStateStarted and the Map state's end", got)
		}
	})
	nested := []struct {
		name, mode, want string
		work             int32 // handler runs after the restart: item 2 only
	}{
		{
			name: "a task token issued in a Map inside a Parallel branch before the crash resumes its iteration",
			mode: "parmap",
			want: `["worked",{"m":["worked",{"answer":{"approved":true},"v":"kept","w":"inner"},"again"],"v":"kept"}]`,
			work: 1,
		},
		{
			name: "a task token issued in a Parallel inside a Map iteration before the crash resumes its branch",
			mode: "mappar",
			want: `["worked",["worked",{"approved":true}],"again"]`,
			work: 1,
		},
	}
	for _, tc := range nested {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			token := crashAtToken(t, tc.mode, dir)

			var calls atomic.Int32
			e, tokens := reopen(t, dir, func() (string, error) { calls.Add(1); return "again", nil })
			d := answerAndWait(t, e, token)
			if d.Status != StatusSucceeded || str(d.Output) != tc.want {
				t.Errorf("got %s %s, want SUCCEEDED %s", d.Status, str(d.Output), tc.want)
			}
			if calls.Load() != tc.work || len(tokens) != 0 {
				t.Errorf("after restart: work ran %d times (want %d), %d new tokens (want 0)", calls.Load(), tc.work, len(tokens))
			}
			if err := e.SendTaskSuccess(context.Background(), token, []byte(`{}`)); ErrorCode(err) != "TaskTimedOut" {
				t.Errorf("reusing the token: got %v, want TaskTimedOut", err)
			}
			h, _ := e.GetExecutionHistory(context.Background(), execARN)
			checkIDs(t, h)
			got := eventTypes(h)
			for _, typ := range []string{"ParallelStateStarted", "MapStateStarted"} {
				if strings.Count(got, typ) != 1 {
					t.Errorf("history: got %s, want one %s", got, typ)
				}
			}
		})
	}
	t.Run("opening a data directory in use fails clearly", func(t *testing.T) {
		dir := t.TempDir()
		e, err := Open(Options{NoSync: noSync, Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		start := time.Now()
		_, err = Open(Options{NoSync: noSync, Path: dir, OpenTimeout: 200 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "in use by another process") {
			t.Errorf("second open: got %v, want an 'in use' error", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("second open took %v; it must not hang", time.Since(start))
		}
	})
	t.Run("finished executions and their history survive a clean restart", func(t *testing.T) {
		dir := t.TempDir()
		e, err := Open(Options{NoSync: noSync, Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		arn := mustCreate(t, e, "p", `{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"x":1},"Next":"B"},"B":{"Type":"Succeed"}}}`)
		d := runToEnd(t, e, arn, "p1", `{}`)
		if d.Status != StatusSucceeded {
			t.Fatalf("got %s", d.Status)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e2, err := Open(Options{NoSync: noSync, Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e2.Close()
		d2, err := e2.DescribeExecution(context.Background(), d.ExecutionARN)
		if err != nil || d2.Status != StatusSucceeded || str(d2.Output) != `{"x":1}` {
			t.Fatalf("after reopen: got %+v %v", d2, err)
		}
		h, _ := e2.GetExecutionHistory(context.Background(), d.ExecutionARN)
		if got := eventTypes(h); got != "ExecutionStarted PassStateEntered PassStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded" {
			t.Errorf("history: got %s", got)
		}
		if _, err := e2.StartExecution(context.Background(), arn, "p1", []byte(`{}`)); ErrorCode(err) != "ExecutionAlreadyExists" {
			t.Errorf("reusing the name after restart: got %v, want ExecutionAlreadyExists", err)
		}
	})
}

func eventTypes(h []Event) string {
	s := make([]string, len(h))
	for i, ev := range h {
		s[i] = ev.Type
	}
	return strings.Join(s, " ")
}

// TestCloseLetsHandlersFinish: Close waits for a running handler, keeps its result, and
// the next Open carries on from the following state without running the handler again.
func TestCloseLetsHandlersFinish(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	e.RegisterFunction(fnARN+"slow", lambda.NewHandler(func(ctx context.Context) (string, error) {
		calls.Add(1)
		close(started)
		<-release
		return "slow-result", nil
	}))
	arn := mustCreate(t, e, "c", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"`+fnARN+`slow","ResultPath":"$.r","Next":"W"},
		"W":{"Type":"Wait","Seconds":1,"Next":"E"},"E":{"Type":"Pass","End":true}}}`)
	res, err := e.StartExecution(context.Background(), arn, "c1", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a handler was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := e.StartExecution(context.Background(), arn, "c2", []byte(`{}`)); ErrorCode(err) != "ServiceUnavailable" {
		t.Errorf("start while closing: got %v, want ServiceUnavailable", err)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}

	e2, err := Open(Options{Path: dir, Clock: NewVirtualClock(time.Now(), true), Functions: map[string]lambda.Handler{
		fnARN + "slow": lambda.NewHandler(func(ctx context.Context) (string, error) {
			calls.Add(1)
			return "again", nil
		})}})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := e2.WaitExecution(ctx, res.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusSucceeded || str(d.Output) != `{"r":"slow-result"}` {
		t.Errorf("got %s %s, want SUCCEEDED with the pre-close result", d.Status, str(d.Output))
	}
	if calls.Load() != 1 {
		t.Errorf("handler calls: got %d, want 1", calls.Load())
	}
}

// TestUpdateStateMachine: a new definition applies to new executions; one already
// running finishes on its own definition, also after a restart.
func TestUpdateStateMachine(t *testing.T) {
	dir := t.TempDir()
	tokens := make(chan string, 4)
	funcs := map[string]lambda.Handler{fnARN + "ask": lambda.NewHandler(func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		tokens <- in.Token
		return "", nil
	})}
	v2 := `{"StartAt":"V2","States":{"V2":{"Type":"Pass","Result":"v2","End":true}}}`
	e, err := Open(Options{Path: dir, Functions: funcs})
	if err != nil {
		t.Fatal(err)
	}
	arn := mustCreate(t, e, "upd", callbackDef)
	ctx := context.Background()
	old, err := e.StartExecution(ctx, arn, "old", []byte(`{"who":"v1"}`))
	if err != nil {
		t.Fatal(err)
	}
	token := waitToken(t, tokens)
	if _, err := e.UpdateStateMachine(ctx, arn, []byte(v2)); err != nil {
		t.Fatal(err)
	}
	if d := runToEnd(t, e, arn, "new", `{}`); str(d.Output) != `"v2"` {
		t.Errorf("new execution: got %s, want the v2 result", str(d.Output))
	}
	if _, err := e.UpdateStateMachine(ctx, arn, []byte(`{"StartAt":"X"}`)); ErrorCode(err) != "InvalidDefinition" {
		t.Errorf("invalid update: got %v, want InvalidDefinition", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2, err := Open(Options{Path: dir, Functions: funcs})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if again, err := e2.CreateStateMachine(ctx, "upd", []byte(v2)); err != nil || again != arn {
		t.Fatalf("create with the current definition after restart: got %s %v", again, err)
	}
	if _, err := e2.CreateStateMachine(ctx, "upd", []byte(callbackDef)); ErrorCode(err) != "StateMachineAlreadyExists" {
		t.Errorf("create with another definition: got %v, want StateMachineAlreadyExists", err)
	}
	v3 := `{"StartAt":"V3","States":{"V3":{"Type":"Pass","Result":"v3","End":true}}}`
	if again, err := e2.PutStateMachine(ctx, "upd", []byte(v3)); err != nil || again != arn {
		t.Fatalf("put: got %s %v", again, err)
	}
	if d := runToEnd(t, e2, arn, "v3run", `{}`); str(d.Output) != `"v3"` {
		t.Errorf("after put: got %s, want the v3 result", str(d.Output))
	}
	if err := e2.SendTaskSuccess(ctx, token, []byte(`"answered"`)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := e2.WaitExecution(wctx, old.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if str(d.Output) != `{"answer":"answered","who":"v1"}` {
		t.Errorf("old execution: got %s %s, want it finished on its v1 definition", d.Status, str(d.Output))
	}
	if info, err := e2.DescribeStateMachineForExecution(ctx, old.ExecutionARN); err != nil || !sameJSON([]byte(info.Definition), []byte(callbackDef)) {
		t.Errorf("definition of the old execution: got %v %v, want v1", info, err)
	}
}

// TestCloseDuringParallel: a Parallel state cut short by Close is run again whole after
// the restart, never finished with missing branch results.
func TestCloseDuringParallel(t *testing.T) {
	dir := t.TempDir()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := lambda.NewHandler(func(ctx context.Context) (string, error) {
		started <- struct{}{}
		<-release
		return "slow", nil
	})
	e, err := Open(Options{Path: dir, Functions: map[string]lambda.Handler{fnARN + "slow": slow}})
	if err != nil {
		t.Fatal(err)
	}
	arn := mustCreate(t, e, "par", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"Fast","States":{"Fast":{"Type":"Pass","Result":"fast","End":true}}},
		{"StartAt":"Slow","States":{"Slow":{"Type":"Task","Resource":"`+fnARN+`slow","End":true}}}]}}}`)
	res, err := e.StartExecution(context.Background(), arn, "p1", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	e2, err := Open(Options{Path: dir, Functions: map[string]lambda.Handler{
		fnARN + "slow": lambda.NewHandler(func(ctx context.Context) (string, error) { return "again", nil })}})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := e2.WaitExecution(ctx, res.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusSucceeded || str(d.Output) != `["fast","again"]` {
		t.Errorf("got %s %s, want the Parallel re-run whole", d.Status, str(d.Output))
	}
}

// TestCloseWithBranchOnToken: a clean Close while a Parallel branch waits on its task
// token returns without waiting for the token, and after reopening the same token
// resumes the branch.
func TestCloseWithBranchOnToken(t *testing.T) {
	ask := `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token"}},"End":true}}}`
	cases := []struct {
		name, def, want string
	}{
		{
			name: "token in a top-level Parallel branch",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"Fast","States":{"Fast":{"Type":"Pass","Result":"fast","End":true}}},` + ask + `]}}}`,
			want: `["fast","answered"]`,
		},
		{
			name: "token in a Map iteration inside a Parallel branch",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"Fast","States":{"Fast":{"Type":"Pass","Result":"fast","End":true}}},
		{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","End":true,"ItemProcessor":` + ask + `}}}]}}}`,
			want: `["fast",["answered"]]`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { closeWithBranchOnToken(t, tc.def, tc.want) })
	}
}

func closeWithBranchOnToken(t *testing.T, def, want string) {
	dir := t.TempDir()
	tokens := make(chan string, 4)
	ask := lambda.NewHandler(func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		tokens <- in.Token
		return "", nil
	})
	opts := Options{Path: dir, CloseTimeout: time.Hour, Functions: map[string]lambda.Handler{fnARN + "ask": ask}}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	arn := mustCreate(t, e, "par", def)
	res, err := e.StartExecution(context.Background(), arn, "p1", []byte(`{"items":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	token := waitToken(t, tokens)
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for the branch's task token")
	}
	e2, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if err := e2.SendTaskSuccess(context.Background(), token, []byte(`"answered"`)); err != nil {
		t.Fatalf("SendTaskSuccess with the token issued before Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := e2.WaitExecution(ctx, res.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusSucceeded || str(d.Output) != want {
		t.Errorf("got %s %s, want SUCCEEDED %s", d.Status, str(d.Output), want)
	}
}
