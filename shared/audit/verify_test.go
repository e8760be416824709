package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

func chainKey(pipeline string, seq int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{workflow.AttrPK: str(pipePrefix + pipeline), workflow.AttrSK: str(seqKey(seq))}
}

// tamper* change the table behind the store's back, as someone with table access would.
func tamperSet(t *testing.T, tbl string, key map[string]types.AttributeValue, attr, value string) {
	t.Helper()
	_, err := testDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(tbl), Key: key,
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": str(value)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tamperDelete(t *testing.T, tbl string, key map[string]types.AttributeValue) {
	t.Helper()
	if _, err := testDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key}); err != nil {
		t.Fatal(err)
	}
}

func tamperPut(t *testing.T, tbl string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := testDB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// forged builds a self-consistent record (its own hash is right) for planting.
func forged(t *testing.T, seq int64, prev string, mutate func(*stored)) map[string]types.AttributeValue {
	t.Helper()
	r := rec(domain.RecApprovalFinal, "web", "r1", 30)
	r.Actor, r.Outcome = "mallory@example.com", "approved"
	s, err := newStored(r, seq, prev)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(s)
	}
	return s.item()
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, tbl string, chain []Entry)
		want   []string // "kind seq" of each problem
		// wantSuspects is how many records a plain query flags: the tampering a
		// single record betrays, without following the chain.
		wantSuspects int
	}{
		{"untouched chain", func(*testing.T, string, []Entry) {}, nil, 0},
		{"edited actor", func(t *testing.T, tbl string, _ []Entry) {
			tamperSet(t, tbl, chainKey("web", 3), "actor", "mallory@example.com")
		}, []string{"edited 3"}, 1},
		{"edited detail", func(t *testing.T, tbl string, _ []Entry) {
			tamperSet(t, tbl, chainKey("web", 2), "detail", `{"n":99}`)
		}, []string{"edited 2"}, 1},
		{"edited outcome and recomputed its hash", func(t *testing.T, tbl string, chain []Entry) {
			tamperPut(t, tbl, forged(t, 3, chain[1].Hash, nil))
		}, []string{"edited 3"}, 0},
		{"index key altered to hide a record from approver queries", func(t *testing.T, tbl string, _ []Entry) {
			tamperSet(t, tbl, chainKey("web", 4), "GSI5PK", "APPROVER#nobody")
		}, []string{"edited 4"}, 1},
		{"deleted record in the middle", func(t *testing.T, tbl string, _ []Entry) {
			tamperDelete(t, tbl, chainKey("web", 3))
		}, []string{"deleted 3"}, 0},
		{"deleted two records", func(t *testing.T, tbl string, _ []Entry) {
			tamperDelete(t, tbl, chainKey("web", 2))
			tamperDelete(t, tbl, chainKey("web", 3))
		}, []string{"deleted 2"}, 0},
		{"inserted with a sort key Append never writes", func(t *testing.T, tbl string, _ []Entry) {
			tamperPut(t, tbl, forged(t, 3, "", func(s *stored) { s.SK = seqKey(3) + "5" }))
		}, []string{"inserted 0"}, 1},
		{"inserted at the end without the chain", func(t *testing.T, tbl string, _ []Entry) {
			tamperPut(t, tbl, forged(t, 6, strings.Repeat("0", 64), nil))
		}, []string{"inserted 6"}, 0},
		{"inserted outside the chain but visible in queries", func(t *testing.T, tbl string, _ []Entry) {
			tamperPut(t, tbl, forged(t, 3, "", func(s *stored) { s.PK = "PLANTED#1" }))
		}, []string{"inserted 0"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := newTable(t)
			d := NewDynamo(testDB, tbl)
			var recs []domain.Record
			for i := 1; i <= 5; i++ {
				r := rec(domain.RecApprovalDecision, "web", "r1", i)
				r.Actor, r.Outcome, r.Detail = "bob@example.com", "rejected", map[string]any{"n": i}
				recs = append(recs, r)
			}
			chain := mustAppend(t, d, recs...)
			mustAppend(t, d, rec(domain.RecRunStarted, "api", "r9", 0))
			tc.tamper(t, tbl, chain)

			rep, err := d.Verify(context.Background(), "web")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, fmt.Sprintf("%s %d", p.Kind, p.Seq))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got problems %v, want %v\n%v", got, tc.want, rep.Problems)
			}
			if rep.OK() != (len(tc.want) == 0) {
				t.Errorf("got OK %v with problems %v", rep.OK(), rep.Problems)
			}
			page, err := d.Query(context.Background(), Filter{Pipeline: "web", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			suspects := 0
			for _, e := range page.Records {
				if e.Suspect != "" {
					suspects++
				}
			}
			if suspects != tc.wantSuspects {
				t.Errorf("query flagged %d records, want %d", suspects, tc.wantSuspects)
			}
			// Tampering with one pipeline never implicates another.
			other, err := d.Verify(context.Background(), "api")
			if err != nil || !other.OK() || other.Records != 1 {
				t.Errorf("api chain: got %+v, %v; want 1 record, no problems", other, err)
			}
		})
	}
}

func TestVerifyAgainstAnchor(t *testing.T) {
	tbl := newTable(t)
	d := NewDynamo(testDB, tbl)
	var chain []Entry
	for i := 0; i < 4; i++ {
		chain = append(chain, mustAppend(t, d, rec(domain.RecStageStarted, "web", "r1", i))...)
	}
	head := Anchor{Seq: 4, Hash: chain[3].Hash}
	rep, err := d.Verify(context.Background(), "web", head)
	if err != nil || !rep.OK() || rep.Head != head {
		t.Fatalf("got %+v, %v; want a clean chain with head %v", rep, err, head)
	}
	// Cutting the end leaves a self-consistent chain; only the anchor shows it.
	tamperDelete(t, tbl, chainKey("web", 4))
	tamperDelete(t, tbl, chainKey("web", 3))
	plain, err := d.Verify(context.Background(), "web")
	if err != nil || !plain.OK() {
		t.Fatalf("without anchor: got %+v, %v; want no problem found (the limit of a bare chain)", plain, err)
	}
	rep, err = d.Verify(context.Background(), "web", head)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != Deleted || rep.Problems[0].Seq != 3 {
		t.Errorf("got %v, want one deletion from seq 3", rep.Problems)
	}
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Anchor
		wantErr bool
	}{
		{"42:" + h, Anchor{42, h}, false},
		{"42", Anchor{}, true},
		{"0:" + h, Anchor{}, true},
		{"x:" + h, Anchor{}, true},
		{"42:abc", Anchor{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAnchor(tc.in)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestPipelinesListsEveryChain(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	mustAppend(t, d, rec(domain.RecRunStarted, "web", "r1", 0), rec(domain.RecRunStarted, "api", "r2", 1), rec(domain.RecRunFinished, "web", "r1", 2))
	got, err := d.Pipelines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "api,web" {
		t.Errorf("got %v, want [api web]", got)
	}
}
