package ddblocal_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// seed is the data every conformance case starts from.
func seed() map[string][]item {
	var sg []item
	for i, s := range []string{"001", "002", "003", "004", "005"} {
		sg = append(sg, it("PK", S("run#1"), "SK", S("audit#"+s), "GSI1PK", S("st#ok"), "GSI1SK", S("t"+s), "kind", S([]string{"build", "test"}[i%2]), "n", N(s)))
	}
	sg = append(sg,
		it("PK", S("run#1"), "SK", S("meta"), "GSI1PK", S("st#bad"), "GSI1SK", S("t000"), "kind", S("meta")),
		it("PK", S("run#2"), "SK", S("meta"), "GSI1PK", S("st#ok"), "GSI1SK", S("t000"), "kind", S("meta"), "n", N("7")),
	)
	h := []item{
		it("id", S("a"), "s", S("apple"), "n", N("1.5"), "b", B("\x01\x02\x03"), "ss", SS("x", "y"), "ns", NS("1", "2"), "bs", BS("\x01", "\x02"),
			"l", L(S("x"), N("1"), M("c", S("deep"))), "m", M("a", M("b", L(N("0"), M("c", S("v"))))), "t", BOOL(true), "z", NULL(), "e", S(""), "cnt", N("0")),
		it("id", S("b"), "s", S("banana"), "n", N("-3"), "ss", SS("y"), "l", L(), "m", M()),
		it("id", S("c"), "s", S("cherry"), "n", N("10"), "b", B("\x02")),
	}
	var n []item
	for i, sk := range []string{"-2.5", "-1", "0", "1", "1.5", "2", "10", "100"} {
		v := it("pk", S("x"), "sk", N(sk), "ls", S(string(rune('h'-i))), "x", N(sk), "y", S("y"+sk))
		if i%3 != 2 {
			v["g"] = S("G")
			v["gn"] = N(string(rune('0' + i)))
		}
		n = append(n, v)
	}
	n = append(n, it("pk", S("y"), "sk", N("5"), "ls", S("a"), "g", S("H"), "gn", N("5")))
	return map[string][]item{tSG: sg, tH: h, tN: n}
}

var (
	kA  = it("id", S("a"))
	kB  = it("id", S("b"))
	kC  = it("id", S("c"))
	kZ  = it("id", S("zz"))
	kN1 = it("pk", S("x"), "sk", N("1"))
)

// get reads back an item after a write, so each case also compares the stored result.
func get(tbl string, key item) req { return req{op: "Get", table: tbl, key: key, consistent: true} }

// cond is a conditional delete-nothing probe: an UpdateItem whose condition is the
// expression under test and whose update is a no-op SET, so the outcome
// (ConditionalCheckFailedException or not) shows how the expression evaluated.
func cond(key item, expr string, values item, nm ...string) req {
	r := req{op: "Update", table: tH, key: key, cond: expr, update: "SET probe = :probe", values: item{":probe": N("1")}}
	for k, v := range values {
		r.values[k] = v
	}
	if len(nm) > 0 {
		r.names = names(nm...)
	}
	return r
}

// vals builds ExpressionAttributeValues.
func vals(kv ...any) item { return it(kv...) }

type confCase struct {
	name  string
	steps []req
}

