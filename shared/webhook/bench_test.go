package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/webhook"
)

// BenchmarkWebhookToStartExecution measures, locally, GitHub push deliveries over HTTP on
// 127.0.0.1 through the signature check, parsing, the claim write on dynalite and
// StartExecution on the protocol stand-in. accepted-p50-ms is the figure: from the
// request leaving the client to StartExecution accepted (target p50 <= 5 ms). answer-p50/
// p99-ms run on to the client holding the answer, which also waits for the announce
// update on dynalite and the run.started record (in memory). Every iteration is a new
// commit, so each one takes the full first-delivery path.
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
	sent := make(map[string]time.Time, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(bodies[i]))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
		req.Header.Set("X-Hub-Signature-256", webhook.SignatureValue(secret, bodies[i]))
		t0 := time.Now()
		sent[trigger.ExecutionName("Codertocat/Hello-World", "refs/heads/master", fmt.Sprintf("%040x", i+1))] = t0
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
	var acc []time.Duration
	for _, e := range s.sfn.Executions() {
		if t0, ok := sent[e.Name]; ok {
			acc = append(acc, e.Accepted.Sub(t0))
		}
	}
	if len(acc) != b.N {
		b.Fatalf("%d executions matched to deliveries, want %d", len(acc), b.N)
	}
	ms := func(d []time.Duration, q float64) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[int(float64(len(d)-1)*q)].Microseconds()) / 1000
	}
	b.ReportMetric(ms(acc, 0.5), "accepted-p50-ms")
	b.ReportMetric(ms(lat, 0.5), "answer-p50-ms")
	b.ReportMetric(ms(lat, 0.99), "answer-p99-ms")
}
