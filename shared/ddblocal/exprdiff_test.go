package ddblocal_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestRandomExpressionsDifferential sends the same random expressions (built from a
// grammar, and some token soup for the parsers) as raw DynamoDB JSON to dynalite and
// ddblocal and compares the answers: error codes, and otherwise the canonical response.
// Updates change the one item, so conditions later see what earlier updates left. The
// generator stays clear of the places where dynalite departs from DynamoDB (documents
// compared by value, ordering of non-scalars, the empty string, several list positions
// in one update), which TestBeyondDynalite covers.
func TestRandomExpressionsDifferential(t *testing.T) {
	p := startPair(t)
	send := func(url, op, body string) (string, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		// dynalite wants the shape of a signature, not a valid one.
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0")
		req.Header.Set("X-Amz-Date", "20200101T000000Z")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s to %s: %v", op, body, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return canonResponse(t, resp.StatusCode, b)
	}
	both := func(i int, op, body string) {
		t.Helper()
		want, wmsg := send(p.dynURL, op, body)
		got, gmsg := send(p.locURL, op, body)
		if got != want {
			t.Fatalf("request %d %s %s:\n got (ddblocal) %s %s\nwant (dynalite) %s %s", i, op, body, got, gmsg, want, wmsg)
		}
	}
	const item = `{"pk":{"S":"x"},"sk":{"N":"7"},"g":{"S":"G"},"gn":{"N":"1"},"s":{"S":"str"},"n":{"N":"2"},"l":{"L":[{"N":"1"},{"M":{"c":{"S":"v"}}}]},` +
		`"m":{"M":{"a":{"M":{"b":{"L":[{"S":"x"},{"M":{"c":{"N":"3"}}}]}}}}},"ss":{"SS":["p","q"]},"e":{"L":[]}}`
	for _, seed := range []int64{11, 12} {
		r := rand.New(rand.NewSource(seed))
		g := &exprGen{r: r}
		for i := 0; i < 1500; i++ {
			if i%300 == 0 {
				both(i, "PutItem", `{"TableName":"nnn","Item":`+item+`}`)
			}
			op, body := g.request()
			both(i, op, body)
		}
	}
}

// canonResponse is the error code (and message, not compared) or the response with
// ConsumedCapacity left out and set members sorted.
func canonResponse(t *testing.T, status int, b []byte) (string, string) {
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	if typ, ok := v["__type"].(string); ok {
		msg, _ := v["message"].(string)
		if msg == "" {
			msg, _ = v["Message"].(string)
		}
		return "error " + typ[strings.LastIndex(typ, "#")+1:], msg
	}
	delete(v, "ConsumedCapacity")
	var sortSets func(any)
	sortSets = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				if l, ok := e.([]any); ok && (k == "SS" || k == "NS" || k == "BS") {
					sort.Slice(l, func(i, j int) bool { return fmt.Sprint(l[i]) < fmt.Sprint(l[j]) })
				}
				sortSets(e)
			}
		case []any:
			for _, e := range x {
				sortSets(e)
			}
		}
	}
	sortSets(v)
	out, _ := json.Marshal(v)
	return fmt.Sprintf("%d %s", status, out), ""
}

type exprGen struct {
	r    *rand.Rand
	used map[string]bool
}

var (
	scalarPaths = []string{"s", "n", "g", "l[0]", "l[1].c", "m.a.b[0]", "m.a.b[1].c", "l[99]", "#n", "nosuch.x", "m.nosuch"}
	docPaths    = []string{"l", "m", "m.a", "m.a.b", "e", "ss"}
	scalarVals  = []string{":s", ":n", ":p", ":z"}
	allValues   = map[string]string{":s": `{"S":"str"}`, ":n": `{"N":"2"}`, ":p": `{"S":"s"}`, ":z": `{"N":"-1.5"}`, ":ss": `{"SS":["q","r"]}`,
		":l": `{"L":[{"N":"7"}]}`, ":m": `{"M":{"c":{"S":"new"}}}`, ":t": `{"S":"L"}`, ":kp": `{"S":"x"}`}
)

