package ddblocal

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

const maxPage = 1 << 20 // DynamoDB stops a Query or Scan page at 1 MB of items read

type queryIn struct {
	TableName              string
	IndexName              string
	KeyConditionExpression *string
	FilterExpression       *string
	ProjectionExpression   *string
	Limit                  *int
	ExclusiveStartKey      Item
	ScanIndexForward       *bool
	ConsistentRead         bool
	Select                 string
	Segment, TotalSegments *int
	exprParams
	legacy
}

// keyRange is a parsed key condition: the partition key value and the sort key test.
type keyRange struct {
	hash   *AV
	op     string // "", "=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"
	lo, hi *AV
}

func (q *queryIn) source(s *Server) (*table, *index, keySchema, error) {
	t, err := s.table(q.TableName)
	if err != nil {
		return nil, nil, keySchema{}, err
	}
	if q.IndexName == "" {
		return t, nil, t.def.Keys, nil
	}
	ix := t.indexes[q.IndexName]
	if ix == nil {
		return nil, nil, keySchema{}, validation("The table does not have the specified index: %s", q.IndexName)
	}
	if q.ConsistentRead && !ix.def.Local {
		return nil, nil, keySchema{}, validation("Consistent reads are not supported on global secondary indexes")
	}
	if err := q.checkIndexSelect(ix); err != nil {
		return nil, nil, keySchema{}, err
	}
	return t, ix, ix.def.Keys, nil
}

