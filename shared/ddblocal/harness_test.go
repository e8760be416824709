package ddblocal_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/ddblocal"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
)

// The differential harness: the same request, sent with the AWS SDK to dynalite (the
// oracle) and to ddblocal, must give the same canonical response. Canonical means wire
// JSON with set members sorted; ConsumedCapacity and error messages are left out (only
// the error code is compared); Scan results are sorted because the order of a Scan is
// the server's hash order, which neither DynamoDB nor dynalite promise.

type (
	av   = types.AttributeValue
	item = map[string]types.AttributeValue
)

func S(s string) av     { return &types.AttributeValueMemberS{Value: s} }
func N(s string) av     { return &types.AttributeValueMemberN{Value: s} }
func B(s string) av     { return &types.AttributeValueMemberB{Value: []byte(s)} }
func BOOL(b bool) av    { return &types.AttributeValueMemberBOOL{Value: b} }
func NULL() av          { return &types.AttributeValueMemberNULL{Value: true} }
func L(v ...av) av      { return &types.AttributeValueMemberL{Value: append([]av{}, v...)} }
func M(kv ...any) av    { return &types.AttributeValueMemberM{Value: it(kv...)} }
func SS(v ...string) av { return &types.AttributeValueMemberSS{Value: v} }
func NS(v ...string) av { return &types.AttributeValueMemberNS{Value: v} }
func BS(v ...string) av {
	var out [][]byte
	for _, s := range v {
		out = append(out, []byte(s))
	}
	return &types.AttributeValueMemberBS{Value: out}
}

// it builds an item from name, value pairs.
func it(kv ...any) item {
	m := item{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(av)
	}
	return m
}

func names(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// req is one request of any of the item operations; empty fields are left out.
type req struct {
	op         string // Put, Get, Update, Delete, Query, Scan, BatchWrite, BatchGet, Describe
	table      string
	item, key  item
	cond       string
	update     string
	kc         string
	filter     string
	proj       string
	names      map[string]string
	values     item
	rv         types.ReturnValue
	rvFail     bool // ReturnValuesOnConditionCheckFailure ALL_OLD
	index      string
	limit      int32
	back       bool // ScanIndexForward false
	sel        types.Select
	esk        item
	pages      bool // follow LastEvaluatedKey until exhausted
	consistent bool
	puts, dels []item // BatchWrite
	create     *dynamodb.CreateTableInput
	startTable string // ListTables ExclusiveStartTableName
	keys       []item // BatchGet
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (r req) String() string {
	parts := []string{r.op, r.table}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("index", r.index)
	add("kc", r.kc)
	add("cond", r.cond)
	add("update", r.update)
	add("filter", r.filter)
	add("proj", r.proj)
	if r.item != nil {
		add("item", canonJSON(itemJSON(r.item)))
	}
	if r.key != nil {
		add("key", canonJSON(itemJSON(r.key)))
	}
	if r.values != nil {
		add("values", canonJSON(itemJSON(r.values)))
	}
	if r.limit > 0 {
		add("limit", fmt.Sprint(r.limit))
	}
	return strings.Join(parts, " ")
}

// avJSON is v in wire form with set members sorted.
func avJSON(v av) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberL:
		l := []any{}
		for _, e := range v.Value {
			l = append(l, avJSON(e))
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": itemJSON(v.Value)}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": sorted(v.Value)}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": sorted(v.Value)}
	case *types.AttributeValueMemberBS:
		var s []string
		for _, b := range v.Value {
			s = append(s, base64.StdEncoding.EncodeToString(b))
		}
		return map[string]any{"BS": sorted(s)}
	}
	return fmt.Sprintf("unknown %T", v)
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func itemJSON(m item) any {
	if m == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range m {
		out[k] = avJSON(v)
	}
	return out
}

func itemsJSON(list []item, sortThem bool) []any {
	out := []any{}
	for _, m := range list {
		out = append(out, itemJSON(m))
	}
	if sortThem {
		sort.Slice(out, func(i, j int) bool { return canonJSON(out[i]) < canonJSON(out[j]) })
	}
	return out
}

func canonJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "!" + err.Error()
	}
	return string(b)
}

// errCode is the DynamoDB error code of err, or a note that the SDK refused the request.
func errCode(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "client-side error", err.Error()
}

