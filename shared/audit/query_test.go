package audit

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shipgate/shipgate/shared/domain"
)

const (
	shaA = "aaaaaaa1111111111111111111111111111111111"
	shaB = "bbbbbbb2222222222222222222222222222222222"
	shaC = "ccccccc3333333333333333333333333333333333"
)

// seedTrail writes two pipelines' worth of runs, in time order, one minute apart.
func seedTrail(t *testing.T, d *Dynamo) {
	t.Helper()
	min := 0
	r := func(typ domain.RecordType, pipeline, run, commit, actor, outcome string) domain.Record {
		min++
		return domain.Record{Type: typ, Pipeline: pipeline, RunID: run, Commit: commit, Actor: actor,
			Outcome: outcome, Time: t0.Add(time.Duration(min) * time.Minute), Detail: map[string]any{"n": min}}
	}
	mustAppend(t, d,
		r(domain.RecRunStarted, "web", "r1", shaA, "alice@example.com", ""),               // 1
		r(domain.RecStageFinished, "web", "r1", shaA, "system", "succeeded"),              // 2
		r(domain.RecApprovalRequested, "web", "r1", shaA, "system", ""),                   // 3
		r(domain.RecApprovalDecision, "web", "r1", shaA, "Bob@Example.com", "approved"),   // 4
		r(domain.RecApprovalFinal, "web", "r1", shaA, "bob@example.com", "approved"),      // 5
		r(domain.RecRunStarted, "web", "r2", shaB, "alice@example.com", ""),               // 6
		r(domain.RecDeployFinished, "web", "r1", shaA, "system", "succeeded"),             // 7
		r(domain.RecApprovalDecision, "web", "r2", shaB, "carol@example.com", "rejected"), // 8
		r(domain.RecRunStarted, "api", "r3", shaA, "alice@example.com", ""),               // 9
		r(domain.RecApprovalDecision, "api", "r3", shaA, "bob@example.com", "rejected"),   // 10
		r(domain.RecPushSkipped, "web", "", shaC, "alice@example.com", ""),                // 11
		r(domain.RecApprovalExpired, "api", "r3", shaA, "system", "expired"),              // 12
		r(domain.RecRunFinished, "web", "r1", shaA, "system", "succeeded"),                // 13
	)
}

// sig is a compact view of a page: minute/type for each record.
func sig(recs []Entry) []string {
	out := []string{}
	for _, e := range recs {
		out = append(out, fmt.Sprintf("%d/%s", int(e.Time.Sub(t0)/time.Minute), e.Type))
	}
	return out
}

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func TestQueryAccessPatterns(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	seedTrail(t, d)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"runs of a pipeline newest first", Filter{Pipeline: "web", RunsOnly: true},
			[]string{"6/run.started", "1/run.started"}},
		{"everything about one run in order", Filter{Run: "r1"},
			[]string{"1/run.started", "2/stage.finished", "3/approval.requested", "4/approval.decision", "5/approval.final", "7/deploy.finished", "13/run.finished"}},
		{"decisions by approver, case-insensitive, newest first", Filter{Approver: "BOB@example.com"},
			[]string{"10/approval.decision", "5/approval.final", "4/approval.decision"}},
		{"decisions by approver with an outcome", Filter{Approver: "bob@example.com", Decision: domain.Approved},
			[]string{"5/approval.final", "4/approval.decision"}},
		{"runs by full commit SHA across pipelines", Filter{Commit: shaA},
			[]string{"9/run.started", "1/run.started"}},
		{"runs by short SHA in one pipeline", Filter{Commit: "AAAAAAA1", Pipeline: "web"},
			[]string{"1/run.started"}},
		{"skipped pushes by commit", Filter{Commit: shaC[:7]},
			[]string{"11/push.skipped"}},
		{"a pipeline's records in a time range", Filter{Pipeline: "web", Since: at(4), Until: at(8)},
			[]string{"7/deploy.finished", "6/run.started", "5/approval.final", "4/approval.decision"}},
		{"time range oldest first", Filter{Pipeline: "web", Since: at(11), Order: OrderOldest},
			[]string{"11/push.skipped", "13/run.finished"}},
		{"until only", Filter{Pipeline: "api", Until: at(10)},
			[]string{"9/run.started"}},
		{"decision filter on a pipeline", Filter{Pipeline: "web", Decision: domain.Rejected},
			[]string{"8/approval.decision"}},
		{"expired decisions", Filter{Pipeline: "api", Decision: domain.Expired},
			[]string{"12/approval.expired"}},
		{"run with a type filter", Filter{Run: "r1", Type: domain.RecApprovalFinal},
			[]string{"5/approval.final"}},
		{"run with a time filter", Filter{Run: "r1", Since: at(5), Until: at(13)},
			[]string{"5/approval.final", "7/deploy.finished"}},
		{"approver in a time range", Filter{Approver: "bob@example.com", Since: at(5), Until: at(10)},
			[]string{"5/approval.final"}},
		{"run and approver", Filter{Run: "r1", Approver: "bob@example.com"},
			[]string{"4/approval.decision", "5/approval.final"}},
		{"unknown pipeline", Filter{Pipeline: "nope"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := d.Query(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := sig(page.Records); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, e := range page.Records {
				if e.Suspect != "" {
					t.Errorf("record %d flagged on an untouched trail: %s", e.Seq, e.Suspect)
				}
			}
			if page.Next != "" {
				t.Errorf("got next token %q on the only page", page.Next)
			}
		})
	}
}

