package asl

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	bolt "go.etcd.io/bbolt"
)

// TestAnswerSurvivesKill9 kills a real engine process (SIGKILL) after its
// SendTaskSuccess returned and before the execution could checkpoint past the task:
// the reopened engine must continue with that answer, without it being sent again.
func TestAnswerSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	execARN := "arn:aws:states:us-east-1:000000000000:execution:durable:d1"
	cases := []struct {
		name, mode, want string
		slow             bool // the Parallel's third branch was in its handler at the crash
	}{
		{
			name: "top-level task token",
			mode: "token",
			want: `{"answer":{"approved":"before the crash"},"n":1,"prep":"prepared","work":"worked"}`,
		},
		{
			name: "task token in a Parallel branch",
			mode: "parallel",
			want: `["worked",{"answer":{"approved":"before the crash"},"pre":"pre","v":"kept"},"slow again"]`,
			slow: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd, lines := startChild(t, tc.mode, dir, "ASL_CHILD_ANSWER=1")
			token := expectLine(t, lines, "TOKEN")
			expectLine(t, lines, "ACKED")
			expectLine(t, lines, "RESUMING") // the answer reached the task; no checkpoint since
			kill9(t, cmd)

			var calls, asks atomic.Int32
			e, err := Open(Options{Path: dir, Clock: NewVirtualClock(time.Now(), true), Functions: map[string]lambda.Handler{
				fnARN + "work": lambda.NewHandler(func() (string, error) { calls.Add(1); return "again", nil }),
				fnARN + "slow": lambda.NewHandler(func() (string, error) { return "slow again", nil }),
				fnARN + "ask":  lambda.NewHandler(func() (string, error) { asks.Add(1); return "", nil }),
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := e.WaitExecution(ctx, execARN)
			if err != nil {
				t.Fatalf("the execution did not end with the stored answer: %v", err)
			}
			if d.Status != StatusSucceeded || str(d.Output) != tc.want {
				t.Errorf("got %s %s, want SUCCEEDED %s", d.Status, str(d.Output), tc.want)
			}
			checks := []struct {
				name      string
				got, want int32
			}{
				{"finished handlers run again", calls.Load(), 0},
				{"tokens issued again", asks.Load(), 0},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
				}
			}
			if err := e.SendTaskSuccess(context.Background(), token, []byte(`{}`)); ErrorCode(err) != "TaskTimedOut" {
				t.Errorf("answering the token again after the restart: got %v, want TaskTimedOut", err)
			}
			h, _ := e.GetExecutionHistory(context.Background(), execARN)
			if got := eventTypes(h); strings.Count(got, "TaskSucceeded") != 1 {
				t.Errorf("history: got %s, want the answered task to succeed once", got)
			}
			var left int
			_ = e.st.db.View(func(tx *bolt.Tx) error { left = tx.Bucket(bAnswers).Stats().KeyN; return nil })
			if left != 0 {
				t.Errorf("stored answers after the execution ended: got %d, want 0", left)
			}
		})
	}
}