// keyCondition checks the shape DynamoDB allows: partition key = value, optionally AND
// one condition on the sort key.
func keyCondition(c *cond, ks keySchema) (keyRange, error) {
	var leaves []*cond
	var walk func(*cond) error
	walk = func(c *cond) error {
		switch c.kind {
		case cAnd:
			if err := walk(c.l); err != nil {
				return err
			}
			return walk(c.r)
		case cCmp, cBetween:
			leaves = append(leaves, c)
		case cFunc:
			if c.op != "begins_with" {
				return validation("Invalid operator used in KeyConditionExpression: %s", c.op)
			}
			leaves = append(leaves, c)
		case cOr:
			return validation("Invalid operator used in KeyConditionExpression: OR")
		case cNot:
			return validation("Invalid operator used in KeyConditionExpression: NOT")
		default:
			return validation("Invalid operator used in KeyConditionExpression: IN")
		}
		return nil
	}
	var kr keyRange
	if err := walk(c); err != nil {
		return kr, err
	}
	if len(leaves) > 2 {
		return kr, validation("KeyConditionExpressions must only contain one condition per key")
	}
	flip := map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
	for _, l := range leaves {
		if l.kind == cCmp && l.args[0].kind == oValue && l.args[1].kind == oPath && flip[l.op] != "" {
			// ":v < sk" is "sk > :v": DynamoDB takes the key on either side.
			l = &cond{kind: cCmp, op: flip[l.op], args: []*operand{l.args[1], l.args[0]}}
		}
		path, vals := l.args[0], l.args[1:]
		if path.kind != oPath || len(path.path) != 1 {
			return kr, validation("Invalid KeyConditionExpression: the left side of a key condition must be a key attribute")
		}
		for _, v := range vals {
			if v.kind != oValue {
				return kr, validation("Invalid KeyConditionExpression: key conditions compare a key attribute with values")
			}
		}
		name := path.path[0].name
		switch name {
		case ks.Hash:
			if l.kind != cCmp || l.op != "=" {
				return kr, validation("Query key condition not supported")
			}
			if kr.hash != nil {
				return kr, validation("KeyConditionExpressions must only contain one condition per key")
			}
			if vals[0].val.T != ks.HashT {
				return kr, validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
			}
			kr.hash = vals[0].val
		case ks.Range:
			if kr.op != "" {
				return kr, validation("KeyConditionExpressions must only contain one condition per key")
			}
			for _, v := range vals {
				if v.val.T != ks.RngT {
					return kr, validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
				}
			}
			switch l.kind {
			case cCmp:
				if l.op == "<>" {
					return kr, validation("Unsupported operator on KeyConditionExpression: operator: <>")
				}
				kr.op, kr.lo = l.op, vals[0].val
			case cBetween:
				kr.op, kr.lo, kr.hi = "BETWEEN", vals[0].val, vals[1].val
			default:
				if ks.RngT == "N" {
					return kr, validation("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
				}
				kr.op, kr.lo = "begins_with", vals[0].val
			}
		default:
			return kr, validation("Query condition missed key schema element: %s", ks.Hash)
		}
	}
	if kr.hash == nil {
		return kr, validation("Query condition missed key schema element: %s", ks.Hash)
	}
	return kr, nil
}

// bounds returns the index range [lo, hi) of items whose sort key satisfies kr.
func (kr keyRange) bounds(items []Item, rng string) (int, int) {
	first := func(pred func(int) bool) int { return sort.Search(len(items), pred) }
	ge := func(v *AV) int { return first(func(i int) bool { return cmpKeyValue(items[i][rng], v) >= 0 }) }
	gt := func(v *AV) int { return first(func(i int) bool { return cmpKeyValue(items[i][rng], v) > 0 }) }
	switch kr.op {
	case "=":
		return ge(kr.lo), gt(kr.lo)
	case "<":
		return 0, ge(kr.lo)
	case "<=":
		return 0, gt(kr.lo)
	case ">":
		return gt(kr.lo), len(items)
	case ">=":
		return ge(kr.lo), len(items)
	case "BETWEEN":
		return ge(kr.lo), gt(kr.hi)
	case "begins_with":
		lo := ge(kr.lo)
		hi := lo
		for hi < len(items) && strings.HasPrefix(items[hi][rng].S, kr.lo.S) {
			hi++
		}
		return lo, hi
	}
	return 0, len(items)
}

// checkStart refuses an ExclusiveStartKey outside the queried partition or sort-key
// range, as DynamoDB does (a key from another query is a client bug).
func (kr keyRange) checkStart(k Item, ks keySchema) error {
	if h := k[ks.Hash]; h == nil || !equal(h, kr.hash) {
		return validation("The provided starting key is outside query boundaries based on provided conditions")
	}
	if kr.op == "" {
		return nil
	}
	v := k[ks.Range]
	ok := v != nil && v.T == kr.lo.T
	if ok {
		c := cmpKeyValue(v, kr.lo)
		switch kr.op {
		case "=":
			ok = c == 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		case "BETWEEN":
			ok = c >= 0 && cmpKeyValue(v, kr.hi) <= 0
		case "begins_with":
			ok = strings.HasPrefix(v.S, kr.lo.S)
		}
	}
	if !ok {
		return validation("The provided starting key does not match the range key predicate")
	}
	return nil
}

type page struct {
	items   []Item
	scanned int
	last    Item
}

func (s *Server) query(body []byte) ([]byte, error) {
	var in queryIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == nil {
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	env, err := in.env(true)
	if err != nil {
		return nil, err
	}
	kc, err := parseCondition("KeyConditionExpression", *in.KeyConditionExpression, env)
	if err != nil {
		return nil, err
	}
	filter, proj, err := in.filterAndProjection(env)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ix, ks, err := in.source(s)
	if err != nil {
		return nil, err
	}
	kr, err := keyCondition(kc, ks)
	if err != nil {
		return nil, err
	}
	if filter != nil {
		if err := checkFilterKeys(filter, ks); err != nil {
			return nil, err
		}
	}
	var items []Item
	var cmp func(a, b Item) int
	if ix == nil {
		if p := t.parts[partKey(kr.hash)]; p != nil {
			items = p.items
		}
		cmp = t.cmpInTable
	} else {
		if p := ix.parts[partKey(kr.hash)]; p != nil {
			items = p.items
		}
		cmp = func(a, b Item) int { return t.cmpInIndex(ix, a, b) }
	}
	lo, hi := kr.bounds(items, ks.Range)
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	if in.ExclusiveStartKey != nil {
		if err := t.checkStartKey(in.ExclusiveStartKey, ix); err != nil {
			return nil, err
		}
		if err := kr.checkStart(in.ExclusiveStartKey, ks); err != nil {
			return nil, err
		}
		if forward {
			lo = max(lo, sort.Search(len(items), func(i int) bool { return cmp(items[i], in.ExclusiveStartKey) > 0 }))
		} else {
			hi = min(hi, sort.Search(len(items), func(i int) bool { return cmp(items[i], in.ExclusiveStartKey) >= 0 }))
		}
	}
	var order []Item
	if lo < hi {
		order = items[lo:hi]
	}
	pg := in.collect(order, forward, filter, proj, t, ix)
	return in.write(pg, proj, t, ix)
}

func (in *queryIn) filterAndProjection(env *exprEnv) (*cond, []docPath, error) {
	filter, err := optCond("FilterExpression", in.FilterExpression, env)
	if err != nil {
		return nil, nil, err
	}
	proj, err := optProjection(in.ProjectionExpression, env)
	if err != nil {
		return nil, nil, err
	}
	if err := env.unused(); err != nil {
		return nil, nil, err
	}
	if in.Limit != nil && *in.Limit < 1 {
		return nil, nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
	}
	switch in.Select {
	case "", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "COUNT":
	case "SPECIFIC_ATTRIBUTES":
		if proj == nil {
			return nil, nil, validation("Select SPECIFIC_ATTRIBUTES needs a ProjectionExpression")
		}
	default:
		return nil, nil, validation("Select %q is not one of ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES, SPECIFIC_ATTRIBUTES, COUNT", in.Select)
	}
	if proj != nil && in.Select != "" && in.Select != "SPECIFIC_ATTRIBUTES" {
		return nil, nil, validation("Cannot specify the ProjectionExpression when choosing to get %s", in.Select)
	}
	return filter, proj, nil
}

// fetchesTable reports whether a read of a local index wants attributes beyond the
// index's projection (all of them, or a projection expression), which DynamoDB fetches
// from the table.
func (in *queryIn) fetchesTable(proj []docPath) bool {
	return in.Select == "ALL_ATTRIBUTES" || proj != nil
}

// checkIndexSelect refuses ALL_ATTRIBUTES on a global index that does not project all.
func (in *queryIn) checkIndexSelect(ix *index) error {
	if ix != nil && !ix.def.Local && in.Select == "ALL_ATTRIBUTES" && ix.def.Projection != "ALL" {
		return validation("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", ix.def.Name)
	}
	return nil
}

// checkFilterKeys refuses a filter on key attributes, as DynamoDB does for Query.
func checkFilterKeys(c *cond, ks keySchema) error {
	var err error
	var walk func(*cond)
	walk = func(c *cond) {
		if c == nil || err != nil {
			return
		}
		walk(c.l)
		walk(c.r)
		for _, o := range c.args {
			if o.kind == oPath && (o.path[0].name == ks.Hash || o.path[0].name == ks.Range) {
				err = validation("Filter Expression can only contain non-primary key attributes: Primary key attribute: %s", o.path[0].name)
			}
		}
	}
	walk(c)
	return err
}

// collect reads items in order until Limit or 1 MB, keeping those the filter passes.
func (in *queryIn) collect(order []Item, forward bool, filter *cond, proj []docPath, t *table, ix *index) page {
	var pg page
	size := 0
	n := len(order)
	for k := 0; k < n; k++ {
		it := order[k]
		if !forward {
			it = order[n-1-k]
		}
		pg.scanned++
		size += it.size()
		// A global index holds only its projection, so its filter sees only that; a
		// local index fetches the rest from the table when the request asks for it.
		view := it
		if ix != nil && !ix.def.Local {
			view = t.projectIndex(ix, it)
		}
		if filter == nil || eval(view, filter) {
			if ix != nil && !(ix.def.Local && in.fetchesTable(proj)) {
				view = t.projectIndex(ix, it)
			}
			pg.items = append(pg.items, view)
		}
		if (in.Limit != nil && pg.scanned >= *in.Limit) || size >= maxPage {
			pg.last = t.keyOf(it, ix)
			break
		}
	}
	return pg
}

func (in *queryIn) write(pg page, proj []docPath, t *table, ix *index) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"Count":` + strconv.Itoa(len(pg.items)) + `,"ScannedCount":` + strconv.Itoa(pg.scanned))
	if in.Select != "COUNT" {
		buf.WriteString(`,"Items":[`)
		for i, it := range pg.items {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeMap(&buf, projectOrShare(it, proj))
		}
		buf.WriteByte(']')
	}
	if pg.last != nil {
		buf.WriteString(`,"LastEvaluatedKey":`)
		writeMap(&buf, pg.last)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// checkStartKey refuses an ExclusiveStartKey that is not a key of this table or index.
func (t *table) checkStartKey(k Item, ix *index) error {
	want := t.keyOf(Item{}, ix)
	for name := range want {
		if k[name] == nil {
			return validation("The provided starting key is invalid: The provided key element does not match the schema")
		}
	}
	if len(k) != len(want) {
		return validation("The provided starting key is invalid: The provided key element does not match the schema")
	}
	return nil
}

func (s *Server) scan(body []byte) ([]byte, error) {
	var in queryIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	if in.KeyConditionExpression != nil {
		return nil, validation("KeyConditionExpression is a Query parameter, not a Scan parameter")
	}
	if in.Segment != nil || in.TotalSegments != nil {
		return nil, validation("parallel scans (Segment, TotalSegments) are not implemented by shipgate's local DynamoDB")
	}
	env, err := in.env(in.FilterExpression != nil || in.ProjectionExpression != nil)
	if err != nil {
		return nil, err
	}
	filter, proj, err := in.filterAndProjection(env)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ix, _, err := in.source(s)
	if err != nil {
		return nil, err
	}
	parts := t.parts
	cmp := t.cmpInTable
	if ix != nil {
		parts = ix.parts
		cmp = func(a, b Item) int { return t.cmpInIndex(ix, a, b) }
	}
	hashAttr := t.def.Keys.Hash
	if ix != nil {
		hashAttr = ix.def.Keys.Hash
	}
	keys := sortedKeys(parts)
	var order []Item
	start := 0
	if in.ExclusiveStartKey != nil {
		if err := t.checkStartKey(in.ExclusiveStartKey, ix); err != nil {
			return nil, err
		}
		pk := partKey(in.ExclusiveStartKey[hashAttr])
		start = sort.SearchStrings(keys, pk)
		if start < len(keys) && keys[start] == pk {
			items := parts[pk].items
			i := sort.Search(len(items), func(i int) bool { return cmp(items[i], in.ExclusiveStartKey) > 0 })
			order = append(order, items[i:]...)
			start++
		}
	}
	for _, k := range keys[start:] {
		order = append(order, parts[k].items...)
	}
	pg := in.collect(order, true, filter, proj, t, ix)
	return in.write(pg, proj, t, ix)
}

// --- batches ---

func (s *Server) batchWrite(body []byte) ([]byte, error) {
	var in struct {
		RequestItems map[string][]struct {
			PutRequest    *struct{ Item Item }
			DeleteRequest *struct{ Key Item }
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n := 0
	for _, reqs := range in.RequestItems {
		n += len(reqs)
	}
	if n == 0 || n > 25 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have between 1 and 25 requests, got %d", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []walRecord
	for name, reqs := range in.RequestItems {
		t, err := s.table(name)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range reqs {
			var key Item
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				if err := t.checkItemKeys(r.PutRequest.Item); err != nil {
					return nil, err
				}
				key = r.PutRequest.Item
				recs = append(recs, walRecord{Op: "put", Table: name, Item: r.PutRequest.Item})
			case r.DeleteRequest != nil && r.PutRequest == nil:
				if err := t.checkKey(r.DeleteRequest.Key); err != nil {
					return nil, err
				}
				key = r.DeleteRequest.Key
				recs = append(recs, walRecord{Op: "del", Table: name, Key: r.DeleteRequest.Key})
			default:
				return nil, validation("each write request holds exactly one of PutRequest or DeleteRequest")
			}
			k := t.keyOf(key, nil)
			kb, _ := k.MarshalJSON()
			if seen[string(kb)] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[string(kb)] = true
		}
	}
	if err := s.commit(recs...); err != nil {
		return nil, err
	}
	return []byte(`{"UnprocessedItems":{}}`), nil
}

func (s *Server) batchGet(body []byte) ([]byte, error) {
	var in struct {
		RequestItems map[string]struct {
			Keys                 []Item
			ProjectionExpression *string
			ConsistentRead       bool
			exprParams
			legacy
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n := 0
	for _, r := range in.RequestItems {
		n += len(r.Keys)
	}
	if n == 0 || n > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call: between 1 and 100 keys, got %d", n)
	}
	out := map[string][]Item{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range in.RequestItems {
		if err := r.legacy.check(); err != nil {
			return nil, err
		}
		env, err := r.env(r.ProjectionExpression != nil)
		if err != nil {
			return nil, err
		}
		proj, err := optProjection(r.ProjectionExpression, env)
		if err != nil {
			return nil, err
		}
		if err := env.unused(); err != nil {
			return nil, err
		}
		t, err := s.table(name)
		if err != nil {
			return nil, err
		}
		list := []Item{}
		seen := map[string]bool{}
		for _, k := range r.Keys {
			if err := t.checkKey(k); err != nil {
				return nil, err
			}
			kb, _ := k.MarshalJSON()
			if seen[string(kb)] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[string(kb)] = true
			if it := t.get(k); it != nil {
				list = append(list, projectOrShare(it, proj))
			}
		}
		out[name] = list
	}
	return marshal(map[string]any{"Responses": out, "UnprocessedKeys": map[string]any{}})
}