func TestQueryReturnsRecordsAsAppended(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	in := domain.Record{Type: domain.RecApprovalDecision, Pipeline: "web", RunID: "r1", Commit: shaA,
		Actor: "bob@example.com", Time: t0, Outcome: "approved", Channel: domain.ChannelEmail, ApprovalID: "ap1",
		Detail: map[string]any{"comment": "ship it <now>", "big": int64(9007199254740993)}}
	want := mustAppend(t, d, in)[0]
	page, err := d.Query(context.Background(), Filter{Run: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 {
		t.Fatalf("got %d records, want 1", len(page.Records))
	}
	got := page.Records[0]
	if got.Seq != want.Seq || got.Hash != want.Hash || got.Actor != in.Actor || got.Channel != in.Channel ||
		got.ApprovalID != in.ApprovalID || !got.Time.Equal(in.Time) || got.Outcome != in.Outcome {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s := fmt.Sprint(got.Detail["big"]); s != "9007199254740993" {
		t.Errorf("got detail.big %s, want 9007199254740993 exactly", s)
	}
	if got.Detail["comment"] != "ship it <now>" {
		t.Errorf("got detail.comment %v", got.Detail["comment"])
	}
}

func TestQueryPaginates(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	var recs []domain.Record
	for i := 0; i < 23; i++ {
		typ := domain.RecStageStarted
		if i%3 == 0 {
			typ = domain.RecApprovalDecision
		}
		r := rec(typ, "web", "r1", i)
		r.Actor, r.Outcome = "bob@example.com", "approved"
		recs = append(recs, r)
	}
	mustAppend(t, d, recs...)
	tests := []struct {
		name      string
		f         Filter
		wantPages []int
		wantTotal int
	}{
		{"pipeline pages of 10", Filter{Pipeline: "web", Limit: 10}, []int{10, 10, 3}, 23},
		{"run pages of 5", Filter{Run: "r1", Limit: 5}, []int{5, 5, 5, 5, 3}, 23},
		{"filtered pages cut at the last kept record", Filter{Pipeline: "web", Type: domain.RecApprovalDecision, Limit: 3}, []int{3, 3, 2}, 8},
		{"exact multiple ends without an extra page", Filter{Approver: "bob@example.com", Limit: 4}, []int{4, 4}, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sizes []int
			seen := map[int64]bool{}
			f := tc.f
			for i := 0; i < 10; i++ {
				page, err := d.Query(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Records) > 0 {
					sizes = append(sizes, len(page.Records))
				}
				for _, e := range page.Records {
					if seen[e.Seq] {
						t.Errorf("record %d returned twice", e.Seq)
					}
					seen[e.Seq] = true
				}
				if page.Next == "" {
					break
				}
				f.PageToken = page.Next
			}
			if !reflect.DeepEqual(sizes, tc.wantPages) || len(seen) != tc.wantTotal {
				t.Errorf("got pages %v (%d records), want %v (%d)", sizes, len(seen), tc.wantPages, tc.wantTotal)
			}
		})
	}
}

func TestQueryRefusesBadFilters(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	mustAppend(t, d, rec(domain.RecRunStarted, "web", "r1", 0), rec(domain.RecRunStarted, "web", "r2", 1))
	first, err := d.Query(context.Background(), Filter{Pipeline: "web", Limit: 1})
	if err != nil || first.Next == "" {
		t.Fatalf("got %v, %v; want a page with a next token", first, err)
	}
	tests := []struct {
		name    string
		f       Filter
		wantMsg string
	}{
		{"nothing to query by", Filter{}, "give a pipeline, run, commit or approver"},
		{"unknown decision", Filter{Pipeline: "web", Decision: "maybe"}, `unknown decision "maybe"`},
		{"unknown type", Filter{Pipeline: "web", Type: "run.exploded"}, `record type "run.exploded"`},
		{"short commit", Filter{Commit: "abc"}, "at least 7"},
		{"non-hex commit", Filter{Commit: "zzzzzzzz"}, "hex SHA"},
		{"since after until", Filter{Pipeline: "web", Since: at(5), Until: at(1)}, "is not before until"},
		{"limit too big", Filter{Pipeline: "web", Limit: 5000}, "limit 5000"},
		{"runs without pipeline", Filter{Run: "r1", RunsOnly: true}, "needs a pipeline"},
		{"garbage token", Filter{Pipeline: "web", PageToken: "!!!"}, "page token"},
		{"token of other filters", Filter{Pipeline: "web", Type: domain.RecRunStarted, PageToken: first.Next}, "other filters"},
		{"bad order", Filter{Pipeline: "web", Order: "sideways"}, `order "sideways"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Query(context.Background(), tc.f)
			if !domain.IsKind(err, domain.Invalid) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("got %v, want an Invalid error containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2026-11-26T09:30:00Z", time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC), false},
		{"2026-11-26T10:30:00+01:00", time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC), false},
		{"2026-11-26", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in)
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) || (err == nil && got.Location() != time.UTC) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// limits records the Limit of every Query the audit store makes.
type limits struct {
	API
	got []int32
}

func (l *limits) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	l.got = append(l.got, aws.ToInt32(in.Limit))
	return l.API.Query(ctx, in, opts...)
}

// TestFilteredQueriesReadAheadInProportion: a filtered query reads ahead in proportion
// to the records it wants, growing fourfold per request while they are rare, so that
// one record of a common type is one small read, and a rare one is found in few.
func TestFilteredQueriesReadAheadInProportion(t *testing.T) {
	table := newTable(t)
	d := NewDynamo(testDB, table)
	var recs []domain.Record
	for i := range 300 {
		typ := domain.RecStageStarted
		if i == 0 || i == 290 {
			typ = domain.RecDeployFinished // the oldest, and one ten records from the newest
		}
		recs = append(recs, rec(typ, "web", "r1", i))
	}
	mustAppend(t, d, recs...)
	for _, tc := range []struct {
		name       string
		limit      int
		wantReads  []int32
		wantMinute []int
	}{
		// The newest deploy: one read of 32 records.
		{"one near", 1, []int32{32}, []int{290}},
		// Both: the second is 290 records further. The first read keeps one in 32, so
		// the next reads twice what should hold the other (64); it keeps none, so the
		// one after reads four times as many (256), and finds it.
		{"two far apart", 2, []int32{32, 64, 256}, []int{290, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &limits{API: testDB}
			page, err := NewDynamo(l, table).Query(context.Background(), Filter{Pipeline: "web", Type: domain.RecDeployFinished, Order: OrderNewest, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			var minutes []int
			for _, e := range page.Records {
				minutes = append(minutes, int(e.Time.Sub(t0)/time.Minute))
			}
			if !reflect.DeepEqual(minutes, tc.wantMinute) {
				t.Errorf("got the records of minutes %v, want %v", minutes, tc.wantMinute)
			}
			if !reflect.DeepEqual(l.got, tc.wantReads) {
				t.Errorf("read with limits %v, want %v", l.got, tc.wantReads)
			}
		})
	}
}

// TestNextReadAhead: the next filtered read is sized from the share the last one kept,
// grows fourfold when it kept none, and stays within [minReadAhead, MaxLimit].
func TestNextReadAhead(t *testing.T) {
	for _, tc := range []struct {
		asked, scanned, kept, want, next int
	}{
		{200, 200, 40, 10, 100},       // a page of 50, one in five kept: twice the ten missing
		{32, 32, 0, 1, 128},           // nothing kept: four times as many
		{512, 512, 0, 1, MaxLimit},    // at most a full request
		{32, 0, 0, 1, 128},            // no ScannedCount: what was asked for
		{100, 100, 50, 1, 32},         // common: the smallest read
		{1000, 1000, 1, 50, MaxLimit}, // rare, many wanted: the most there is
	} {
		if got := nextReadAhead(tc.asked, tc.scanned, tc.kept, tc.want); got != tc.next {
			t.Errorf("nextReadAhead(%d, %d, %d, %d) = %d, want %d", tc.asked, tc.scanned, tc.kept, tc.want, got, tc.next)
		}
	}
}
