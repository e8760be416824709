package audit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
)

// benchBigEnv enables the 100,000-record case: seeding it takes about a minute, so plain
// `go test -bench` stays quick without it.
const benchBigEnv = "SHIPGATE_AUDIT_BENCH_BIG"

// runShape is the records of one typical run, in the order a run writes them.
var runShape = []domain.RecordType{
	domain.RecRunStarted, domain.RecStageStarted, domain.RecStageFinished, domain.RecStageStarted,
	domain.RecStageFinished, domain.RecStageStarted, domain.RecStageFinished, domain.RecApprovalRequested,
	domain.RecApprovalDecision, domain.RecApprovalFinal, domain.RecDeployStarted, domain.RecDeployFinished,
	domain.RecRunFinished,
}

// seedChain writes n records of one valid chain straight into the table with
// BatchWriteItem (25 items a call, 4 writers): Append's one-by-one conditional writes
// would take over a minute per 100,000 on dynalite. Records go to pipeline "bench" (every
// tenth) and nine other pipelines, so the table is big and the pipeline is too.
func seedChain(b *testing.B, tbl string, n int) {
	b.Helper()
	items := make(chan map[string]types.AttributeValue, 1000)
	go func() {
		defer close(items)
		heads := map[string]*stored{}
		for i := 0; i < n; i++ {
			pipeline := "bench"
			if i%10 != 0 {
				pipeline = fmt.Sprintf("other%d", i%10)
			}
			run := fmt.Sprintf("run-%d", i/(len(runShape)*10))
			r := domain.Record{Type: runShape[(i/10)%len(runShape)], Pipeline: pipeline, RunID: run,
				Commit: fmt.Sprintf("%040x", i/(len(runShape)*10)), Actor: "bob@example.com", Outcome: "approved",
				Time: t0.Add(time.Duration(i) * time.Second), Detail: map[string]any{"durationMs": i}}
			seq, prev := int64(1), ""
			if h := heads[pipeline]; h != nil {
				seq, prev = h.Seq+1, h.Hash
			}
			s, err := newStored(r, seq, prev)
			if err != nil {
				panic(err)
			}
			heads[pipeline] = s
			items <- s.item()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]types.WriteRequest, 0, 25)
			flush := func() error {
				reqs := map[string][]types.WriteRequest{tbl: batch}
				for len(reqs[tbl]) > 0 {
					out, err := testDB.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: reqs})
					if err != nil {
						return err
					}
					reqs = out.UnprocessedItems
				}
				batch = batch[:0]
				return nil
			}
			for it := range items {
				batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
				if len(batch) == 25 {
					if err := flush(); err != nil {
						errs <- err
						return
					}
				}
			}
			if len(batch) > 0 {
				if err := flush(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkQueryPage reads a page of 50 records the way the CLI and console do, with
// 1,000 and (with SHIPGATE_AUDIT_BENCH_BIG=1) 100,000 records in the table. Both tables
// are seeded first and each query runs on them back to back, so that load from other
// processes on a shared machine skews both sizes alike. It reports ms/page for the newest
// page of a pipeline, a page in a time range deep in its past and an approver's page, and
// ms/append for one Append.
func BenchmarkQueryPage(b *testing.B) {
	sizes := []int{1000}
	if os.Getenv(benchBigEnv) != "" {
		sizes = append(sizes, 100000)
	} else {
		b.Logf("set %s=1 to add the 100,000-record table", benchBigEnv)
	}
	stores := map[int]*Dynamo{}
	for _, n := range sizes {
		tbl := newTable(b)
		start := time.Now()
		seedChain(b, tbl, n)
		b.Logf("seeded %d records in %s (%.0f items/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
		stores[n] = NewDynamo(testDB, tbl)
	}
	filters := []struct {
		name string
		f    func(n int) Filter
	}{
		{"newest", func(int) Filter { return Filter{Pipeline: "bench"} }},
		{"time-range", func(n int) Filter {
			mid := t0.Add(time.Duration(n/2) * time.Second)
			return Filter{Pipeline: "bench", Since: mid, Until: mid.Add(time.Hour)}
		}},
		{"approver", func(n int) Filter {
			return Filter{Approver: "bob@example.com", Until: t0.Add(time.Duration(n/2) * time.Second)}
		}},
	}
	for _, fc := range filters {
		for _, n := range sizes {
			d, f := stores[n], fc.f(n)
			b.Run(fmt.Sprintf("%s/records=%d", fc.name, n), func(b *testing.B) {
				ctx := context.Background()
				for i := 0; i < b.N; i++ {
					p, err := d.Query(ctx, f)
					if err != nil {
						b.Fatal(err)
					}
					if len(p.Records) != 50 {
						b.Fatalf("got %d records, want a full page of 50", len(p.Records))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
			})
		}
	}
	// Appending reads the head and puts one item, whatever the table's size.
	for _, n := range sizes {
		d := stores[n]
		b.Run(fmt.Sprintf("append/records=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				if err := d.Append(ctx, rec(domain.RecStageStarted, "bench", "run-x", i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/append")
		})
	}
}
