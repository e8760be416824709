package stagekit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
)

// appender records appends; failOn makes the append of that record type fail.
type appender struct {
	mu     sync.Mutex
	recs   []domain.Record
	failOn domain.RecordType
}

func (a *appender) Append(_ context.Context, r domain.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Type == a.failOn {
		return errors.New("table unavailable")
	}
	a.recs = append(a.recs, r)
	return nil
}

type result struct {
	DurationMs int64
	Skipped    bool
}

func TestHandle(t *testing.T) {
	good := domain.Run{ID: "r1", Push: domain.Push{Commit: "abc"}}
	stageErr := domain.Errorf(domain.StageTimedOut, "slow\nmore")
	cases := []struct {
		name      string
		run       domain.Run
		failOn    domain.RecordType
		bodyErr   error
		skip      bool
		wantKind  domain.Kind // "" means no error
		wantTypes []domain.RecordType
		wantOC    string // outcome of stage.finished
		wantBody  bool   // body ran
	}{
		{name: "success", run: good, wantTypes: []domain.RecordType{domain.RecStageStarted, domain.RecStageFinished}, wantOC: "succeeded", wantBody: true},
		{name: "finish overrides outcome", run: good, skip: true, wantTypes: []domain.RecordType{domain.RecStageStarted, domain.RecStageFinished}, wantOC: "skipped", wantBody: true},
		{name: "stage error recorded and returned", run: good, bodyErr: stageErr, wantKind: domain.StageTimedOut, wantTypes: []domain.RecordType{domain.RecStageStarted, domain.RecStageFinished}, wantOC: "timed_out", wantBody: true},
		{name: "bad run stops before any record", run: domain.Run{ID: "a/b", Push: domain.Push{Commit: "abc"}}, wantKind: domain.Invalid},
		{name: "failed started outranks the stage error", run: good, failOn: domain.RecStageStarted, bodyErr: stageErr, wantKind: domain.Internal, wantBody: true},
		{name: "failed finished replaces success", run: good, failOn: domain.RecStageFinished, wantKind: domain.Internal, wantTypes: []domain.RecordType{domain.RecStageStarted}, wantBody: true},
		{name: "failed finished keeps the stage error", run: good, failOn: domain.RecStageFinished, bodyErr: stageErr, wantKind: domain.StageTimedOut, wantTypes: []domain.RecordType{domain.RecStageStarted}, wantBody: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &appender{failOn: tc.failOn}
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			now := func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
			f := stagekit.Frame{Audit: a, Stage: "build", Now: now, Pipeline: "web"}
			ran := false
			out, err := stagekit.Handle(context.Background(), f, tc.run,
				func(ctx context.Context, rec stagekit.Recorder, started *stagekit.Pending) (result, error) {
					ran = true
					if rec.Run.Pipeline != "web" {
						t.Errorf("body run pipeline = %q, want the configured %q", rec.Run.Pipeline, "web")
					}
					_ = started.Wait()
					return result{Skipped: tc.skip}, tc.bodyErr
				},
				func(out *result, dur time.Duration, err error) stagekit.Finish {
					out.DurationMs = dur.Milliseconds()
					fin := stagekit.Finish{LogKey: "logs/x", Extra: map[string]any{"k": "v"}}
					if err == nil && out.Skipped {
						fin.Outcome = "skipped"
					}
					return fin
				})
			if ran != tc.wantBody {
				t.Errorf("body ran = %v, want %v", ran, tc.wantBody)
			}
			if got := domain.KindOf(err); (err == nil) != (tc.wantKind == "") || (err != nil && got != tc.wantKind) {
				t.Fatalf("err = %v (kind %s), want kind %q", err, got, tc.wantKind)
			}
			if err != nil && out != (result{}) {
				t.Errorf("out on error = %+v, want zero", out)
			}
			var types []domain.RecordType
			for _, r := range a.recs {
				types = append(types, r.Type)
				if r.Pipeline != "web" || r.Stage != "build" || r.RunID != "r1" {
					t.Errorf("record %s = %+v, want pipeline web, stage build, run r1", r.Type, r)
				}
			}
			if fmt.Sprint(types) != fmt.Sprint(tc.wantTypes) {
				t.Fatalf("records = %v, want %v", types, tc.wantTypes)
			}
			for _, r := range a.recs {
				if r.Type != domain.RecStageFinished {
					continue
				}
				if r.Outcome != tc.wantOC {
					t.Errorf("outcome = %q, want %q", r.Outcome, tc.wantOC)
				}
				// now is read at the start, by the stage.started record (which body waited
				// for) and after body: two ticks from start to end.
				if got := r.Detail["durationMs"]; got != int64(500) {
					t.Errorf("durationMs = %v, want 500", got)
				}
				if r.Detail["logKey"] != "logs/x" || r.Detail["k"] != "v" {
					t.Errorf("detail = %v, want logKey and extra from finish", r.Detail)
				}
				if tc.bodyErr != nil && r.Detail["errorKind"] != string(tc.wantKind) {
					t.Errorf("errorKind = %v, want %s", r.Detail["errorKind"], tc.wantKind)
				}
				if err == nil && out.DurationMs != 500 {
					t.Errorf("out.DurationMs = %d, want 500 (set by finish)", out.DurationMs)
				}
			}
		})
	}
}