func conditionCases() []confCase {
	c := []confCase{}
	add := func(name string, steps ...req) { c = append(c, confCase{name, steps}) }
	// Comparators on S, N and B, true and false, and across types (always false).
	for _, op := range []string{"=", "<>", "<", "<=", ">", ">="} {
		add("compare S "+op, cond(kA, "s "+op+" :v", vals(":v", S("apple"))), cond(kA, "s "+op+" :v", vals(":v", S("b"))), cond(kA, "s "+op+" :v", vals(":v", S("a"))))
		add("compare N "+op, cond(kA, "n "+op+" :v", vals(":v", N("1.5"))), cond(kA, "n "+op+" :v", vals(":v", N("2"))), cond(kA, "n "+op+" :v", vals(":v", N("-10"))))
		add("compare B "+op, cond(kA, "b "+op+" :v", vals(":v", B("\x01\x02\x03"))), cond(kA, "b "+op+" :v", vals(":v", B("\x02"))), cond(kA, "b "+op+" :v", vals(":v", B("\x01"))))
		add("compare mixed types "+op, cond(kA, "n "+op+" :v", vals(":v", S("1.5"))), cond(kA, "nosuch "+op+" :v", vals(":v", S("x"))))
		add("compare path to path "+op, cond(kA, "n "+op+" cnt", nil), cond(kA, "s "+op+" s", nil))
	}
	add("compare lists maps sets and bool",
		cond(kA, "ss = :v", vals(":v", SS("y", "x"))),
		cond(kA, "t = :v", vals(":v", BOOL(true))),
		cond(kA, "z = :v", vals(":v", NULL())),
	)
	add("between",
		cond(kA, "n BETWEEN :a AND :b", vals(":a", N("1"), ":b", N("2"))),
		cond(kA, "n BETWEEN :a AND :b", vals(":a", N("1.5"), ":b", N("1.5"))),
		cond(kA, "s BETWEEN :a AND :b", vals(":a", S("b"), ":b", S("c"))),
		cond(kA, "b BETWEEN :a AND :b", vals(":a", B("\x01"), ":b", B("\x02"))),
		cond(kA, "n BETWEEN :a AND :b", vals(":a", S("1"), ":b", S("2"))),
		cond(kA, "n BETWEEN :a AND :b", vals(":a", N("2"), ":b", N("1"))),
	)
	add("in",
		cond(kA, "s IN (:a, :b)", vals(":a", S("x"), ":b", S("apple"))),
		cond(kA, "s IN (:a)", vals(":a", S("x"))),
		cond(kA, "n IN (:a, :b)", vals(":a", N("1.50"), ":b", S("1.5"))),
		cond(kA, "nosuch IN (:a)", vals(":a", S("x"))),
	)
	add("and or not precedence",
		cond(kA, "s = :x OR s = :apple AND n = :zero", vals(":x", S("x"), ":apple", S("apple"), ":zero", N("0"))),
		cond(kA, "(s = :x OR s = :apple) AND n = :zero", vals(":x", S("x"), ":apple", S("apple"), ":zero", N("0"))),
		cond(kA, "NOT s = :x AND s = :apple", vals(":x", S("x"), ":apple", S("apple"))),
		cond(kA, "NOT (s = :apple AND n = :zero)", vals(":apple", S("apple"), ":zero", N("0"))),
		cond(kA, "NOT NOT s = :apple", vals(":apple", S("apple"))),
		cond(kA, "s = :apple and n > :zero or nosuch = :zero", vals(":apple", S("apple"), ":zero", N("0"))),
		cond(kA, "((s = :apple))", vals(":apple", S("apple"))),
	)
	add("attribute_exists and attribute_not_exists",
		cond(kA, "attribute_exists(s)", nil),
		cond(kA, "attribute_exists(nosuch)", nil),
		cond(kA, "attribute_not_exists(nosuch)", nil),
		cond(kA, "attribute_not_exists(id)", nil),
		cond(kZ, "attribute_not_exists(id)", nil),
		cond(kZ, "attribute_exists(id)", nil),
		cond(kA, "attribute_exists(m.a.b[1].c)", nil),
		cond(kA, "attribute_exists(m.a.b[2])", nil),
		cond(kA, "attribute_exists(l[0].c)", nil),
		cond(kA, "attribute_exists(e)", nil),
		cond(kA, "attribute_exists(:v)", vals(":v", S("x"))),
	)
	for _, typ := range []string{"S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"} {
		add("attribute_type "+typ,
			cond(kA, "attribute_type(s, :t) OR attribute_type(n, :t) OR attribute_type(b, :t)", vals(":t", S(typ))),
			cond(kA, "attribute_type(t, :t) OR attribute_type(z, :t) OR attribute_type(l, :t)", vals(":t", S(typ))),
			cond(kA, "attribute_type(m, :t) OR attribute_type(ss, :t) OR attribute_type(ns, :t) OR attribute_type(bs, :t)", vals(":t", S(typ))),
			cond(kA, "attribute_type(nosuch, :t)", vals(":t", S(typ))),
		)
	}
	add("attribute_type errors",
		cond(kA, "attribute_type(s, :t)", vals(":t", S("X"))),
		cond(kA, "attribute_type(s, :t)", vals(":t", N("1"))),
	)
	add("begins_with",
		cond(kA, "begins_with(s, :p)", vals(":p", S("app"))),
		cond(kA, "begins_with(s, :p)", vals(":p", S("apple"))),
		cond(kA, "begins_with(s, :p)", vals(":p", S("b"))),
		cond(kA, "begins_with(s, :p)", vals(":p", S(""))),
		cond(kA, "begins_with(b, :p)", vals(":p", B("\x01\x02"))),
		cond(kA, "begins_with(b, :p)", vals(":p", S("x"))),
		cond(kA, "begins_with(n, :p)", vals(":p", S("1"))),
		cond(kA, "begins_with(s, :p)", vals(":p", N("1"))),
		cond(kA, "begins_with(nosuch, :p)", vals(":p", S("a"))),
		cond(kA, "begins_with(m.a.b[1].c, :p)", vals(":p", S("v"))),
	)
	add("contains",
		cond(kA, "contains(s, :v)", vals(":v", S("ppl"))),
		cond(kA, "contains(s, :v)", vals(":v", S("q"))),
		cond(kA, "contains(b, :v)", vals(":v", B("\x02\x03"))),
		cond(kA, "contains(ss, :v)", vals(":v", S("x"))),
		cond(kA, "contains(ss, :v)", vals(":v", S("q"))),
		cond(kA, "contains(ns, :v)", vals(":v", N("2.0"))),
		cond(kA, "contains(ns, :v)", vals(":v", S("2"))),
		cond(kA, "contains(bs, :v)", vals(":v", B("\x02"))),
		cond(kA, "contains(l, :v)", vals(":v", S("x"))),
		cond(kA, "contains(l, :v)", vals(":v", N("1"))),
		cond(kA, "contains(l, :v)", vals(":v", S("y"))),
		cond(kA, "contains(n, :v)", vals(":v", N("1"))),
		cond(kA, "contains(nosuch, :v)", vals(":v", S("x"))),
		cond(kA, "contains(s, s)", nil),
	)
	add("size",
		cond(kA, "size(s) = :v", vals(":v", N("5"))),
		cond(kA, "size(b) = :v", vals(":v", N("3"))),
		cond(kA, "size(ss) = :v", vals(":v", N("2"))),
		cond(kA, "size(l) > :v", vals(":v", N("2"))),
		cond(kA, "size(m) = :v", vals(":v", N("1"))),
		cond(kA, "size(n) = :v", vals(":v", N("1"))),
		cond(kA, "size(nosuch) < :v", vals(":v", N("1"))),
		cond(kA, "size(m.a.b) = :v", vals(":v", N("2"))),
		cond(kA, "size(s) BETWEEN :a AND :b", vals(":a", N("1"), ":b", N("9"))),
		cond(kA, ":v = size(s)", vals(":v", N("5"))),
		cond(kA, "size(s) = size(s)", nil),
	)
	add("nested paths",
		cond(kA, "m.a.b[1].c = :v", vals(":v", S("v"))),
		cond(kA, "m.a.b[0] = :v", vals(":v", N("0"))),
		cond(kA, "l[2].c = :v", vals(":v", S("deep"))),
		cond(kA, "l[5] = :v", vals(":v", S("deep"))),
		cond(kA, "s[0] = :v", vals(":v", S("a"))),
		cond(kA, "m.a.b.c = :v", vals(":v", S("v"))),
		cond(kA, "#m.#a.b[1].#c = :v", vals(":v", S("v")), "#m", "m", "#a", "a", "#c", "c"),
		cond(kA, "#dot = :v", vals(":v", S("v")), "#dot", "m.a"),
	)
	add("placeholders",
		cond(kA, "#s = :v", vals(":v", S("apple")), "#s", "s"),
		cond(kA, "#s = :v", vals(":v", S("apple")), "#s", "s", "#unused", "n"),
		cond(kA, "s = :v", vals(":v", S("apple"), ":unused", S("x"))),
		cond(kA, "#undefined = :v", vals(":v", S("apple"))),
		cond(kA, "s = :undefined", nil),
		cond(kA, "#s = :v AND #s <> :w", vals(":v", S("apple"), ":w", S("x")), "#s", "s"),
	)
	add("reserved words",
		cond(kA, "missing = :v", vals(":v", S("x"))),
		cond(kA, "Status = :v", vals(":v", S("x"))),
		cond(kA, "m.#a.size = :v", vals(":v", S("x")), "#a", "a"),
		cond(kA, "#st = :v", vals(":v", S("x")), "#st", "status"),
		cond(kA, "size(data) > :v", vals(":v", N("1"))),
		req{op: "Update", table: tH, key: kA, update: "SET #n = :v, name2 = :v", names: names("#n", "name"), values: vals(":v", S("x"))},
		req{op: "Update", table: tH, key: kA, update: "SET name = :v", values: vals(":v", S("x"))},
		req{op: "Update", table: tH, key: kA, update: "REMOVE comment"},
		req{op: "Get", table: tH, key: kA, proj: "s, date"},
		req{op: "Query", table: tSG, kc: "PK = :p", filter: "kind = :k OR count > :n", values: vals(":p", S("run#1"), ":k", S("x"), ":n", N("1"))},
		req{op: "Scan", table: tH, filter: "attribute_exists(#k) AND attribute_not_exists(key)", names: names("#k", "s")},
	)
	add("syntax errors",
		cond(kA, "s = ", nil),
		cond(kA, "s == :v", vals(":v", S("x"))),
		cond(kA, "(s = :v", vals(":v", S("x"))),
		cond(kA, "s = :v)", vals(":v", S("x"))),
		cond(kA, "unknownfn(s)", nil),
		cond(kA, "s = :v AND", vals(":v", S("x"))),
		cond(kA, "size(s)", nil),
		cond(kA, "s", nil),
		cond(kA, "l[x] = :v", vals(":v", S("x"))),
		cond(kA, "s = :v $", vals(":v", S("x"))),
	)
	add("condition on a nosuch item",
		cond(kZ, "s = :v", vals(":v", S("x"))),
		cond(kZ, "s <> :v", vals(":v", S("x"))),
		cond(kZ, "NOT s = :v", vals(":v", S("x"))),
		get(tH, kZ),
	)
	return c
}

