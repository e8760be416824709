package audit

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

func TestAppendChainsRecordsPerPipeline(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	got := mustAppend(t, d,
		rec(domain.RecRunStarted, "web", "r1", 0),
		rec(domain.RecStageStarted, "web", "r1", 1),
		rec(domain.RecRunStarted, "api", "r2", 2),
		rec(domain.RecStageFinished, "web", "r1", 3),
	)
	tests := []struct {
		name     string
		e        Entry
		wantSeq  int64
		wantPrev string
	}{
		{"first of web", got[0], 1, ""},
		{"second of web links to first", got[1], 2, got[0].Hash},
		{"first of api starts its own chain", got[2], 1, ""},
		{"third of web links to second", got[3], 3, got[1].Hash},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.e.Seq != tc.wantSeq || tc.e.PrevHash != tc.wantPrev {
				t.Errorf("got seq %d prev %q, want seq %d prev %q", tc.e.Seq, tc.e.PrevHash, tc.wantSeq, tc.wantPrev)
			}
			if len(tc.e.Hash) != 64 {
				t.Errorf("got hash %q, want 64 hex digits", tc.e.Hash)
			}
		})
	}
}

func TestAppendRefusesBadRecords(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	tests := []struct {
		name string
		r    domain.Record
	}{
		{"no type", domain.Record{Pipeline: "p", Actor: "a"}},
		{"no pipeline", domain.Record{Type: domain.RecRunStarted, Actor: "a"}},
		{"no actor", domain.Record{Type: domain.RecRunStarted, Pipeline: "p"}},
		{"detail not encodable", domain.Record{Type: domain.RecRunStarted, Pipeline: "p", Actor: "a", Detail: map[string]any{"f": func() {}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Append(context.Background(), tc.r)
			if !domain.IsKind(err, domain.Invalid) {
				t.Errorf("got %v, want an Invalid error", err)
			}
		})
	}
}

// The store's own write path must refuse to overwrite a record: the conditional put is
// what keeps the trail append-only even for a writer holding a stale head.
func TestConditionalWriteRefusesOverwrite(t *testing.T) {
	tbl := newTable(t)
	d := NewDynamo(testDB, tbl)
	first := mustAppend(t, d, rec(domain.RecRunStarted, "web", "r1", 0))[0]

	forged, err := newStored(rec(domain.RecApprovalFinal, "web", "r1", 5), first.Seq, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = testDB.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(tbl), Item: forged.item(),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": workflow.AttrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("got %v, want ConditionalCheckFailedException", err)
	}
	page, err := d.Query(context.Background(), Filter{Pipeline: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Hash != first.Hash {
		t.Errorf("got %+v, want the original record untouched", page.Records)
	}
}

// Several writers (separate stores, as separate Lambdas would be) append to one pipeline
// at once: every record lands, sequence numbers are 1..n without gaps or forks.
func TestConcurrentAppendsSerialize(t *testing.T) {
	tests := []struct {
		name          string
		writers, each int
	}{
		{"8 writers, 5 records each", 8, 5},
		{"50 writers at once, as 50 Lambdas", 50, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := newTable(t)
			var wg sync.WaitGroup
			errs := make(chan error, tc.writers*tc.each)
			start := make(chan struct{})
			for w := 0; w < tc.writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := NewDynamo(testDB, tbl)
					<-start
					for i := 0; i < tc.each; i++ {
						if err := d.Append(context.Background(), rec(domain.RecStageStarted, "web", "r1", i)); err != nil {
							errs <- err
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("append: %v", err)
			}
			rep, err := NewDynamo(testDB, tbl).Verify(context.Background(), "web")
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.writers * tc.each; rep.Records != want || rep.Head.Seq != int64(want) || !rep.OK() {
				t.Errorf("got %d records, head %d, problems %v; want %d records and none", rep.Records, rep.Head.Seq, rep.Problems, want)
			}
		})
	}
}

// Tampering with the head must not stop the trail from being written: appends continue
// after it (and verify reports it).
func TestAppendContinuesAfterTamperedHead(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, tbl string)
	}{
		{"seq attribute of the head edited", func(t *testing.T, tbl string) {
			_, err := testDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
				TableName: aws.String(tbl), Key: chainKey("web", 2),
				UpdateExpression:          aws.String("SET seq = :s"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: "7"}},
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"item with a malformed key planted after the head", func(t *testing.T, tbl string) {
			tamperPut(t, tbl, forged(t, 3, "", func(s *stored) { s.SK = seqKey(2) + "9" }))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := newTable(t)
			d := NewDynamo(testDB, tbl, WithMaxAttempts(3))
			mustAppend(t, d, rec(domain.RecRunStarted, "web", "r1", 0), rec(domain.RecStageStarted, "web", "r1", 1))
			tc.tamper(t, tbl)
			got := mustAppend(t, d, rec(domain.RecStageFinished, "web", "r1", 2))[0]
			if got.Seq != 3 {
				t.Errorf("got seq %d, want 3", got.Seq)
			}
			rep, err := d.Verify(context.Background(), "web")
			if err != nil || rep.OK() {
				t.Errorf("got %+v, %v; want the tampering reported", rep, err)
			}
		})
	}
}