// do sends r and returns its canonical response and the error message (not compared).
func do(ctx context.Context, c *dynamodb.Client, r req) (map[string]any, string) {
	res := map[string]any{}
	fail := func(err error) (map[string]any, string) {
		code, msg := errCode(err)
		res["error"] = code
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) && ccf.Item != nil {
			res["failedItem"] = itemJSON(ccf.Item)
		}
		return res, msg
	}
	var rvFail types.ReturnValuesOnConditionCheckFailure
	if r.rvFail {
		rvFail = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	tbl := aws.String(r.table)
	switch r.op {
	case "Put":
		out, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: r.item, ConditionExpression: opt(r.cond),
			ExpressionAttributeNames: r.names, ExpressionAttributeValues: r.values, ReturnValues: r.rv, ReturnValuesOnConditionCheckFailure: rvFail})
		if err != nil {
			return fail(err)
		}
		res["Attributes"] = itemJSON(out.Attributes)
	case "Get":
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: r.key, ProjectionExpression: opt(r.proj),
			ExpressionAttributeNames: r.names, ConsistentRead: aws.Bool(r.consistent)})
		if err != nil {
			return fail(err)
		}
		res["Item"] = itemJSON(out.Item)
	case "Delete":
		out, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: r.key, ConditionExpression: opt(r.cond),
			ExpressionAttributeNames: r.names, ExpressionAttributeValues: r.values, ReturnValues: r.rv, ReturnValuesOnConditionCheckFailure: rvFail})
		if err != nil {
			return fail(err)
		}
		res["Attributes"] = itemJSON(out.Attributes)
	case "Update":
		out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: r.key, UpdateExpression: opt(r.update), ConditionExpression: opt(r.cond),
			ExpressionAttributeNames: r.names, ExpressionAttributeValues: r.values, ReturnValues: r.rv, ReturnValuesOnConditionCheckFailure: rvFail})
		if err != nil {
			return fail(err)
		}
		res["Attributes"] = itemJSON(out.Attributes)
	case "Query", "Scan":
		var pages []any
		var all []item
		esk := r.esk
		for n := 0; ; n++ {
			if n > 100 {
				res["error"] = "more than 100 pages"
				return res, ""
			}
			var items []item
			var count, scanned int32
			var lek item
			var limit *int32
			if r.limit > 0 {
				limit = aws.Int32(r.limit)
			}
			if r.op == "Query" {
				in := &dynamodb.QueryInput{TableName: tbl, IndexName: opt(r.index), KeyConditionExpression: opt(r.kc), FilterExpression: opt(r.filter),
					ProjectionExpression: opt(r.proj), ExpressionAttributeNames: r.names, ExpressionAttributeValues: r.values, Limit: limit,
					ExclusiveStartKey: esk, Select: r.sel, ConsistentRead: aws.Bool(r.consistent)}
				if r.back {
					in.ScanIndexForward = aws.Bool(false)
				}
				out, err := c.Query(ctx, in)
				if err != nil {
					return fail(err)
				}
				items, count, scanned, lek = out.Items, out.Count, out.ScannedCount, out.LastEvaluatedKey
			} else {
				out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl, IndexName: opt(r.index), FilterExpression: opt(r.filter),
					ProjectionExpression: opt(r.proj), ExpressionAttributeNames: r.names, ExpressionAttributeValues: r.values, Limit: limit,
					ExclusiveStartKey: esk, Select: r.sel, ConsistentRead: aws.Bool(r.consistent)})
				if err != nil {
					return fail(err)
				}
				items, count, scanned, lek = out.Items, out.Count, out.ScannedCount, out.LastEvaluatedKey
			}
			if r.op == "Query" {
				p := map[string]any{"Count": count, "ScannedCount": scanned, "LastEvaluatedKey": itemJSON(lek)}
				if r.sel != types.SelectCount {
					p["Items"] = itemsJSON(items, false)
				}
				pages = append(pages, p)
			} else {
				// A Scan's order is the server's own: compare the scanned counts per page
				// and the union of the items.
				pages = append(pages, map[string]any{"ScannedCount": scanned, "more": lek != nil})
				res["Count"] = toInt(res["Count"]) + int(count)
				all = append(all, items...)
			}
			if !r.pages || lek == nil {
				break
			}
			esk = lek
		}
		res["pages"] = pages
		if r.op == "Scan" && r.sel != types.SelectCount {
			res["Items"] = itemsJSON(all, true)
		}
	case "BatchWrite":
		var wr []types.WriteRequest
		for _, p := range r.puts {
			wr = append(wr, types.WriteRequest{PutRequest: &types.PutRequest{Item: p}})
		}
		for _, d := range r.dels {
			wr = append(wr, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: d}})
		}
		out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{r.table: wr}})
		if err != nil {
			return fail(err)
		}
		res["Unprocessed"] = len(out.UnprocessedItems)
	case "BatchGet":
		ka := types.KeysAndAttributes{Keys: r.keys, ProjectionExpression: opt(r.proj), ExpressionAttributeNames: r.names}
		out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{r.table: ka}})
		if err != nil {
			return fail(err)
		}
		resp := map[string]any{}
		for k, v := range out.Responses {
			resp[k] = itemsJSON(v, true)
		}
		res["Responses"] = resp
		res["Unprocessed"] = len(out.UnprocessedKeys)
	case "Describe":
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: tbl})
		if err != nil {
			return fail(err)
		}
		// ItemCount is left out: DynamoDB refreshes it about every six hours and
		// dynalite does not keep it; TestBeyondDynalite checks ddblocal's.
		d := describeJSON(out.Table).(map[string]any)
		// dynalite reports CREATING for a moment after CreateTable even with
		// --createTableMs 0; ddblocal is ACTIVE at once. Both are valid DynamoDB states.
		delete(d, "status")
		d["indexes"] = strings.ReplaceAll(strings.Join(d["indexes"].([]string), ";"), "CREATING", "ACTIVE")
		res["Table"] = d
	case "CreateTable":
		out, err := c.CreateTable(ctx, r.create)
		if err != nil {
			return fail(err)
		}
		res["Table"] = describeJSON(out.TableDescription)
		// Like any client, wait for ACTIVE: DynamoDB (and dynalite, for a moment)
		// refuses writes to a table that is still CREATING.
		w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: tbl}, 5*time.Second); err != nil {
			res["error"] = "table never became ACTIVE: " + err.Error()
		}
	case "DeleteTable":
		if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: tbl}); err != nil {
			return fail(err)
		}
		// dynalite keeps the table DELETING for a moment; later steps must not see it.
		w := dynamodb.NewTableNotExistsWaiter(c, func(o *dynamodb.TableNotExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: tbl}, 5*time.Second); err != nil {
			res["error"] = "table never went away: " + err.Error()
		}
	case "ListTables":
		in := &dynamodb.ListTablesInput{ExclusiveStartTableName: opt(r.startTable)}
		if r.limit > 0 {
			in.Limit = aws.Int32(r.limit)
		}
		out, err := c.ListTables(ctx, in)
		if err != nil {
			return fail(err)
		}
		res["TableNames"] = out.TableNames
		res["Last"] = aws.ToString(out.LastEvaluatedTableName)
	default:
		panic("unknown op " + r.op)
	}
	return res, ""
}

