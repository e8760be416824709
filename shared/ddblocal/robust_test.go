package ddblocal_test

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/ddblocal"
)

// Garbage in, a DynamoDB error out: thousands of random expressions (token soup around
// real paths and values) and mangled request bodies must each get a response or a
// client error, never a failure of the server (a panic would show as
// InternalServerError, or crash the test).
func TestRandomInputNeverBreaksTheServer(t *testing.T) {
	s, err := ddblocal.Open(ddblocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(op, body string) {
		t.Helper()
		if _, err := s.Do(op, []byte(body)); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	must("CreateTable", `{"TableName":"rob","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"},
		{"AttributeName":"g","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],
		"GlobalSecondaryIndexes":[{"IndexName":"byG","KeySchema":[{"AttributeName":"g","KeyType":"HASH"}],"Projection":{"ProjectionType":"KEYS_ONLY"}}]}`)
	must("PutItem", `{"TableName":"rob","Item":{"pk":{"S":"a"},"sk":{"N":"1"},"g":{"S":"x"},"s":{"S":"str"},"n":{"N":"2"},"l":{"L":[{"N":"1"},{"M":{"c":{"S":"v"}}}]},
		"m":{"M":{"a":{"M":{"b":{"L":[{"S":"x"},{"M":{"c":{"N":"3"}}}]}}}}},"ss":{"SS":["p","q"]},"e":{"L":[]}}}`)
	r := rand.New(rand.NewSource(7))
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tokens := []string{"s", "n", "l", "m", "ss", "e", "pk", "sk", "g", "l[0]", "l[1].c", "m.a.b[1].c", "m.a", "l[99]", "#n", "#bad", ":s", ":n", ":l", ":m", ":ss",
		":e", ":bad", "AND", "OR", "NOT", "BETWEEN", "IN", "(", ")", ",", "=", "<>", "<", "<=", ">", ">=", "+", "-", "[", "]", ".", "size(", "attribute_exists(",
		"contains(", "begins_with(", "attribute_type(", "if_not_exists(", "list_append(", "SET", "REMOVE", "ADD", "DELETE", "0", "1"}
	soup := func() string {
		n := 1 + r.Intn(12)
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(tokens[r.Intn(len(tokens))])
			if r.Intn(3) > 0 {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	paths := []string{"s", "n", "l", "m", "ss", "e", "g", "l[0]", "l[1].c", "m.a.b[1].c", "m.a", "l[99]", "#n", "nosuch.x"}
	vals := []string{":s", ":n", ":l", ":m", ":ss", ":e"}
	pick := func(l []string) string { return l[r.Intn(len(l))] }
	operand := func() string {
		switch r.Intn(4) {
		case 0:
			return pick(vals)
		case 1:
			return "size(" + pick(paths) + ")"
		default:
			return pick(paths)
		}
	}
	var grammar func(depth int) string
	grammar = func(depth int) string {
		switch k := r.Intn(9); {
		case depth < 3 && k == 0:
			return grammar(depth+1) + " AND " + grammar(depth+1)
		case depth < 3 && k == 1:
			return "(" + grammar(depth+1) + " OR " + grammar(depth+1) + ")"
		case depth < 3 && k == 2:
			return "NOT " + grammar(depth+1)
		case k == 3:
			return operand() + " BETWEEN " + operand() + " AND " + operand()
		case k == 4:
			return operand() + " IN (" + operand() + ", " + operand() + ")"
		case k == 5:
			return pick([]string{"attribute_exists", "attribute_not_exists"}) + "(" + pick(paths) + ")"
		case k == 6:
			return pick([]string{"begins_with", "contains", "attribute_type"}) + "(" + operand() + ", " + operand() + ")"
		default:
			return operand() + " " + pick([]string{"=", "<>", "<", "<=", ">", ">="}) + " " + operand()
		}
	}
	update := func() string {
		var parts []string
		for _, clause := range []string{"SET", "REMOVE", "ADD", "DELETE"} {
			if r.Intn(2) == 0 {
				continue
			}
			switch clause {
			case "SET":
				parts = append(parts, "SET "+pick(paths)+" = "+pick([]string{operand(), pick(paths) + " + " + pick(vals),
					"if_not_exists(" + pick(paths) + ", " + pick(vals) + ")", "list_append(" + operand() + ", " + operand() + ")"}))
			case "REMOVE":
				parts = append(parts, "REMOVE "+pick(paths))
			default:
				parts = append(parts, clause+" "+pick(paths)+" "+pick(vals))
			}
		}
		if len(parts) == 0 {
			return "REMOVE " + pick(paths)
		}
		return strings.Join(parts, " ")
	}
	expr := func(structured func() string) string {
		if r.Intn(3) > 0 {
			return structured()
		}
		return soup()
	}
	all := map[string]string{":s": `{"S":"str"}`, ":n": `{"N":"2"}`, ":l": `{"L":[{"N":"7"}]}`, ":m": `{"M":{}}`, ":ss": `{"SS":["q"]}`, ":e": `{"S":""}`, ":bad": `{"N":"x"}`}
	// placeholders defines just the placeholders the expressions use (DynamoDB refuses
	// unused ones, which would stop every request before evaluation).
	placeholders := func(exprs ...string) string {
		joined := strings.Join(exprs, " ")
		var v []string
		for k, av := range all {
			if strings.Contains(joined, k+" ") || strings.HasSuffix(joined, k) || strings.Contains(joined, k+")") || strings.Contains(joined, k+",") {
				v = append(v, q(k)+":"+av)
			}
		}
		out := ""
		if len(v) > 0 {
			out = `,"ExpressionAttributeValues":{` + strings.Join(v, ",") + `}`
		}
		if strings.Contains(joined, "#n") {
			out += `,"ExpressionAttributeNames":{"#n":"n"}`
		}
		return out
	}
	key := `"Key":{"pk":{"S":"a"},"sk":{"N":"1"}}`
	var bodies []struct{ op, body string }
	for i := 0; i < 3000; i++ {
		var op, body string
		switch r.Intn(6) {
		case 0:
			u := expr(update)
			op, body = "UpdateItem", `{"TableName":"rob",`+key+`,"UpdateExpression":`+q(u)+placeholders(u)+`,"ReturnValues":"UPDATED_NEW"}`
		case 1:
			c := expr(func() string { return grammar(0) })
			op, body = "UpdateItem", `{"TableName":"rob",`+key+`,"UpdateExpression":"SET z = :n","ConditionExpression":`+q(c)+placeholders(c, ":n")+`}`
		case 2:
			kc := expr(func() string {
				return "pk = :s AND " + pick([]string{"sk", "n"}) + " " + pick([]string{"=", "<", ">=", "BETWEEN :n AND"}) + " " + pick(vals)
			})
			f := expr(func() string { return grammar(0) })
			op, body = "Query", `{"TableName":"rob","KeyConditionExpression":`+q(kc)+`,"FilterExpression":`+q(f)+placeholders(kc, f)+`,"Limit":2}`
		case 3:
			f := expr(func() string { return grammar(0) })
			p := expr(func() string { return pick(paths) + ", " + pick(paths) })
			op, body = "Scan", `{"TableName":"rob","IndexName":"byG","FilterExpression":`+q(f)+`,"ProjectionExpression":`+q(p)+placeholders(f, p)+`}`
		case 4:
			p := expr(func() string { return pick(paths) + ", " + pick(paths) })
			op, body = "GetItem", `{"TableName":"rob",`+key+`,"ProjectionExpression":`+q(p)+placeholders(p)+`}`
		default:
			c := expr(func() string { return grammar(0) })
			op, body = "DeleteItem", `{"TableName":"rob",`+key+`,"ConditionExpression":`+q(c)+placeholders(c)+`}`
			if r.Intn(2) == 0 {
				op, body = "PutItem", `{"TableName":"rob","Item":{"pk":{"S":"a"},"sk":{"N":"1"},"l":{"L":[{"N":"1"},{"M":{"c":{"S":"v"}}}]},"m":{"M":{"a":{"M":{"b":{"L":[{"S":"x"}]}}}}}},"ConditionExpression":`+q(c)+placeholders(c)+`}`
			}
		}
		bodies = append(bodies, struct{ op, body string }{op, body})
		// The same request mangled: a byte dropped, doubled or changed.
		b := []byte(body)
		j := r.Intn(len(b))
		switch r.Intn(3) {
		case 0:
			b = append(b[:j:j], b[j+1:]...)
		case 1:
			b = append(b[:j+1:j+1], b[j:]...)
		default:
			const junk = "{}[]\":,0aS\\"
			b[j] = junk[r.Intn(len(junk))]
		}
		bodies = append(bodies, struct{ op, body string }{op, string(b)})
	}
	accepted := 0
	for _, c := range bodies {
		_, err := s.Do(c.op, []byte(c.body))
		if err == nil {
			accepted++
			continue
		}
		if strings.HasPrefix(err.Error(), "InternalServerError") {
			t.Fatalf("%s %s: %v", c.op, c.body, err)
		}
	}
	// Some of the soup is valid: the test also walks the evaluation paths.
	if accepted < 100 {
		t.Errorf("only %d of %d random requests were accepted; the generator no longer reaches evaluation", accepted, len(bodies))
	}
	t.Logf("%d of %d random requests accepted", accepted, len(bodies))
}
