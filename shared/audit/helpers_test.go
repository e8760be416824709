package audit

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
)

// One dynalite serves the package's tests; each test gets its own table.
var (
	testServer *dynalite.Server
	testDB     *dynamodb.Client
	tableSeq   atomic.Int64
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	srv, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit tests need dynalite:", err)
		os.Exit(1)
	}
	testServer = srv
	ep := awsclient.Endpoints{DynamoDB: srv.URL}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		srv.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDB = awsclient.DynamoDB(cfg, ep)
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

// newTable creates a fresh table and returns its name.
func newTable(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("audit-%d", tableSeq.Add(1))
	// table.Ensure's SDK waiter sleeps 20 s whenever its first look finds the table still
	// CREATING; polling briefly keeps a test run short.
	if _, err := testDB.CreateTable(context.Background(), table.Input(name)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, testDB, name)
	return name
}

func waitActive(t testing.TB, db *dynamodb.Client, name string) {
	t.Helper()
	for i := 0; ; i++ {
		out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			return
		}
		if i == 500 {
			t.Fatalf("table %s not active: %v", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func rec(typ domain.RecordType, pipeline, run string, minute int) domain.Record {
	return domain.Record{Type: typ, Pipeline: pipeline, RunID: run, Actor: "system", Time: t0.Add(time.Duration(minute) * time.Minute)}
}

func mustAppend(t testing.TB, d *Dynamo, recs ...domain.Record) []Entry {
	t.Helper()
	var out []Entry
	for _, r := range recs {
		e, err := d.AppendEntry(context.Background(), r)
		if err != nil {
			t.Fatalf("append %s: %v", r.Type, err)
		}
		out = append(out, e)
	}
	return out
}