func updateCases() []confCase {
	c := []confCase{}
	add := func(name string, steps ...req) { c = append(c, confCase{name, steps}) }
	up := func(key item, expr string, values item, rv types.ReturnValue, nm ...string) req {
		r := req{op: "Update", table: tH, key: key, update: expr, values: values, rv: rv}
		if len(nm) > 0 {
			r.names = names(nm...)
		}
		return r
	}
	all := types.ReturnValueAllNew
	add("set arithmetic",
		up(kA, "SET n = n + :d", vals(":d", N("0.25")), all),
		up(kA, "SET n = n - :d", vals(":d", N("10")), all),
		up(kA, "SET n = :d - n", vals(":d", N("1")), all),
		up(kA, "SET cnt = cnt + :d", vals(":d", N("1E+2")), all),
		up(kA, "SET n = s + :d", vals(":d", N("1")), all),
		up(kA, "SET n = nosuch + :d", vals(":d", N("1")), all),
		up(kA, "SET n = n + :d", vals(":d", S("1")), all),
		up(kA, "SET x = :a + :b", vals(":a", N("0.1"), ":b", N("0.2")), all),
		get(tH, kA),
	)
	add("if_not_exists and list_append",
		up(kA, "SET c1 = if_not_exists(c1, :z) + :one", vals(":z", N("0"), ":one", N("1")), all),
		up(kA, "SET c1 = if_not_exists(c1, :z) + :one", vals(":z", N("0"), ":one", N("1")), all),
		up(kA, "SET s = if_not_exists(s, :z)", vals(":z", S("zzz")), all),
		up(kA, "SET l = list_append(l, :x)", vals(":x", L(S("end"))), all),
		up(kA, "SET l = list_append(:x, l)", vals(":x", L(S("start"))), all),
		up(kA, "SET nl = list_append(if_not_exists(nl, :e), :x)", vals(":e", L(), ":x", L(N("1"))), all),
		up(kA, "SET l = list_append(l, :x)", vals(":x", S("notalist")), all),
		up(kA, "SET l = list_append(s, :x)", vals(":x", L()), all),
		get(tH, kA),
	)
	add("nested set",
		up(kA, "SET m.a.b[1].c = :v", vals(":v", S("new")), all),
		up(kA, "SET m.a.q = :v", vals(":v", N("1")), all),
		up(kA, "SET m.a.b[9] = :v", vals(":v", S("appended")), all),
		up(kA, "SET l[0] = :v", vals(":v", S("first")), all),
		up(kA, "SET m.nope.x = :v", vals(":v", N("1")), all),
		up(kA, "SET s.x = :v", vals(":v", N("1")), all),
		up(kA, "SET s[0] = :v", vals(":v", N("1")), all),
		up(kA, "SET #m.#k = :v", vals(":v", N("2")), all, "#m", "m", "#k", "with.dot"),
		up(kZ, "SET a.b = :v", vals(":v", N("1")), all),
		get(tH, kA),
		get(tH, kZ),
	)
	add("set reads the old item",
		up(kA, "SET n = cnt, cnt = n", nil, all),
		up(kA, "SET x = n, n = :v", vals(":v", N("5")), all),
	)
	add("remove",
		up(kA, "REMOVE s, nosuch", nil, all),
		up(kA, "REMOVE l[1]", nil, all),
		up(kA, "REMOVE m.a.b[0]", nil, all),
		up(kA, "REMOVE l[10]", nil, all),
		up(kA, "REMOVE nope.x", nil, all),
		up(kA, "REMOVE m.a", nil, types.ReturnValueUpdatedOld),
		get(tH, kA),
	)
	add("add",
		up(kA, "ADD cnt :d", vals(":d", N("5")), all),
		up(kA, "ADD newn :d", vals(":d", N("-2.5")), all),
		up(kA, "ADD ss :d", vals(":d", SS("y", "z")), all),
		up(kA, "ADD ns :d", vals(":d", NS("3", "1.0")), all),
		up(kA, "ADD bs :d", vals(":d", BS("\x03")), all),
		up(kA, "ADD newss :d", vals(":d", SS("q")), all),
		up(kA, "ADD s :d", vals(":d", N("1")), all),
		up(kA, "ADD ss :d", vals(":d", NS("1")), all),
		up(kA, "ADD l :d", vals(":d", L(S("x"))), all),
		up(kA, "ADD m.a.cnt :d", vals(":d", N("1")), all),
		up(kZ, "ADD cnt :d", vals(":d", N("1")), all),
		get(tH, kA),
	)
	add("delete from sets",
		up(kA, "DELETE ss :d", vals(":d", SS("x")), all),
		up(kA, "DELETE ss :d", vals(":d", SS("y")), all),
		up(kA, "DELETE ns :d", vals(":d", NS("7")), all),
		up(kA, "DELETE nosuch :d", vals(":d", SS("x")), all),
		up(kA, "DELETE ns :d", vals(":d", SS("1")), all),
		up(kA, "DELETE n :d", vals(":d", N("1")), all),
		up(kA, "DELETE bs :d", vals(":d", BS("\x01", "\x02")), all),
		get(tH, kA),
	)
	add("multiple clauses",
		up(kA, "SET a1 = :v REMOVE s ADD cnt :one DELETE ss :x", vals(":v", N("1"), ":one", N("1"), ":x", SS("x")), all),
		up(kA, "REMOVE n SET a2 = :v", vals(":v", N("1")), all),
		up(kA, "SET a1 = :v SET a2 = :v", vals(":v", N("1")), all),
		up(kA, "SET a1 = :v, a1 = :v", vals(":v", N("1")), all),
		up(kA, "SET m.a = :v REMOVE m.a.b", vals(":v", N("1")), all),
		up(kA, "SET l[0] = :v, l[1] = :v", vals(":v", N("1")), all),
		up(kA, "set a3 = :v remove cnt", vals(":v", N("1")), all),
		up(kA, "", nil, all),
		up(kA, "SET", nil, all),
		up(kA, "SET a = size(s)", nil, all),
	)
	add("update key attribute",
		up(kA, "SET id = :v", vals(":v", S("b")), all),
		up(kA, "REMOVE id", nil, all),
		req{op: "Update", table: tN, key: kN1, update: "SET sk = :v", values: vals(":v", N("2"))},
		req{op: "Update", table: tN, key: kN1, update: "SET g = :v", values: vals(":v", N("2"))},
		req{op: "Update", table: tN, key: kN1, update: "SET g = :v, gn = :n", values: vals(":v", S("G"), ":n", N("42")), rv: types.ReturnValueUpdatedNew},
		req{op: "Query", table: tN, index: "byG", kc: "g = :g", values: vals(":g", S("G"))},
	)
	for _, rv := range []types.ReturnValue{types.ReturnValueNone, types.ReturnValueAllOld, types.ReturnValueAllNew, types.ReturnValueUpdatedOld, types.ReturnValueUpdatedNew} {
		add("return values "+string(rv),
			up(kA, "SET s = :v, m.a.b[1].c = :v, fresh = :v REMOVE n ADD cnt :one", vals(":v", S("new"), ":one", N("1")), rv),
			up(kZ, "SET s = :v", vals(":v", S("new")), rv),
			up(kB, "REMOVE s", nil, rv),
			up(kC, "SET s = s", nil, rv),
		)
	}
	add("update without expression creates the item",
		req{op: "Update", table: tH, key: it("id", S("new")), rv: types.ReturnValueAllNew},
		get(tH, it("id", S("new"))),
	)
	add("update with condition and return values on failure",
		req{op: "Update", table: tH, key: kA, update: "SET s = :v", cond: "s = :w", values: vals(":v", S("x"), ":w", S("nope")), rvFail: true},
		req{op: "Update", table: tH, key: kA, update: "SET s = :v", cond: "s = :w", values: vals(":v", S("x"), ":w", S("apple")), rv: types.ReturnValueUpdatedOld},
		req{op: "Update", table: tH, key: kZ, update: "SET s = :v", cond: "attribute_exists(id)", values: vals(":v", S("x")), rvFail: true},
		get(tH, kZ),
	)
	return c
}

