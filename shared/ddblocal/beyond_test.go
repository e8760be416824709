package ddblocal_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/ddblocal"
)

func withIn(n int) req {
	expr, v := inList(n)
	return cond(kA, expr, v)
}

// TestBeyondDynalite checks, against ddblocal alone, what the differential test cannot:
// where dynalite departs from DynamoDB's documented behaviour (so it is no oracle there)
// or lacks a feature. Each case says which DynamoDB behaviour it follows; want is a
// fragment the canonical response must contain.
func TestBeyondDynalite(t *testing.T) {
	loc, err := ddblocal.Start(ddblocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loc.Close() })
	c := client(t, loc.URL)
	ctx := context.Background()
	if err := createFixture(ctx, c); err != nil {
		t.Fatal(err)
	}
	type step struct {
		r    req
		want string
	}
	const ok = `"Attributes":null`
	const ccf = `{"error":"ConditionalCheckFailedException"}`
	const invalid = `{"error":"ValidationException"}`
	x := S("x")
	cases := []struct {
		name, why string
		steps     []step
	}{
		{"documents compare by value", "DynamoDB's = and contains compare lists and maps by value; dynalite compares object identity (always false)", []step{
			{cond(kA, "l = :v", vals(":v", L(S("x"), N("1"), M("c", S("deep"))))), ok},
			{cond(kA, "m.a = :v", vals(":v", M("b", L(N("0"), M("c", S("v")))))), ok},
			{cond(kA, "m.a = :v", vals(":v", M("b", L(N("0"))))), ccf},
			{cond(kA, "contains(l, :v)", vals(":v", M("c", S("deep")))), ok},
			{cond(kA, "m.a <> :v", vals(":v", M("b", L()))), ok},
		}},
		{"two missing attributes", "DynamoDB (as tested against it by other emulators) holds x <> y and not x = y when both are missing; dynalite the opposite", []step{
			{cond(kA, "nosuch = nosuch2", nil), ccf},
			{cond(kA, "nosuch <> nosuch2", nil), ok},
			{cond(kA, "size(nosuch) = size(nosuch2)", nil), ccf},
		}},
		{"ordering comparisons need scalars", "DynamoDB orders only S, N and B; dynalite compares sets as strings", []step{
			{cond(kA, "ss < :v", vals(":v", SS("z"))), ccf},
			{cond(kA, "l >= :v", vals(":v", L())), ccf},
		}},
		{"empty string in size and IN", "size(\"\") is 0 and \"\" IN (\"\") holds in DynamoDB; dynalite treats the empty string as absent there", []step{
			{cond(kA, "size(e) = :v", vals(":v", N("0"))), ok},
			{cond(kA, "e IN (:v, :w)", vals(":v", S(""), ":w", S("x"))), ok},
		}},
		{"arithmetic beyond 38 digits", "DynamoDB numbers hold at most 38 significant digits, results included; dynalite computes without a bound", []step{
			{req{op: "Update", table: tH, key: kA, update: "SET n = n + :d", values: vals(":d", N("99999999999999999999999999999999999999"))}, invalid},
			{req{op: "Update", table: tH, key: kA, update: "ADD cnt :d", values: vals(":d", N("1E+125"))}, ok},
			{req{op: "Update", table: tH, key: kA, update: "ADD cnt :d", values: vals(":d", N("9E+125"))}, invalid},
			{req{op: "Update", table: tH, key: kA, update: "SET cnt = :a - :b", values: vals(":a", N("1E-36"), ":b", N("1E-130"))}, invalid},
		}},
		{"list positions name the old list", "DynamoDB's REMOVE l[0], l[2] names positions in the list before the update (so does every path of one update); dynalite shifts after each action in written order", []step{
			{req{op: "Update", table: tH, key: kA, update: "REMOVE l[0], l[2]", rv: types.ReturnValueUpdatedNew}, `{"Attributes":{"l":{"L":[{"N":"1"}]}}}`},
			{get(tH, kA), `"l":{"L":[{"N":"1"}]}`},
			{req{op: "Update", table: tH, key: kA, update: "SET l = :l", values: vals(":l", L(S("a"), S("b")))}, ok},
			{req{op: "Update", table: tH, key: kA, update: "REMOVE l[0] SET l[1] = :v", values: vals(":v", S("v")), rv: types.ReturnValueUpdatedNew}, `{"Attributes":{"l":{"L":[{"S":"v"}]}}}`},
			{req{op: "Update", table: tH, key: kA, update: "SET l[1] = :v REMOVE l[0]", values: vals(":v", S("w")), rv: types.ReturnValueAllNew}, `"l":{"L":[{"S":"w"}]}`},
		}},
		{"empty strings in index keys", "DynamoDB refuses an empty S or B for a secondary index key (it accepts them in other attributes); dynalite accepts them", []step{
			{req{op: "Put", table: tSG, item: it("PK", S("p"), "SK", S("s"), "GSI1PK", S(""))}, invalid},
			{req{op: "Put", table: tN, item: it("pk", S("p"), "sk", N("1"), "ls", S(""))}, invalid},
			{req{op: "Update", table: tN, key: kN1, update: "SET ls = :v", values: vals(":v", S(""))}, invalid},
			{req{op: "Put", table: tSG, item: it("PK", S("p"), "SK", S("s"), "other", S(""))}, ok},
		}},
		{"return values on condition check failure", "dynalite predates ReturnValuesOnConditionCheckFailure", []step{
			{req{op: "Update", table: tH, key: kC, update: "SET s = :v", cond: "s = :w", values: vals(":v", x, ":w", S("nope")), rvFail: true},
				`{"error":"ConditionalCheckFailedException","failedItem":{"b":{"B":"Ag=="},"id":{"S":"c"},"n":{"N":"10"},"s":{"S":"cherry"}}}`},
			{req{op: "Put", table: tH, item: it("id", S("c")), cond: "attribute_not_exists(id)", rvFail: true}, `"failedItem":{"b":`},
			{req{op: "Delete", table: tH, key: kC, cond: "n = :w", values: vals(":w", N("1")), rvFail: true}, `"failedItem":{"b":`},
			{req{op: "Delete", table: tH, key: kZ, cond: "attribute_exists(id)", rvFail: true}, ccf},
			{req{op: "Delete", table: tH, key: kC, cond: "n = :w", values: vals(":w", N("1"))}, ccf},
		}},
		{"return values a write does not offer", "DeleteItem and PutItem take only NONE and ALL_OLD; dynalite ignores the others", []step{
			{req{op: "Delete", table: tH, key: kB, rv: types.ReturnValueAllNew}, invalid},
			{req{op: "Put", table: tH, item: kB, rv: types.ReturnValueUpdatedOld}, invalid},
			{get(tH, kB), `"s":{"S":"banana"}`},
		}},
		{"local index fetches unprojected attributes", "a projection expression on a local index fetches attributes the index does not project from the table; dynalite leaves them out", []step{
			{req{op: "Query", table: tN, index: "byLs", kc: "pk = :p AND ls = :l", values: vals(":p", x, ":l", S("h")), proj: "y, x"},
				`"Items":[{"x":{"N":"-2.5"},"y":{"S":"y-2.5"}}]`},
			{req{op: "Query", table: tN, index: "byLs", kc: "pk = :p AND ls = :l", values: vals(":p", x, ":l", S("h"))},
				`"Items":[{"ls":{"S":"h"},"pk":{"S":"x"},"sk":{"N":"-2.5"},"x":{"N":"-2.5"}}]`},
			{req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", filter: "y = :y", values: vals(":p", x, ":y", S("y0"))},
				`"Items":[{"ls":{"S":"f"},"pk":{"S":"x"},"sk":{"N":"0"},"x":{"N":"0"}}]`},
		}},
		{"select and projection together", "with a ProjectionExpression, Select may only be SPECIFIC_ATTRIBUTES, and SPECIFIC_ATTRIBUTES needs one; dynalite accepts any mix", []step{
			{req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), proj: "y", sel: types.SelectCount}, invalid},
			{req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), proj: "y", sel: types.SelectAllAttributes}, invalid},
			{req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), sel: types.SelectSpecificAttributes}, invalid},
			{req{op: "Scan", table: tN, proj: "y", sel: types.SelectCount}, invalid},
		}},
		{"empty attribute name", "DynamoDB attribute names are at least one character long; dynalite stores an attribute named \"\"", []step{
			{req{op: "Put", table: tH, item: it("id", S("v"), "", S("empty name"))}, invalid},
			{req{op: "Update", table: tH, key: kA, update: "SET #a = :v", names: names("#a", ""), values: vals(":v", S("x"))}, invalid},
			{get(tH, it("id", S("v"))), `{"Item":null}`},
		}},
		{"consistent scan of a global index", "global indexes are eventually consistent: DynamoDB refuses ConsistentRead on them for Scan as for Query; dynalite only for Query", []step{
			{req{op: "Scan", table: tN, index: "byG", consistent: true}, invalid},
			{req{op: "Scan", table: tN, index: "byLs", consistent: true, sel: types.SelectCount}, `"Count":9`},
		}},
		{"strings order by UTF-8 bytes", "DynamoDB orders S keys by their UTF-8 bytes; dynalite by UTF-16 code units, which puts characters beyond U+FFFF before U+E000..U+FFFF", []step{
			{req{op: "BatchWrite", table: tSG, puts: []item{it("PK", S("u"), "SK", S("\U0001F600")), it("PK", S("u"), "SK", S("\uFFFD")), it("PK", S("u"), "SK", S("\uE000"))}}, `"Unprocessed":0`},
			{req{op: "Query", table: tSG, kc: "PK = :p", values: vals(":p", S("u")), proj: "SK"}, "\"Items\":[{\"SK\":{\"S\":\"\uE000\"}},{\"SK\":{\"S\":\"\uFFFD\"}},{\"SK\":{\"S\":\"\U0001F600\"}}]"},
			{req{op: "Query", table: tSG, kc: "PK = :p AND SK > :s", values: vals(":p", S("u"), ":s", S("\uFFFD")), proj: "SK"}, `"Count":1`},
		}},
		{"expression limits", "DynamoDB's documented limits: an expression of at most 4 KB, at most 300 operators and functions, at most 100 operands of IN; dynalite enforces none", []step{
			{cond(kA, "s = :a"+strings.Repeat(" ", 4090), vals(":a", S("apple"))), ok},
			{cond(kA, "s = :a"+strings.Repeat(" ", 4091), vals(":a", S("apple"))), invalid},
			{cond(kA, strings.Repeat("attribute_exists(s) AND ", 149)+"s = :a", vals(":a", S("apple"))), ok},
			{cond(kA, strings.Repeat("attribute_exists(s) AND ", 150)+"s = :a", vals(":a", S("apple"))), invalid},
			{withIn(100), ok},
			{withIn(101), invalid},
			{req{op: "Update", table: tH, key: kA, update: "SET s = :a" + strings.Repeat(" ", 4096), values: vals(":a", S("x"))}, invalid},
		}},
		{"deleted table is gone at once", "DynamoDB shows DELETING for a while; ddblocal deletes at once, so every later request finds no table", []step{
			{req{op: "DeleteTable", table: tH}, `{}`},
			{req{op: "DeleteTable", table: tH}, `{"error":"ResourceNotFoundException"}`},
			{req{op: "Describe", table: tH}, `{"error":"ResourceNotFoundException"}`},
			{req{op: "Put", table: tH, item: kA}, `{"error":"ResourceNotFoundException"}`},
			{req{op: "CreateTable", table: tH, create: hTable}, `"status":"CREATING"`},
			{req{op: "Describe", table: tH}, `"TableStatus":"ACTIVE"`},
			{req{op: "Scan", table: tH}, `"Count":0`},
		}},
		{"item size counts UTF-8 bytes", "DynamoDB sizes strings in UTF-8 bytes; dynalite in UTF-16 code units, so it lets a non-ASCII item grow past 400 KB", []step{
			{req{op: "Put", table: tH, item: it("id", S("u"), "v", S(strings.Repeat("é", 204798)))}, ok},
			{req{op: "Put", table: tH, item: it("id", S("u"), "v", S(strings.Repeat("é", 204799)))}, invalid},
		}},
		{"item count", "DescribeTable's ItemCount (DynamoDB refreshes it lazily; ddblocal keeps it exact)", []step{
			{req{op: "Describe", table: tH}, `"ItemCount":3`},
			{req{op: "Delete", table: tH, key: kA}, ok},
			{req{op: "Describe", table: tH}, `"ItemCount":2`},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resetClients(t, seed(), c)
			for i, s := range tc.steps {
				res, msg := do(ctx, c, s.r)
				if s.r.op == "Describe" {
					out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.r.table})
					if err == nil {
						res["ItemCount"] = *out.Table.ItemCount
						res["TableStatus"] = out.Table.TableStatus
					}
				}
				if got := canonJSON(res); !strings.Contains(got, s.want) {
					t.Errorf("step %d %s (%s):\n got %s %s\nwant it to contain %s", i, s.r, tc.why, got, msg, s.want)
				}
			}
		})
	}
}
