package asl

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func passChain(n int) string {
	var b strings.Builder
	b.WriteString(`{"StartAt":"S0","States":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		if i == n-1 {
			fmt.Fprintf(&b, `"S%d":{"Type":"Pass","End":true}`, i)
		} else {
			fmt.Fprintf(&b, `"S%d":{"Type":"Pass","Next":"S%d"}`, i, i+1)
		}
	}
	b.WriteString("}}")
	return b.String()
}

// BenchmarkPassChain100 reports state transitions per second through a 100-state Pass
// chain (one execution at a time, in memory). Target: at least 200,000/s.
func BenchmarkPassChain100(b *testing.B) {
	e, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	arn, err := e.CreateStateMachine(context.Background(), "chain", []byte(passChain(100)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	input := []byte(`{"order":{"id":"o-1","items":[1,2,3]},"flag":true}`)
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		res, err := e.StartExecution(ctx, arn, fmt.Sprintf("e%d", i), input)
		if err != nil {
			b.Fatal(err)
		}
		d, err := e.WaitExecution(ctx, res.ExecutionARN)
		if err != nil || d.Status != StatusSucceeded {
			b.Fatalf("%v %v", d, err)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N*100)/el.Seconds(), "transitions/s")
	// The machine is shared: CPU time shows what one core does when it is ours.
	b.ReportMetric(float64(b.N*100)/(cpuTime()-cpu0).Seconds(), "transitions/CPU-s")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTaskOverhead reports the engine's own cost of a Task state invoking a no-op Go
// handler through lambda:invoke (Parameters, ResultSelector, Retry, the wrapped result,
// four history events): the CPU time of an execution with that Task, minus the same
// execution with a Pass state in its place, minus the handler's own Invoke time.
// Target: at most 50 µs. Also reported: the whole execution's wall time per op.
func BenchmarkTaskOverhead(b *testing.B) {
	h := lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) { return in, nil })
	e, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	e.RegisterFunction(fnARN+"noop", h)
	taskARN, err := e.CreateStateMachine(context.Background(), "task", []byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"`+ResourceLambdaInvoke+`",
		"Parameters":{"FunctionName":"noop","Payload.$":"$"},"ResultSelector":{"p.$":"$.Payload"},"ResultPath":"$.r",
		"Retry":[{"ErrorEquals":["Lambda.ServiceException"],"MaxAttempts":3}],"TimeoutSeconds":60,"End":true}}}`))
	if err != nil {
		b.Fatal(err)
	}
	passARN, err := e.CreateStateMachine(context.Background(), "pass", []byte(`{"StartAt":"T","States":{"T":{"Type":"Pass","Parameters":{"p.$":"$"},"ResultPath":"$.r","End":true}}}`))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	input := []byte(`{"repo":"r","commit":"c0ffee"}`)
	runAll := func(arn, prefix string, n int) {
		for i := 0; i < n; i++ {
			res, err := e.StartExecution(ctx, arn, fmt.Sprintf("%s%d", prefix, i), input)
			if err != nil {
				b.Fatal(err)
			}
			d, err := e.WaitExecution(ctx, res.ExecutionARN)
			if err != nil || d.Status != StatusSucceeded {
				b.Fatalf("%v %v", d, err)
			}
		}
	}
	// The handler's own cost, measured alone.
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := h.Invoke(ctx, input); err != nil {
			b.Fatal(err)
		}
	}
	handlerCPU := (cpuTime() - c0) / time.Duration(b.N)
	// Pass and Task executions alternate in blocks, so both see the same heap (every
	// execution stays in memory) and the same background load.
	b.ResetTimer()
	var passTotal, taskTotal time.Duration
	const block = 500
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		c0 = cpuTime()
		runAll(passARN, fmt.Sprintf("p%d-", done), n)
		passTotal += cpuTime() - c0
		c0 = cpuTime()
		runAll(taskARN, fmt.Sprintf("t%d-", done), n)
		taskTotal += cpuTime() - c0
	}
	passCPU := passTotal / time.Duration(b.N)
	taskCPU := taskTotal / time.Duration(b.N)
	b.ReportMetric(float64(taskCPU-passCPU-handlerCPU)/1e3, "task-overhead-CPU-µs")
	b.ReportMetric(float64(handlerCPU)/1e3, "handler-CPU-µs")
	b.ReportMetric(float64(taskCPU)/1e3, "execution-CPU-µs")
}