func itemCases() []confCase {
	c := []confCase{}
	add := func(name string, steps ...req) { c = append(c, confCase{name, steps}) }
	put := func(m item, cnd string, values item, rv types.ReturnValue) req {
		return req{op: "Put", table: tH, item: m, cond: cnd, values: values, rv: rv}
	}
	add("put with conditions and return values",
		put(it("id", S("a"), "v", N("1")), "attribute_not_exists(id)", nil, ""),
		put(it("id", S("a"), "v", N("1")), "attribute_exists(id)", nil, types.ReturnValueAllOld),
		put(it("id", S("a"), "v", N("2")), "v = :one", vals(":one", N("1")), types.ReturnValueAllOld),
		put(it("id", S("zz"), "v", N("2")), "attribute_not_exists(id)", nil, types.ReturnValueAllOld),
		put(it("id", S("zz"), "v", N("3")), "", nil, types.ReturnValueAllNew),
		put(it("id", S("zz"), "v", N("3")), "", nil, types.ReturnValueUpdatedOld),
		req{op: "Put", table: tH, item: it("id", S("zz")), cond: "v = :x", values: vals(":x", N("0")), rvFail: true},
		get(tH, kZ),
	)
	add("delete with conditions and return values",
		req{op: "Delete", table: tH, key: kA, cond: "s = :x", values: vals(":x", S("nope")), rvFail: true},
		req{op: "Delete", table: tH, key: kA, cond: "s = :x", values: vals(":x", S("apple")), rv: types.ReturnValueAllOld},
		req{op: "Delete", table: tH, key: kA, rv: types.ReturnValueAllOld},
		req{op: "Delete", table: tH, key: kA, cond: "attribute_exists(id)"},
		req{op: "Delete", table: tH, key: it("id", S("b"), "s", S("banana"))},
		get(tH, kA),
		req{op: "Describe", table: tH},
	)
	numbers := []string{"1.50", "-0", "0.0", "00012", "1e3", "1E-3", "-1.2300e+2", ".5", "5.", "+7",
		"12345678901234567890123456789012345678", "123456789012345678901234567890123456789", "1234567890123456789012345678901234567800000",
		"9.9999999999999999999999999999999999999E+125", "1E+126", "1E-130", "1E-131", "-1E-130", "0.000000000000000000000000000000000000001234",
		"abc", "", "1e", "--1", "1.2.3", " 1", "Infinity", "NaN", "0x10"}
	for _, n := range numbers {
		add("number "+n,
			put(it("id", S("num"), "v", N(n)), "", nil, ""),
			get(tH, it("id", S("num"))),
			put(it("id", S("num"), "v", NS(n, "1")), "", nil, ""),
			get(tH, it("id", S("num"))),
		)
	}
	add("number key normalization",
		req{op: "Put", table: tN, item: it("pk", S("q"), "sk", N("1.50"))},
		req{op: "Get", table: tN, key: it("pk", S("q"), "sk", N("1.5000"))},
		req{op: "Put", table: tN, item: it("pk", S("q"), "sk", N("-0"))},
		req{op: "Get", table: tN, key: it("pk", S("q"), "sk", N("0"))},
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", S("q"))},
	)
	add("empty strings and sets",
		put(it("id", S("e"), "s", S(""), "b", B(""), "l", L(S("")), "m", M("k", S(""))), "", nil, ""),
		get(tH, it("id", S("e"))),
		put(it("id", S("")), "", nil, ""),
		put(it("id", S("e"), "ss", SS()), "", nil, ""),
		put(it("id", S("e"), "ss", SS("a", "a")), "", nil, ""),
		put(it("id", S("e"), "ss", SS("")), "", nil, ""),
		req{op: "Get", table: tH, key: it("id", S(""))},
		req{op: "Put", table: tSG, item: it("PK", S("p"), "SK", S(""))},
	)
	add("key errors",
		req{op: "Put", table: tH, item: it("id", N("1"))},
		req{op: "Put", table: tH, item: it("other", S("1"))},
		req{op: "Put", table: tN, item: it("pk", S("p"))},
		req{op: "Put", table: tN, item: it("pk", S("p"), "sk", S("1"))},
		req{op: "Put", table: tSG, item: it("PK", S("p"), "SK", S("s"), "GSI1PK", N("1"), "GSI1SK", S("x"))},
		req{op: "Put", table: tSG, item: it("PK", S("p"), "SK", S("s"), "GSI2SK", BOOL(true))},
		req{op: "Put", table: tN, item: it("pk", S("p"), "sk", N("1"), "gn", S("1"))},
		req{op: "Get", table: tH, key: it("id", S("a"), "x", S("b"))},
		req{op: "Get", table: tN, key: it("pk", S("x"))},
		req{op: "Get", table: tN, key: it("pk", S("x"), "sk", S("1"))},
		req{op: "Delete", table: tN, key: it("pk", S("x"), "other", N("1"))},
		req{op: "Update", table: tN, key: it("pk", S("x")), update: "SET a = :v", values: vals(":v", N("1"))},
	)
	add("nosuch table",
		req{op: "Put", table: "nope", item: it("id", S("a"))},
		req{op: "Get", table: "nope", key: kA},
		req{op: "Update", table: "nope", key: kA, update: "SET a = :v", values: vals(":v", N("1"))},
		req{op: "Delete", table: "nope", key: kA},
		req{op: "Query", table: "nope", kc: "id = :v", values: vals(":v", S("a"))},
		req{op: "Scan", table: "nope"},
		req{op: "Describe", table: "nope"},
		req{op: "BatchGet", table: "nope", keys: []item{kA}},
		req{op: "BatchWrite", table: "nope", puts: []item{kA}},
	)
	add("get projection",
		req{op: "Get", table: tH, key: kA, proj: "s, n, m.a.b[1].c, l[2], l[0]"},
		req{op: "Get", table: tH, key: kA, proj: "#s, nosuch, m.a.b[5]", names: names("#s", "s")},
		req{op: "Get", table: tH, key: kA, proj: "m.a, m.a.b"},
		req{op: "Get", table: tH, key: kA, proj: "s, s"},
		req{op: "Get", table: tH, key: kA, proj: "#s", names: names("#s", "s", "#n", "n")},
		req{op: "Get", table: tH, key: kA, proj: "l[1], l[0]"},
		req{op: "Get", table: tH, key: kA, proj: "m.a.b[1]"},
		req{op: "Get", table: tH, key: kA, proj: "s[0]"},
	)
	add("batch write and get",
		req{op: "BatchWrite", table: tH, puts: []item{it("id", S("b1"), "v", N("1")), it("id", S("b2"), "v", SS("x"))}, dels: []item{kA, kZ}},
		req{op: "BatchGet", table: tH, keys: []item{it("id", S("b1")), it("id", S("b2")), kA, kB}},
		req{op: "BatchGet", table: tH, keys: []item{it("id", S("b1")), kB}, proj: "#v", names: names("#v", "v")},
		req{op: "BatchWrite", table: tH, puts: []item{it("id", S("d")), it("id", S("d"))}},
		req{op: "BatchWrite", table: tH, puts: []item{it("id", S("d"))}, dels: []item{it("id", S("d"))}},
		req{op: "BatchWrite", table: tH, puts: []item{it("id", N("1"))}},
		req{op: "BatchWrite", table: tH, dels: []item{it("id", S("d"), "x", S("y"))}},
		req{op: "BatchGet", table: tH, keys: []item{kB, kB}},
		req{op: "BatchGet", table: tH, keys: []item{it("id", N("1"))}},
		req{op: "Scan", table: tH},
	)
	return c
}

