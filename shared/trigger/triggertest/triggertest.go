// Package triggertest holds test doubles for code that starts runs: a Step Functions
// stand-in that speaks the service's JSON protocol for StartExecution (so tests use the
// real SDK client and its error types) with AWS's idempotency rules, and an in-memory
// audit recorder. It exists until tests can run against the local engine; it is not an
// engine: executions never run, a test ends them with End. Tests that need the real
// thing use NewEngine, shipgate's own engine served over HTTP.
package triggertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/shipgate/shipgate/shared/domain"
)

// StateMachineARN is the state machine the stand-in pretends to hold.
const StateMachineARN = "arn:aws:states:us-east-1:000000000000:stateMachine:shipgate-test"

// Execution is what the stand-in knows of one execution.
type Execution struct {
	Name, Input, ARN string
	Open             bool
	// Calls counts StartExecution calls that returned this execution (1 for the start,
	// plus idempotent repeats while open).
	Calls int
	// Accepted is when the first StartExecution was accepted.
	Accepted time.Time
}

// SFN is the Step Functions stand-in.
type SFN struct {
	URL   string
	mu    sync.Mutex
	execs map[string]*Execution
	srv   *httptest.Server
	delay time.Duration
}

// SetDelay makes every answer wait d, to model a slow service.
func (s *SFN) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// NewSFN starts the stand-in on 127.0.0.1 and stops it when the test ends.
func NewSFN(t testing.TB) *SFN {
	s := &SFN{execs: map[string]*Execution{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Client is the real SDK client pointed at the stand-in.
func (s *SFN) Client() *sfn.Client {
	return sfn.New(sfn.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Close stops the stand-in, as if the service were unreachable.
func (s *SFN) Close() { s.srv.Close() }

// End closes an execution, as if the run finished.
func (s *SFN) End(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.execs[name]; e != nil {
		e.Open = false
	}
}

// Forget drops an execution, as Step Functions does with names 90 days after a run.
func (s *SFN) Forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.execs, name)
}

// Executions lists the executions started, by name.
func (s *SFN) Executions() []Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Execution, 0, len(s.execs))
	for _, e := range s.execs {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *SFN) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	time.Sleep(d)
	if r.Header.Get("X-Amz-Target") != "AWSStepFunctions.StartExecution" {
		fail(w, "UnknownOperationException", "the stand-in serves StartExecution only, not "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct {
		StateMachineArn, Name, Input string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, "ValidationException", err.Error())
		return
	}
	switch {
	case in.StateMachineArn != StateMachineARN:
		fail(w, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+in.StateMachineArn+"'")
		return
	case !nameRE.MatchString(in.Name):
		fail(w, "InvalidName", "Invalid Name: '"+in.Name+"'")
		return
	case len(in.Input) > 256<<10 || !json.Valid([]byte(in.Input)):
		fail(w, "InvalidExecutionInput", "Invalid State Machine Execution Input")
		return
	}
	s.mu.Lock()
	e := s.execs[in.Name]
	switch {
	case e == nil:
		e = &Execution{Name: in.Name, Input: in.Input, Open: true, Accepted: time.Now(),
			ARN: "arn:aws:states:us-east-1:000000000000:execution:shipgate-test:" + in.Name}
		s.execs[in.Name] = e
	case !e.Open || e.Input != in.Input:
		// AWS: an idempotent repeat needs the same input while the execution is open.
		s.mu.Unlock()
		fail(w, "ExecutionAlreadyExists", "Execution Already Exists: '"+e.ARN+"'")
		return
	}
	e.Calls++
	arn := e.ARN
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	fmt.Fprintf(w, `{"executionArn":%q,"startDate":%d}`, arn, time.Now().Unix())
}

func fail(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	w.Write(b)
}

// Audit records appended records in memory.
type Audit struct {
	mu   sync.Mutex
	recs []domain.Record
	// Fail, when set, is returned by Append (the record is not kept).
	Fail error
}

// Append implements the trigger's Auditor.
func (a *Audit) Append(_ context.Context, r domain.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Fail != nil {
		return a.Fail
	}
	a.recs = append(a.recs, r)
	return nil
}

// Records returns the records of the given types (all when none given), in order.
func (a *Audit) Records(types ...domain.RecordType) []domain.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []domain.Record
	for _, r := range a.recs {
		if len(types) == 0 {
			out = append(out, r)
			continue
		}
		for _, t := range types {
			if r.Type == t {
				out = append(out, r)
			}
		}
	}
	return out
}