func (g *exprGen) pick(l ...string) string { return l[g.r.Intn(len(l))] }

func (g *exprGen) use(s string) string {
	if strings.HasPrefix(s, ":") {
		g.used[s] = true
	}
	return s
}

func (g *exprGen) scalar() string {
	switch g.r.Intn(5) {
	case 0:
		return "size(" + g.pick(append(append([]string{}, scalarPaths...), docPaths...)...) + ")"
	case 1, 2:
		return g.use(g.pick(scalarVals...))
	default:
		return g.pick(scalarPaths...)
	}
}

// plain is a scalar path or value.
func (g *exprGen) plain() string {
	if g.r.Intn(2) == 0 {
		return g.use(g.pick(scalarVals...))
	}
	return g.pick(scalarPaths...)
}

func (g *exprGen) cond(depth int) string {
	switch k := g.r.Intn(10); {
	case depth < 3 && k == 0:
		return g.cond(depth+1) + " " + g.pick("AND", "and", "OR") + " " + g.cond(depth+1)
	case depth < 3 && k == 1:
		return "(" + g.cond(depth+1) + " OR " + g.cond(depth+1) + ")"
	case depth < 3 && k == 2:
		return "NOT " + g.cond(depth+1)
	case k == 3:
		// Only values as BETWEEN bounds: dynalite drops the connection on a path there.
		return g.scalar() + " BETWEEN " + g.use(g.pick(scalarVals...)) + " AND " + g.use(g.pick(scalarVals...))
	case k == 4:
		// Only values inside IN: dynalite drops the connection on a path or size() there.
		return g.plain() + " IN (" + g.use(g.pick(scalarVals...)) + ", " + g.use(g.pick(scalarVals...)) + ")"
	case k == 5:
		return g.pick("attribute_exists", "attribute_not_exists") + "(" + g.pick(append(append([]string{}, scalarPaths...), docPaths...)...) + ")"
	case k == 6:
		return "contains(" + g.pick(append(append([]string{}, scalarPaths...), docPaths...)...) + ", " + g.scalar() + ")"
	case k == 7:
		// A value as the prefix: dynalite drops the connection on a missing path there.
		return "begins_with(" + g.scalar() + ", " + g.use(g.pick(scalarVals...)) + ")"
	case k == 8:
		return "attribute_type(" + g.pick(append(append([]string{}, scalarPaths...), docPaths...)...) + ", " + g.use(g.pick(":t", ":s", ":n")) + ")"
	default:
		// A value on one side: with two missing attributes dynalite holds x = y and
		// not x <> y, DynamoDB the opposite (TestBeyondDynalite).
		l, r := g.scalar(), g.use(g.pick(scalarVals...))
		if g.r.Intn(2) == 0 {
			l, r = r, l
		}
		return l + " " + g.pick("=", "<>", "<", "<=", ">", ">=") + " " + r
	}
}

