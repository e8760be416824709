package ddblocal_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/ddblocal"
)

// snapshot is every item of the fixture tables, canonical, plus the table list.
func snapshot(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	lt, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, lt.TableNames)
	for _, tbl := range lt.TableNames {
		res, msg := do(ctx, c, req{op: "Scan", table: tbl, pages: true, limit: 7})
		if res["error"] != nil {
			t.Fatalf("scan %s: %v %s", tbl, res["error"], msg)
		}
		fmt.Fprintln(&b, tbl, canonJSON(res))
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tbl)})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, tbl, "count", aws.ToInt64(d.Table.ItemCount), "indexes", len(d.Table.GlobalSecondaryIndexes), len(d.Table.LocalSecondaryIndexes))
	}
	return b.String()
}

func start(t *testing.T, dir string) (*ddblocal.Server, *dynamodb.Client) {
	t.Helper()
	s, err := ddblocal.Start(ddblocal.Options{Path: dir})
	if err != nil {
		t.Fatalf("start on %s: %v", dir, err)
	}
	return s, client(t, s.URL)
}

// writeSome makes a history: creates, puts, updates, deletes, a batch and a dropped table.
// reopened closes s, starts a server on dir again and checks that it holds what c
// showed before (what names the moment in the error). The caller closes the new server.
func reopened(t *testing.T, dir string, s *ddblocal.Server, c *dynamodb.Client, what string) (*ddblocal.Server, *dynamodb.Client) {
	t.Helper()
	want := snapshot(t, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, c2 := start(t, dir)
	if got := snapshot(t, c2); got != want {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
	return s2, c2
}

// stoppedAfterWrites runs a server on dir through writeSome and stops it, returning what
// it held and the path of its log, for tests that then damage the log.
func stoppedAfterWrites(t *testing.T, dir string) (want, logPath string) {
	t.Helper()
	s, c := start(t, dir)
	writeSome(t, c)
	want = snapshot(t, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return want, filepath.Join(dir, ddblocal.LogName)
}

func writeSome(t *testing.T, c *dynamodb.Client) {
	t.Helper()
	ctx := context.Background()
	if err := createFixture(ctx, c); err != nil {
		t.Fatal(err)
	}
	resetClients(t, seed(), c)
	for i, r := range []req{
		{op: "Update", table: tH, key: kA, update: "SET n = n + :d ADD ss :s REMOVE l[0]", values: vals(":d", N("2"), ":s", SS("new"))},
		{op: "Delete", table: tH, key: kB},
		{op: "Put", table: tN, item: it("pk", S("x"), "sk", N("1"), "g", S("G"), "gn", N("99"), "uni", S("ünï ✓ \"quoted\"\n"))},
		{op: "BatchWrite", table: tSG, puts: []item{it("PK", S("b"), "SK", S("1"), "bin", B("\x00\xff"))}, dels: []item{it("PK", S("run#2"), "SK", S("meta"))}},
	} {
		if res, msg := do(ctx, c, r); res["error"] != nil {
			t.Fatalf("write %d: %v %s", i, res["error"], msg)
		}
	}
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("dropped"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("dropped")}); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, c := start(t, dir)
	writeSome(t, c)
	s2, c2 := reopened(t, dir, s, c, "after reopen")
	defer s2.Close()
	// The reopened server keeps appending: a write after reopen survives another one.
	if res, msg := do(context.Background(), c2, req{op: "Put", table: tH, item: it("id", S("late"))}); res["error"] != nil {
		t.Fatalf("put after reopen: %v %s", res["error"], msg)
	}
	s3, _ := reopened(t, dir, s2, c2, "after second reopen")
	defer s3.Close()
}

// An acknowledged write is in the log before the answer: a second server opened on a
// copy of the directory while the first still runs (as after a kill -9) sees it.
func TestAcknowledgedWriteIsInTheLogWithoutClose(t *testing.T) {
	dir := t.TempDir()
	s, c := start(t, dir)
	defer s.Close()
	writeSome(t, c)
	want := snapshot(t, c)
	copyDir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, "dynamodb.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyDir, "dynamodb.log"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, c2 := start(t, copyDir)
	defer s2.Close()
	if got := snapshot(t, c2); got != want {
		t.Errorf("copy of a running server's log:\n got %s\nwant %s", got, want)
	}
}

func TestTornLastLineIsCutOff(t *testing.T) {
	dir := t.TempDir()
	want, path := stoppedAfterWrites(t, dir)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"put","table":"hhh","item":{"id":{"S":"torn"},"v":{"N":`)
	f.Close()
	s2, c2 := start(t, dir)
	if got := snapshot(t, c2); got != want {
		t.Errorf("after a torn last line:\n got %s\nwant %s", got, want)
	}
	// The torn bytes are gone, so the next record starts on a line of its own.
	if b, _ := os.ReadFile(path); !bytes.Equal(b, good) {
		t.Errorf("log after reopen is %d bytes, want the %d good ones", len(b), len(good))
	}
	if res, msg := do(context.Background(), c2, req{op: "Put", table: tH, item: it("id", S("after"))}); res["error"] != nil {
		t.Fatalf("put after repair: %v %s", res["error"], msg)
	}
	s3, _ := reopened(t, dir, s2, c2, "write after the repair")
	defer s3.Close()
}

func TestCorruptMiddleLineIsAClearError(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(lines []string) []string
		want    string
	}{
		{"not json", func(l []string) []string { l[3] = "#garbage"; return l }, "line 4 is corrupt"},
		{"cut short", func(l []string) []string { l[2] = l[2][:len(l[2])/2]; return l }, "line 3 is corrupt"},
		{"unknown table", func(l []string) []string {
			l[4] = `{"op":"put","table":"nosuch","item":{"id":{"S":"x"}}}`
			return l
		}, `line 5: put on unknown table "nosuch"`},
		{"unknown operation", func(l []string) []string { l[4] = `{"op":"frobnicate","table":"hhh"}`; return l }, `line 5: unknown operation "frobnicate"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, path := stoppedAfterWrites(t, dir)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) < 6 {
				t.Fatalf("log has only %d lines", len(lines))
			}
			if err := os.WriteFile(path, []byte(strings.Join(tc.corrupt(lines), "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s2, err := ddblocal.Start(ddblocal.Options{Path: dir})
			if err == nil {
				s2.Close()
				t.Fatal("Start on a corrupt log succeeded; want an error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q; want it to name %s and say %q", err, path, tc.want)
			}
			// The corrupt log is left as it was, for the person to inspect.
			if after, _ := os.ReadFile(path); len(after) == 0 {
				t.Error("the corrupt log was emptied")
			}
		})
	}
}

func TestCompactionKeepsEveryItem(t *testing.T) {
	dir := t.TempDir()
	s, c := start(t, dir)
	writeSome(t, c)
	// Many overwrites of a few items: the log grows far beyond the live data.
	for i := 0; i < 3000; i++ {
		body := fmt.Sprintf(`{"TableName":%q,"Item":{"id":{"S":"hot%d"},"v":{"N":"%d"}}}`, tH, i%5, i)
		if _, err := s.Do("PutItem", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	want := snapshot(t, c)
	s.Close()
	path := filepath.Join(dir, "dynamodb.log")
	before, _ := os.Stat(path)
	s2, c2 := start(t, dir)
	after, _ := os.Stat(path)
	if after.Size()*5 > before.Size() {
		t.Errorf("log is %d bytes after compaction, was %d: not compacted", after.Size(), before.Size())
	}
	if got := snapshot(t, c2); got != want {
		t.Errorf("after compaction:\n got %s\nwant %s", got, want)
	}
	if res, msg := do(context.Background(), c2, req{op: "Delete", table: tH, key: it("id", S("hot1"))}); res["error"] != nil {
		t.Fatalf("delete after compaction: %v %s", res["error"], msg)
	}
	s3, _ := reopened(t, dir, s2, c2, "write after compaction, reopened")
	defer s3.Close()
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("compaction left %s.tmp behind (%v)", path, err)
	}
}

// TestZerosAfterAPowerLossEndTheLog: a file system that allocates blocks lazily can leave
// zeros where the last writes were when the machine stops; the log ends there.
func TestZerosAfterAPowerLossEndTheLog(t *testing.T) {
	dir := t.TempDir()
	want, path := stoppedAfterWrites(t, dir)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 4096))
	f.WriteString(`{"op":"put","table":"hhh","item":{"id":{"S":"after-the-zeros"}}}` + "\n")
	f.Close()
	s2, c2 := start(t, dir)
	defer s2.Close()
	if got := snapshot(t, c2); got != want {
		t.Errorf("after zeros at the end:\n got %s\nwant %s", got, want)
	}
}

func TestStartReportsAnAddressInUse(t *testing.T) {
	first, err := ddblocal.Start(ddblocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := strings.TrimPrefix(first.URL, "http://")
	for _, tc := range []struct {
		name string
		path string
	}{{"in memory", ""}, {"on disk", t.TempDir()}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ddblocal.Start(ddblocal.Options{Path: tc.path, Addr: addr})
			if err == nil {
				s.Close()
				t.Fatalf("a second server on %s started", addr)
			}
			if !strings.Contains(err.Error(), "listen on "+addr) {
				t.Errorf("error = %q, want it to name the address", err)
			}
		})
	}
}

func TestASecondServerOnTheSameLogRefuses(t *testing.T) {
	dir := t.TempDir()
	s, _ := start(t, dir)
	defer s.Close()
	s2, err := ddblocal.Start(ddblocal.Options{Path: dir})
	if err == nil {
		s2.Close()
		t.Fatal("a second server opened the same log")
	}
	if !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("error = %q, want it to say the log is in use", err)
	}
}