// BenchmarkWaitingExecutions parks 10,000 executions on task tokens and reports the heap
// each one holds. Target: at most 10 KiB.
func BenchmarkWaitingExecutions(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		e, err := Open(Options{})
		if err != nil {
			b.Fatal(err)
		}
		var asked atomic.Int64
		e.RegisterFunction(fnARN+"ask", lambda.NewHandler(func(ctx context.Context, in struct {
			Token string `json:"token"`
		}) (string, error) {
			asked.Add(1)
			return "", nil
		}))
		arn, err := e.CreateStateMachine(context.Background(), "wait", []byte(`{"StartAt":"Prep","States":{
			"Prep":{"Type":"Pass","Result":"ok","ResultPath":"$.prep","Next":"Ask"},
			"Ask":{"Type":"Task","Resource":"`+ResourceLambdaInvokeWait+`","Parameters":{"FunctionName":"ask","Payload":{"token.$":"$$.Task.Token","state.$":"$"}},
			"TimeoutSeconds":86400,"ResultPath":"$.approval","End":true}}}`))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		ctx := context.Background()
		for j := 0; j < n; j++ {
			if _, err := e.StartExecution(ctx, arn, fmt.Sprintf("w%d", j), []byte(`{"repo":"octo/app","commit":"5f1c0ffee","branch":"main"}`)); err != nil {
				b.Fatal(err)
			}
		}
		for asked.Load() < n {
			time.Sleep(time.Millisecond)
		}
		for {
			parked := 0
			e.mu.RLock()
			xs := make([]*execution, 0, len(e.execs))
			for _, x := range e.execs {
				xs = append(xs, x)
			}
			e.mu.RUnlock()
			for _, x := range xs {
				x.mu.Lock()
				if x.parked != nil {
					parked++
				}
				x.mu.Unlock()
			}
			if parked == n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/waiting-execution")
		e.workers.mu.Lock()
		idle := len(e.workers.idle)
		e.workers.mu.Unlock()
		// Idle pooled workers (at most 64, shared by all executions) are not held by them.
		b.ReportMetric(float64(runtime.NumGoroutine()-g0-idle), "goroutines-held")
		e.Close()
	}
}

// BenchmarkDurableExecutions reports start-to-end executions per second of a 5-state
// machine with the database on (durable start and end), 256 clients at once. Target: at
// least 2,000/s.
func BenchmarkDurableExecutions(b *testing.B) {
	e, err := Open(Options{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	arn, err := e.CreateStateMachine(context.Background(), "five", []byte(`{"StartAt":"A","States":{
		"A":{"Type":"Pass","Result":1,"ResultPath":"$.a","Next":"B"},
		"B":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":1,"Next":"C"}],"Default":"E"},
		"C":{"Type":"Pass","Parameters":{"a.$":"$.a","n.$":"States.MathAdd($.a, 1)"},"Next":"D"},
		"D":{"Type":"Pass","Next":"E"},
		"E":{"Type":"Succeed"}}}`))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var next atomic.Int64
	const clients = 256
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				res, err := e.StartExecution(ctx, arn, fmt.Sprintf("d%d", i), []byte(`{"k":"v"}`))
				if err != nil {
					b.Error(err)
					return
				}
				d, err := e.WaitExecution(ctx, res.ExecutionARN)
				if err != nil || d.Status != StatusSucceeded {
					b.Errorf("%v %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "executions/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "executions/CPU-s")
}

// BenchmarkWaitingPipelineExecutions is BenchmarkWaitingExecutions with the project's own
// state machine: 10,000 runs built, tested and staged (no-op handlers), all waiting at
// RequestApproval, and the heap each holds (its history included).
func BenchmarkWaitingPipelineExecutions(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		var asked atomic.Int64
		p := &pipeline{notified: make(chan string, n), tokens: make(chan string, n)}
		e, err := Open(Options{})
		if err != nil {
			b.Fatal(err)
		}
		p.register(e, map[string]any{"skipped": false, "approvalTimeoutSeconds": 259200, "specKey": "runs/demo/main-0123abcd/spec.json"})
		arn, err := e.CreateStateMachine(context.Background(), "pipeline", projectDefinition())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx := context.Background()
		for j := 0; j < n; j++ {
			if _, err := e.StartExecution(ctx, arn, fmt.Sprintf("run-%d", j), []byte(`{"repo":"octo/app","commit":"5f1c0ffee","branch":"main","pusher":"ana"}`)); err != nil {
				b.Fatal(err)
			}
		}
		for asked.Load() < n {
			select {
			case <-p.tokens:
				asked.Add(1)
			case <-time.After(30 * time.Second):
				b.Fatalf("only %d executions reached the approval", asked.Load())
			}
		}
		for {
			parked := 0
			e.mu.RLock()
			for _, x := range e.execs {
				x.mu.Lock()
				if x.parked != nil {
					parked++
				}
				x.mu.Unlock()
			}
			e.mu.RUnlock()
			if parked == n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/waiting-execution")
		e.Close()
	}
}
