package table_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
	"github.com/shipgate/shipgate/shared/workflow"
)

func TestEnsureCreatesTableWithEveryIndexAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	srv, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	ep := awsclient.Endpoints{DynamoDB: srv.URL}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	db := awsclient.DynamoDB(cfg, ep)
	for i := 0; i < 2; i++ {
		if err := table.Ensure(ctx, db, "audit"); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
	}
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("audit")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		got[aws.ToString(g.IndexName)] = true
	}
	for _, ix := range workflow.TableIndexes() {
		if !got[ix.Name] {
			t.Errorf("index %s missing; got %v", ix.Name, got)
		}
	}
}

// A port already served by something else must not pass for a started dynalite.
func TestStartRefusesAPortSomeoneElseServes(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	srv, err := dynalite.Start(context.Background(), dynalite.Options{Addr: other.Listener.Addr().String()})
	if err == nil {
		srv.Stop()
		t.Fatal("Start on a port another server holds succeeded; want an error")
	}
}