// describeJSON is the part of a table description both servers must agree on: names,
// keys, attribute definitions, indexes with their projections, status, billing mode.
func describeJSON(d *types.TableDescription) any {
	if d == nil {
		return nil
	}
	keys := func(ks []types.KeySchemaElement) []string {
		var out []string
		for _, k := range ks {
			out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
		}
		return out
	}
	proj := func(p *types.Projection) string {
		if p == nil {
			return ""
		}
		return string(p.ProjectionType) + " " + strings.Join(sorted(p.NonKeyAttributes), ",")
	}
	var attrs []string
	for _, a := range d.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	var idx []string
	for _, g := range d.GlobalSecondaryIndexes {
		idx = append(idx, "G "+aws.ToString(g.IndexName)+" "+strings.Join(keys(g.KeySchema), ",")+" "+proj(g.Projection)+" "+string(g.IndexStatus))
	}
	for _, l := range d.LocalSecondaryIndexes {
		idx = append(idx, "L "+aws.ToString(l.IndexName)+" "+strings.Join(keys(l.KeySchema), ",")+" "+proj(l.Projection))
	}
	billing := ""
	if d.BillingModeSummary != nil {
		billing = string(d.BillingModeSummary.BillingMode)
	}
	return map[string]any{"name": aws.ToString(d.TableName), "keys": keys(d.KeySchema), "attrs": sorted(attrs), "indexes": sorted(idx),
		"status": d.TableStatus, "billing": billing}
}

func toInt(v any) int {
	n, _ := v.(int)
	return n
}

// pair is dynalite and ddblocal, each with an SDK client and the same tables.
type pair struct {
	dyn, loc       *dynamodb.Client
	locSrv         *ddblocal.Server
	dynURL, locURL string
}

