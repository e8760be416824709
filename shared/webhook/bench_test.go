package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/webhook"
)

// BenchmarkWebhookToStartExecution measures, locally, one GitHub push delivery from the
// request leaving the client to the answer after StartExecution was accepted: HTTP on
// 127.0.0.1, signature check, parsing, the claim write and announce update on dynalite,
// StartExecution on the protocol stand-in, the run.started record (in memory). Every
// iteration is a new commit, so each one takes the full first-delivery path. It reports
// p50 and p99 in milliseconds; the target is p50 <= 5 ms.
func BenchmarkWebhookToStartExecution(b *testing.B) {
	s := newStack(b, webhook.Options{Secret: secret})
	tmpl := branchPush(b)
	const headSHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = bytes.ReplaceAll(tmpl, []byte(headSHA), []byte(fmt.Sprintf("%040x", i+1)))
	}
	client := &http.Client{}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(bodies[i]))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
		req.Header.Set("X-Hub-Signature-256", webhook.SignatureValue(secret, bodies[i]))
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("delivery %d: status %d, want 201", i, resp.StatusCode)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}
