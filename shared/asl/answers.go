package asl

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Answers to task tokens. SendTaskSuccess and SendTaskFailure tell their caller the
// answer was accepted (shipgate's approval gate then marks the run resumed), so the
// answer must survive a crash that comes before the execution's next checkpoint. It
// is put on disk, keyed by its token, before it is delivered and acknowledged; Open
// hands it to the task that waits on that token again, and the answer is deleted with
// the first checkpoint that is past the task (or that ends the execution).

type answerRec struct {
	Exec      string   `json:"exec"`
	Output    any      `json:"output,omitempty"`
	HasOutput bool     `json:"hasOutput,omitempty"`
	Err       *failure `json:"err,omitempty"`
}

// testHookResume, when set (by a test's child process only), runs after a parked
// execution received its answer and before it moves on: the child blocks in it so
// that it is killed between acknowledging an answer and the next checkpoint.
var testHookResume func()

func timedOut(token string) error {
	return apiErr("TaskTimedOut", "Task Timed Out: '%s'", truncate(token, 64))
}

// answer stores m for token (when the engine has a database) and delivers it to w.
func (e *Engine) answer(w *waiter, token string, m resumeMsg) error {
	x := w.owner
	if x != nil {
		// An execution stopped before its driver parked on the token has not cancelled
		// the wait yet; its token is dead all the same, as Step Functions has it.
		x.mu.Lock()
		running := x.status == StatusRunning
		x.mu.Unlock()
		if !running {
			return timedOut(token)
		}
	}
	if !w.claim() {
		return timedOut(token)
	}
	if e.st != nil && x != nil {
		b, err := json.Marshal(answerRec{Exec: x.arn, Output: m.output, HasOutput: m.hasOutput, Err: m.err})
		if err == nil {
			err = e.st.write(func(tx *bolt.Tx) error {
				return tx.Bucket(bAnswers).Put([]byte(token), b)
			})
		}
		if err != nil {
			w.unclaim(e)
			return apiErr("ServiceException", "storing the answer to the task failed: %v", err)
		}
		x.mu.Lock()
		if x.answered == nil {
			x.answered = map[string]struct{}{}
		}
		x.answered[token] = struct{}{}
		x.mu.Unlock()
	}
	if !w.finish(e, m, true) {
		// The wait ended meanwhile (execution stopped, engine closing): the answer was
		// not taken, so it must not be replayed by the next Open either.
		if e.st != nil && x != nil {
			x.mu.Lock()
			delete(x.answered, token)
			x.mu.Unlock()
			if err := e.st.write(func(tx *bolt.Tx) error { return tx.Bucket(bAnswers).Delete([]byte(token)) }); err != nil {
				e.log.Warn("asl: dropping an answer that was not taken", "execution", x.arn, "err", err)
			}
		}
		return timedOut(token)
	}
	return nil
}

// consumedAnswers returns (and forgets) the stored answers that checkpoint record rec
// no longer needs: those whose token no cursor in rec still waits on. Called with x.mu
// held.
func (x *execution) consumedAnswers(rec *execRec) []string {
	if len(x.answered) == 0 {
		return nil
	}
	keep := map[string]bool{}
	if c := rec.Cursor; c != nil && c.Phase == phToken && c.Token != "" {
		keep[c.Token] = true
	}
	for _, raw := range rec.Branches {
		var r branchRec
		if json.Unmarshal(raw, &r) == nil && r.Cursor != nil && r.Cursor.Phase == phToken && r.Cursor.Token != "" {
			keep[r.Cursor.Token] = true
		}
	}
	var out []string
	for t := range x.answered {
		if !keep[t] {
			out = append(out, t)
			delete(x.answered, t)
		}
	}
	return out
}

// loadAnswers reads the stored answers for recovery.
func (e *Engine) loadAnswers() error {
	e.stored = map[string]answerRec{}
	return e.st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bAnswers).ForEach(func(k, v []byte) error {
			var r answerRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("answer to task token %s: %w", truncate(string(k), 64), err)
			}
			e.stored[string(k)] = r
			return nil
		})
	})
}

// takeStored returns the stored answer to token of execution x, if there is one, and
// keeps it on disk until x checkpoints past the task.
func (e *Engine) takeStored(x *execution, token string) (resumeMsg, bool) {
	r, ok := e.stored[token]
	if !ok || r.Exec != x.arn {
		return resumeMsg{}, false
	}
	delete(e.stored, token)
	x.mu.Lock()
	if x.answered == nil {
		x.answered = map[string]struct{}{}
	}
	x.answered[token] = struct{}{}
	x.mu.Unlock()
	return resumeMsg{output: r.Output, hasOutput: r.HasOutput, err: r.Err}, true
}

// dropUnclaimedAnswers deletes the stored answers no recovered task waits on (their
// execution ended or moved on before the record could be deleted).
func (e *Engine) dropUnclaimedAnswers() {
	left := e.stored
	e.stored = nil
	if len(left) == 0 {
		return
	}
	err := e.st.write(func(tx *bolt.Tx) error {
		for t := range left {
			if err := tx.Bucket(bAnswers).Delete([]byte(t)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("asl: deleting stale task answers", "err", err)
	}
}