// Tables of the fixture.
const (
	tSG = "sgt" // shipgate's own table (table.Ensure): PK, SK, GSI1..GSI5
	tH  = "hhh" // hash key only: id (S)
	tN  = "nnn" // pk (S), sk (N); LSI "byLs" (pk, ls S, INCLUDE x); GSI "byG" (g S, gn N, ALL)
)

var nTable = &dynamodb.CreateTableInput{
	TableName: aws.String(tN),
	AttributeDefinitions: []types.AttributeDefinition{
		{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		{AttributeName: aws.String("ls"), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String("gn"), AttributeType: types.ScalarAttributeTypeN},
	},
	KeySchema: []types.KeySchemaElement{
		{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
	},
	LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
		IndexName: aws.String("byLs"),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("ls"), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"x"}},
	}},
	GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
		IndexName: aws.String("byG"),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("gn"), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}},
	BillingMode: types.BillingModePayPerRequest,
}

var hTable = &dynamodb.CreateTableInput{
	TableName:            aws.String(tH),
	AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
	KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	BillingMode:          types.BillingModePayPerRequest,
}

func client(t testing.TB, url string) *dynamodb.Client {
	ep := awsclient.Endpoints{DynamoDB: url}
	cfg, err := awsclient.Load(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	return awsclient.DynamoDB(cfg, ep)
}

// startPair starts dynalite and ddblocal and creates the fixture tables in both.
func startPair(t testing.TB) *pair {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatalf("start dynalite: %v", err)
	}
	t.Cleanup(func() { dyn.Stop() })
	loc, err := ddblocal.Start(ddblocal.Options{Path: t.TempDir()})
	if err != nil {
		t.Fatalf("start ddblocal: %v", err)
	}
	t.Cleanup(func() { loc.Close() })
	p := &pair{dyn: client(t, dyn.URL), loc: client(t, loc.URL), locSrv: loc, dynURL: dyn.URL, locURL: loc.URL}
	for _, c := range []*dynamodb.Client{p.dyn, p.loc} {
		if err := createFixture(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func createFixture(ctx context.Context, c *dynamodb.Client) error {
	if err := table.Ensure(ctx, c, tSG); err != nil {
		return err
	}
	for _, in := range []*dynamodb.CreateTableInput{nTable, hTable} {
		if _, err := c.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("create %s: %w", *in.TableName, err)
		}
	}
	return nil
}

var fixtureKeys = map[string][]string{tSG: {"PK", "SK"}, tH: {"id"}, tN: {"pk", "sk"}}

// reset empties the fixture tables in both servers and loads seed into them.
func (p *pair) reset(t testing.TB, seed map[string][]item) {
	t.Helper()
	resetClients(t, seed, p.dyn, p.loc)
}

func resetClients(t testing.TB, seed map[string][]item, clients ...*dynamodb.Client) {
	t.Helper()
	ctx := context.Background()
	for _, c := range clients {
		for tbl, keyNames := range fixtureKeys {
			out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tbl)})
			if err != nil {
				t.Fatalf("reset scan %s: %v", tbl, err)
			}
			var wr []types.WriteRequest
			for _, m := range out.Items {
				k := item{}
				for _, n := range keyNames {
					k[n] = m[n]
				}
				wr = append(wr, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
			}
			var puts []types.WriteRequest
			for _, m := range seed[tbl] {
				puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: m}})
			}
			// Deletes and puts in separate batches: one batch may not name a key twice.
			for len(wr) > 0 || len(puts) > 0 {
				if len(wr) == 0 {
					wr, puts = puts, nil
				}
				n := min(25, len(wr))
				if _, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{tbl: wr[:n]}}); err != nil {
					t.Fatalf("reset %s: %v", tbl, err)
				}
				wr = wr[n:]
			}
		}
	}
}

// compare sends r to both servers and reports a difference.
func (p *pair) compare(t testing.TB, step int, r req) (got map[string]any) {
	t.Helper()
	ctx := context.Background()
	want, wmsg := do(ctx, p.dyn, r)
	got, gmsg := do(ctx, p.loc, r)
	// dynalite predates ReturnValuesOnConditionCheckFailure; TestBeyondDynalite checks it.
	delete(got, "failedItem")
	if w, g := canonJSON(want), canonJSON(got); w != g {
		t.Errorf("step %d %s:\n got (ddblocal) %s %s\nwant (dynalite) %s %s", step, r, g, gmsg, w, wmsg)
	}
	return got
}
