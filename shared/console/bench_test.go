package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/spec"
)

// BenchmarkApprovePostToResume measures, through the real routes, a link's approve POST
// until Step Functions (the protocol stand-in) has accepted SendTaskSuccess: token check,
// vote and final decision written to DynamoDB (dynalite), audit records, the resume call.
// The budget is 20 ms p50 from POST to the deploy handler starting locally; the
// engine's own hop from SendTaskSuccess to Deploy is the local engine's to measure.
//
// audit=dynamodb appends the audit records to the real hash-chained store (shared/audit) on
// the same table, as local mode does; audit=memory keeps them in memory, to show what the
// trail's own round trips cost.
func BenchmarkApprovePostToResume(b *testing.B) {
	for _, real := range []bool{true, false} {
		name := "audit=memory"
		if real {
			name = "audit=dynamodb"
		}
		b.Run(name, func(b *testing.B) { benchApprove(b, real) })
	}
}

func benchApprove(b *testing.B, realAudit bool) {
	s := newSite(b, "", realAudit)
	ap := spec.Approval{Approvers: []string{"bo@example.com"}, Supersede: new(bool)}
	client := &http.Client{}
	var samples []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		run := fmt.Sprintf("bench-%d", i)
		a, _ := s.Request(approvaltest.Push{RunID: run, Pusher: eve}, ap)
		tok := approvaltest.LinkToken(s.Links(run)["bo@example.com"])
		want := len(s.SFN.Accepted()) + 1
		form := url.Values{"t": {tok}, "decision": {"approve"}}
		b.StartTimer()
		start := time.Now()
		resp, err := client.PostForm(s.URL+"/approvals/"+a.ID, form)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != http.StatusOK || len(s.SFN.Accepted()) != want {
			b.Fatalf("POST %d: status %d, resumes %d, want 200 and %d", i, resp.StatusCode, len(s.SFN.Accepted()), want)
		}
		samples = append(samples, d)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	pct := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}
