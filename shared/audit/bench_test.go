package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
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
func seedChain(b *testing.B, db *dynamodb.Client, tbl string, n int) {
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
					out, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: reqs})
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

// benchDirEnv keeps the benchmark's dynalite data on disk (as `shipgate local` does) and
// reuses seeded tables across runs, since seeding 100,000 records takes minutes.
const benchDirEnv = "SHIPGATE_AUDIT_BENCH_DIR"

// benchTable returns a table holding n seeded records, reusing one seeded earlier in
// the same data directory.
func benchTable(b *testing.B, db *dynamodb.Client, n int) string {
	b.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("bench-%d", n)
	marker := map[string]types.AttributeValue{"PK": str("BENCH"), "SK": str("SEEDED")}
	if out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: marker}); err == nil && len(out.Item) > 0 {
		b.Logf("reusing %s", name)
		return name
	}
	if _, err := db.CreateTable(ctx, table.Input(name)); err != nil {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) {
			b.Fatal(err)
		}
	}
	waitActive(b, db, name)
	start := time.Now()
	seedChain(b, db, name, n)
	b.Logf("seeded %d records in %s (%.0f items/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &name, Item: marker}); err != nil {
		b.Fatal(err)
	}
	return name
}

// BenchmarkQueryPage reads a page of 50 records the way the CLI and console do, with
// 1,000 and (with SHIPGATE_AUDIT_BENCH_BIG=1) 100,000 records in the table. Each
// iteration queries every table once, back to back, so that load from other processes
// on a shared machine skews all sizes alike; the ratio big/small is reported with the
// figures. Cases: the newest page of a pipeline, a page in a time range deep in its past,
// an approver's page, and one Append (ms/append).
func BenchmarkQueryPage(b *testing.B) {
	sizes := []int{1000}
	if os.Getenv(benchBigEnv) != "" {
		sizes = append(sizes, 100000)
	} else {
		b.Logf("set %s=1 to add the 100,000-record table", benchBigEnv)
	}
	db := testDB
	if dir := os.Getenv(benchDirEnv); dir != "" {
		srv, err := dynalite.Start(context.Background(), dynalite.Options{Path: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Stop() })
		ep := awsclient.Endpoints{DynamoDB: srv.URL}
		cfg, err := awsclient.Load(context.Background(), ep)
		if err != nil {
			b.Fatal(err)
		}
		db = awsclient.DynamoDB(cfg, ep)
	}
	stores := make([]*Dynamo, len(sizes))
	for i, n := range sizes {
		stores[i] = NewDynamo(db, benchTable(b, db, n))
	}
	cases := []struct {
		name string
		op   func(ctx context.Context, d *Dynamo, n, i int) error
	}{
		{"newest", func(ctx context.Context, d *Dynamo, n, _ int) error {
			return fullPage(d.Query(ctx, Filter{Pipeline: "bench"}))
		}},
		{"time-range", func(ctx context.Context, d *Dynamo, n, _ int) error {
			mid := t0.Add(time.Duration(n/2) * time.Second)
			return fullPage(d.Query(ctx, Filter{Pipeline: "bench", Since: mid, Until: mid.Add(time.Hour)}))
		}},
		{"approver", func(ctx context.Context, d *Dynamo, n, _ int) error {
			return fullPage(d.Query(ctx, Filter{Approver: "bob@example.com", Until: t0.Add(time.Duration(n/2) * time.Second)}))
		}},
		{"append", func(ctx context.Context, d *Dynamo, _, i int) error {
			return d.Append(ctx, rec(domain.RecStageStarted, "bench", "run-x", i))
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			spent := make([]time.Duration, len(sizes))
			for i := 0; i < b.N; i++ {
				for j, n := range sizes {
					start := time.Now()
					if err := c.op(ctx, stores[j], n, i); err != nil {
						b.Fatal(err)
					}
					spent[j] += time.Since(start)
				}
			}
			for j, n := range sizes {
				b.ReportMetric(float64(spent[j].Microseconds())/1000/float64(b.N), fmt.Sprintf("ms@%d", n))
			}
			if len(sizes) == 2 {
				b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
			}
		})
	}
}

func fullPage(p Page, err error) error {
	if err != nil {
		return err
	}
	if len(p.Records) != 50 {
		return fmt.Errorf("got %d records, want a full page of 50", len(p.Records))
	}
	return nil
}
