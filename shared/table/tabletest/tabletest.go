// Package tabletest gives a package's tests one dynalite and a fresh shipgate table per
// test. Starting dynalite costs about a second and creating a table milliseconds, so a
// package shares the server and isolates its tests by table.
package tabletest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
)

// DB is one dynalite with the real SDK client in front of it.
type DB struct {
	// Client is nil when dynalite could not be started; NewTable then fails the test
	// with the reason.
	Client *dynamodb.Client
	err    error
	srv    *dynalite.Server
	prefix string
	seq    atomic.Int64
}

// Start starts dynalite, usually from TestMain (a test that needs a server of its own
// calls it and t.Cleanup(d.Stop)). It does not fail: a machine without dynalite
// fails each test that asks for a table, saying why, rather than the whole binary
// without a word. Tables are named prefix1, prefix2, ...
func Start(prefix string) *DB {
	ctx := context.Background()
	d := &DB{prefix: prefix}
	srv, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		d.err = err
		return d
	}
	d.srv = srv
	ep := awsclient.Endpoints{DynamoDB: srv.URL}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		d.err = err
		return d
	}
	d.Client = awsclient.DynamoDB(cfg, ep)
	return d
}

// Stop stops dynalite.
func (d *DB) Stop() { d.srv.Stop() }

// NewTable creates a fresh shipgate table and returns its name once it is active.
func (d *DB) NewTable(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("%s%d", d.prefix, d.seq.Add(1))
	d.Create(t, name)
	return name
}

// Create creates the shipgate table name and returns once it is active, for a test whose
// code under test has the table name fixed.
func (d *DB) Create(t testing.TB, name string) {
	t.Helper()
	if d.err != nil {
		t.Fatalf("dynalite: %v", d.err)
	}
	// table.Ensure's SDK waiter sleeps seconds between polls when dynalite answers
	// CREATING once; polling by hand keeps each test's table ready in milliseconds.
	ctx := context.Background()
	if _, err := d.Client.CreateTable(ctx, table.Input(name)); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	for i := 0; ; i++ {
		out, err := d.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == ddbtypes.TableStatusActive {
			return
		}
		if i == 500 {
			t.Fatalf("table %s not active after 10s: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