func queryCases() []confCase {
	c := []confCase{}
	add := func(name string, steps ...req) { c = append(c, confCase{name, steps}) }
	qn := func(kc string, values item) req {
		return req{op: "Query", table: tN, kc: kc, values: values, pages: true}
	}
	x := S("x")
	keyConds := []struct {
		kc     string
		values item
	}{
		{"pk = :p", vals(":p", x)},
		{"pk = :p AND sk = :a", vals(":p", x, ":a", N("1.5"))},
		{"pk = :p AND sk < :a", vals(":p", x, ":a", N("1.5"))},
		{"pk = :p AND sk <= :a", vals(":p", x, ":a", N("1.5"))},
		{"pk = :p AND sk > :a", vals(":p", x, ":a", N("-1"))},
		{"pk = :p AND sk >= :a", vals(":p", x, ":a", N("-1"))},
		{"pk = :p AND sk BETWEEN :a AND :b", vals(":p", x, ":a", N("-1"), ":b", N("10"))},
		{"sk BETWEEN :a AND :b AND pk = :p", vals(":p", x, ":a", N("-100"), ":b", N("0"))},
		{"(pk = :p) AND (sk > :a)", vals(":p", x, ":a", N("0"))},
		{"pk = :p AND sk > :a", vals(":p", x, ":a", N("1000"))},
		{"pk = :p", vals(":p", S("nobody"))},
	}
	for _, k := range keyConds {
		for _, back := range []bool{false, true} {
			for _, limit := range []int32{0, 1, 3} {
				r := qn(k.kc, k.values)
				r.back, r.limit = back, limit
				add("query "+k.kc+" "+strings.Repeat("desc ", b2i(back))+"limit "+string(rune('0'+limit)), r)
			}
		}
	}
	q := func(kc string, values item) req {
		return req{op: "Query", table: tSG, kc: kc, values: values, pages: true}
	}
	r1 := S("run#1")
	sgConds := []struct {
		kc     string
		values item
	}{
		{"PK = :p AND begins_with(SK, :s)", vals(":p", r1, ":s", S("audit#"))},
		{"PK = :p AND begins_with(SK, :s)", vals(":p", r1, ":s", S("audit#00"))},
		{"PK = :p AND begins_with(SK, :s)", vals(":p", r1, ":s", S("zzz"))},
		{"PK = :p AND SK < :s", vals(":p", r1, ":s", S("audit#003"))},
		{"PK = :p AND SK BETWEEN :a AND :b", vals(":p", r1, ":a", S("audit#002"), ":b", S("audit#004"))},
		{"PK = :p AND SK >= :s", vals(":p", r1, ":s", S("audit#003"))},
	}
	for _, k := range sgConds {
		for _, back := range []bool{false, true} {
			for _, limit := range []int32{0, 2} {
				r := q(k.kc, k.values)
				r.back, r.limit = back, limit
				add("sg query "+k.kc+" "+canonJSON(itemJSON(k.values))+strings.Repeat(" desc", b2i(back))+" limit "+string(rune('0'+limit)), r)
			}
		}
	}
	gsi := func(kc string, values item, limit int32, back bool) req {
		return req{op: "Query", table: tSG, index: "GSI1", kc: kc, values: values, limit: limit, back: back, pages: true}
	}
	add("gsi queries",
		gsi("GSI1PK = :g", vals(":g", S("st#ok")), 0, false),
		gsi("GSI1PK = :g", vals(":g", S("st#ok")), 2, false),
		gsi("GSI1PK = :g", vals(":g", S("st#ok")), 2, true),
		gsi("GSI1PK = :g AND GSI1SK > :s", vals(":g", S("st#ok"), ":s", S("t002")), 1, true),
		gsi("GSI1PK = :g AND begins_with(GSI1SK, :s)", vals(":g", S("st#ok"), ":s", S("t00")), 1, false),
		gsi("GSI1PK = :g", vals(":g", S("st#bad")), 0, false),
		gsi("GSI1PK = :g", vals(":g", S("st#none")), 0, false),
		req{op: "Query", table: tN, index: "byG", kc: "g = :g AND gn BETWEEN :a AND :b", values: vals(":g", S("G"), ":a", N("1"), ":b", N("6")), limit: 2, pages: true},
		req{op: "Query", table: tN, index: "byG", kc: "g = :g", values: vals(":g", S("G")), limit: 2, back: true, pages: true},
		req{op: "Query", table: tN, index: "byG", kc: "g = :g", values: vals(":g", S("G")), consistent: true},
	)
	add("lsi queries and projections",
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", values: vals(":p", x), limit: 3, pages: true},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p AND ls > :l", values: vals(":p", x, ":l", S("c")), back: true},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p AND begins_with(ls, :l)", values: vals(":p", x, ":l", S("d"))},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", values: vals(":p", x), sel: types.SelectAllProjectedAttributes},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", values: vals(":p", x), sel: types.SelectAllAttributes, limit: 2},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", values: vals(":p", x), proj: "x, sk"},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", values: vals(":p", x), filter: "y = :y", limit: 4},
		req{op: "Query", table: tN, index: "byLs", kc: "pk = :p", values: vals(":p", x), consistent: true, limit: 1},
		req{op: "Query", table: tN, index: "nope", kc: "pk = :p", values: vals(":p", x)},
		req{op: "Scan", table: tN, index: "byLs", limit: 4, pages: true},
		req{op: "Scan", table: tN, index: "byG", pages: true},
	)
	add("filter with limit and select",
		req{op: "Query", table: tN, kc: "pk = :p", filter: "x > :z", values: vals(":p", x, ":z", N("0")), limit: 3, pages: true},
		req{op: "Query", table: tN, kc: "pk = :p", filter: "x > :z", values: vals(":p", x, ":z", N("0")), limit: 3, back: true, pages: true},
		req{op: "Query", table: tN, kc: "pk = :p", filter: "attribute_exists(g)", values: vals(":p", x), sel: types.SelectCount},
		req{op: "Query", table: tN, kc: "pk = :p", filter: "attribute_exists(g)", values: vals(":p", x), sel: types.SelectCount, limit: 4, pages: true},
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), proj: "#y, sk", names: names("#y", "y"), limit: 5, pages: true},
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), proj: "y", sel: types.SelectSpecificAttributes},
		req{op: "Query", table: tN, kc: "pk = :p", filter: "sk > :z", values: vals(":p", x, ":z", N("0"))},
		req{op: "Query", table: tN, kc: "pk = :p", filter: "pk = :p", values: vals(":p", x)},
		req{op: "Query", table: tN, index: "byG", kc: "g = :g", filter: "sk > :z", values: vals(":g", S("G"), ":z", N("0"))},
	)
	add("query key condition errors",
		qn("sk = :a", vals(":a", N("1"))),
		qn("pk = :p OR sk = :a", vals(":p", x, ":a", N("1"))),
		qn("pk = :p AND sk <> :a", vals(":p", x, ":a", N("1"))),
		qn("pk = :p AND begins_with(sk, :a)", vals(":p", x, ":a", N("1"))),
		qn("pk = :p AND sk = :a AND sk = :b", vals(":p", x, ":a", N("1"), ":b", N("2"))),
		qn("pk = :p AND sk = :a", vals(":p", x, ":a", S("1"))),
		qn("pk = :p", vals(":p", N("1"))),
		qn("pk = :p AND y = :a", vals(":p", x, ":a", S("1"))),
		qn("pk > :p", vals(":p", x)),
		qn("pk = :p AND sk BETWEEN :a AND :b", vals(":p", x, ":a", N("2"), ":b", N("1"))),
		qn("pk = :p AND attribute_exists(sk)", vals(":p", x)),
		qn("pk = :p AND sk IN (:a)", vals(":p", x, ":a", N("1"))),
		qn("pk = :p AND NOT sk = :a", vals(":p", x, ":a", N("1"))),
		qn(":p = pk", vals(":p", x)),
		qn("pk = :p", vals(":p", x, ":q", x)),
		qn("pk = pk", nil),
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), esk: it("pk", x)},
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), esk: it("pk", x, "sk", N("1"), "zz", N("1"))},
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), esk: it("pk", x, "sk", N("1"))},
		req{op: "Query", table: tN, kc: "pk = :p", values: vals(":p", x), esk: it("pk", S("other"), "sk", N("1"))},
	)
	add("scan",
		req{op: "Scan", table: tN, pages: true},
		req{op: "Scan", table: tN, limit: 3, pages: true},
		req{op: "Scan", table: tN, limit: 2, filter: "x >= :z", values: vals(":z", N("1")), pages: true},
		req{op: "Scan", table: tN, sel: types.SelectCount, filter: "attribute_exists(g)"},
		req{op: "Scan", table: tSG, proj: "SK, kind", filter: "kind = :k", values: vals(":k", S("build"))},
		req{op: "Scan", table: tSG, index: "GSI1", limit: 2, pages: true},
		req{op: "Scan", table: tSG, index: "GSI2"},
		req{op: "Scan", table: tH, filter: "pk = :p", values: vals(":p", x)},
		req{op: "Scan", table: tH, filter: "contains(ss, :v)", values: vals(":v", S("y"))},
		req{op: "Scan", table: tH, filter: "s = :v"},
		req{op: "Scan", table: tH, names: names("#a", "a")},
	)
	return c
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestConformance(t *testing.T) {
	startPair(t).runGroups(t, []confGroup{{"condition", conditionCases()}, {"update", updateCases()}, {"item", itemCases()}, {"query", queryCases()}})
}

// confGroup is a named list of cases, a subtest each.
type confGroup struct {
	name  string
	cases []confCase
}

// runGroups runs every case from the seeded tables on both servers, comparing each
// step's answer and then every table's contents.
func (p *pair) runGroups(t *testing.T, groups []confGroup) {
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					p.reset(t, seed())
					for i, r := range c.steps {
						p.compare(t, i, r)
					}
					// The stored data must agree too.
					for _, tbl := range []string{tSG, tH, tN} {
						p.compare(t, len(c.steps), req{op: "Scan", table: tbl})
					}
				})
			}
		})
	}
}