func (g *exprGen) update() string {
	var parts []string
	for _, clause := range []string{"SET", "REMOVE", "ADD", "DELETE"} {
		if g.r.Intn(2) == 0 {
			continue
		}
		switch clause {
		case "SET":
			var acts []string
			for n := 1 + g.r.Intn(2); n > 0; n-- {
				if g.r.Intn(3) == 0 {
					acts = append(acts, g.pick("l", "e", "m.a.b", "m.q")+" = "+g.pick(g.use(":l"), "list_append("+g.pick("l", "e", g.use(":l"))+", "+g.pick("l", g.use(":l"))+")",
						"if_not_exists(m.q, "+g.use(":l")+")"))
				} else {
					acts = append(acts, g.pick(scalarPaths...)+" = "+g.pick(g.scalar(), g.pick(scalarPaths...)+" "+g.pick("+", "-")+" "+g.use(g.pick(":n", ":z")),
						"if_not_exists("+g.pick(scalarPaths...)+", "+g.use(g.pick(scalarVals...))+")", g.use(":m")))
				}
			}
			parts = append(parts, "SET "+strings.Join(acts, ", "))
		case "REMOVE":
			parts = append(parts, "REMOVE "+g.pick("s", "n", "g", "m.a.b[1].c", "nosuch", "m.nosuch", "#n"))
		case "ADD":
			parts = append(parts, "ADD "+g.pick("n", "ss", "cnt", "m.cnt", "s")+" "+g.use(g.pick(":n", ":z", ":ss", ":s")))
		default:
			parts = append(parts, "DELETE "+g.pick("ss", "n", "nosuch")+" "+g.use(g.pick(":ss", ":n")))
		}
	}
	if len(parts) == 0 {
		return "REMOVE nosuch"
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return strings.Join(parts, " ")
}

// soup is a random string of expression tokens, mostly invalid, for the parsers.
func (g *exprGen) soup() string {
	toks := []string{"s", "n", "l[0]", "m.a", "#n", ":s", ":n", "AND", "OR", "NOT", "BETWEEN", "IN", "(", ")", ",", "=", "<>", "<", ">=", "+", "-",
		"[", "]", ".", "size(", "attribute_exists(", "contains(", "begins_with(", "SET", "REMOVE", "ADD", "DELETE", "1"}
	var out []string
	for n := 1 + g.r.Intn(8); n > 0; n-- {
		out = append(out, g.use(toks[g.r.Intn(len(toks))]))
	}
	return strings.Join(out, " ")
}

// params are the placeholders the request's expressions use: DynamoDB refuses unused ones.
func (g *exprGen) params(exprs ...string) string {
	var keys []string
	for k := range g.used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	if len(keys) > 0 {
		b.WriteString(`,"ExpressionAttributeValues":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", k, allValues[k])
		}
		b.WriteByte('}')
	}
	if strings.Contains(strings.Join(exprs, " "), "#n") {
		b.WriteString(`,"ExpressionAttributeNames":{"#n":"n"}`)
	}
	return b.String()
}

func (g *exprGen) request() (string, string) {
	g.used = map[string]bool{}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	expr := func(f func() string) string {
		if g.r.Intn(6) == 0 {
			return g.soup()
		}
		return f()
	}
	key := `"Key":{"pk":{"S":"x"},"sk":{"N":"7"}}`
	cond := func() string { return g.cond(0) }
	switch g.r.Intn(5) {
	case 0, 1:
		u := expr(g.update)
		c := ""
		if g.r.Intn(2) == 0 {
			c = expr(cond)
		}
		body := `{"TableName":"nnn",` + key + `,"UpdateExpression":` + q(u)
		if c != "" {
			body += `,"ConditionExpression":` + q(c)
		}
		return "UpdateItem", body + g.params(u, c) + `,"ReturnValues":"` + g.pick("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW", "NONE") + `"}`
	case 2:
		c := expr(cond)
		g.use(":kp")
		return "Query", `{"TableName":"nnn","KeyConditionExpression":"pk = :kp","FilterExpression":` + q(c) + g.params(c) + `}`
	case 3:
		pr := expr(func() string {
			return g.pick(append(append([]string{}, scalarPaths...), docPaths...)...) + ", " + g.pick("l[1]", "m.a.b[1].c", "sk", "#n")
		})
		return "GetItem", `{"TableName":"nnn",` + key + `,"ProjectionExpression":` + q(pr) + g.namesOnly(pr) + `}`
	default:
		c := expr(cond)
		return "Scan", `{"TableName":"nnn","FilterExpression":` + q(c) + g.params(c) + `}`
	}
}

func (g *exprGen) namesOnly(expr string) string {
	if strings.Contains(expr, "#n") {
		return `,"ExpressionAttributeNames":{"#n":"n"}`
	}
	return ""
}
