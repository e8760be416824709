package ddblocal

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"time"
)

type opFunc func(*Server, []byte) ([]byte, error)

// operation returns the handler of a DynamoDB operation, nil for one not implemented.
func operation(name string) opFunc {
	switch name {
	case "CreateTable":
		return (*Server).createTable
	case "DescribeTable":
		return (*Server).describeTable
	case "ListTables":
		return (*Server).listTables
	case "DeleteTable":
		return (*Server).deleteTable
	case "PutItem":
		return (*Server).putItem
	case "GetItem":
		return (*Server).getItem
	case "DeleteItem":
		return (*Server).deleteItem
	case "UpdateItem":
		return (*Server).updateItem
	case "Query":
		return (*Server).query
	case "Scan":
		return (*Server).scan
	case "BatchWriteItem":
		return (*Server).batchWrite
	case "BatchGetItem":
		return (*Server).batchGet
	}
	return nil
}

// legacy lists the pre-expression parameters, which this server refuses by name.
type legacy struct {
	Expected            json.RawMessage
	AttributesToGet     json.RawMessage
	KeyConditions       json.RawMessage
	QueryFilter         json.RawMessage
	ScanFilter          json.RawMessage
	AttributeUpdates    json.RawMessage
	ConditionalOperator json.RawMessage
}

func (l legacy) check() error {
	for name, v := range map[string]json.RawMessage{"Expected": l.Expected, "AttributesToGet": l.AttributesToGet, "KeyConditions": l.KeyConditions,
		"QueryFilter": l.QueryFilter, "ScanFilter": l.ScanFilter, "AttributeUpdates": l.AttributeUpdates, "ConditionalOperator": l.ConditionalOperator} {
		if len(v) > 0 && string(v) != "null" {
			return validation("%s is a legacy parameter that shipgate's local DynamoDB does not implement; use expressions", name)
		}
	}
	return nil
}

type exprParams struct {
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]*AV
}

func (e exprParams) env(anyExpr bool) (*exprEnv, error) {
	if !anyExpr {
		if e.ExpressionAttributeNames != nil {
			return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
		}
		if e.ExpressionAttributeValues != nil {
			return nil, validation("ExpressionAttributeValues can only be specified when using expressions")
		}
	}
	if e.ExpressionAttributeNames != nil && len(e.ExpressionAttributeNames) == 0 {
		return nil, validation("ExpressionAttributeNames must not be empty")
	}
	if e.ExpressionAttributeValues != nil && len(e.ExpressionAttributeValues) == 0 {
		return nil, validation("ExpressionAttributeValues must not be empty")
	}
	for k, v := range e.ExpressionAttributeValues {
		if v == nil || v.T == "" {
			return nil, validation("ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly one of the supported datatypes for key %s", k)
		}
	}
	return newEnv(e.ExpressionAttributeNames, e.ExpressionAttributeValues), nil
}

func optCond(what string, src *string, env *exprEnv) (*cond, error) {
	if src == nil {
		return nil, nil
	}
	return parseCondition(what, *src, env)
}

func optProjection(src *string, env *exprEnv) ([]docPath, error) {
	if src == nil {
		return nil, nil
	}
	return parseProjection(*src, env)
}

func (s *Server) table(name string) (*table, error) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t := s.tables[name]
	if t == nil {
		return nil, notFound("Requested resource not found")
	}
	return t, nil
}

// keyedTable returns the table named name after checking that key is exactly its key.
func (s *Server) keyedTable(name string, key Item) (*table, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	return t, t.checkKey(key)
}

func marshal(v any) ([]byte, error) { return json.Marshal(v) }

// --- tables ---

type keyElem struct{ AttributeName, KeyType string }

type projection struct {
	ProjectionType   string
	NonKeyAttributes []string `json:",omitempty"`
}

type indexIn struct {
	IndexName  string
	KeySchema  []keyElem
	Projection projection
}

type createTableIn struct {
	TableName            string
	AttributeDefinitions []struct{ AttributeName, AttributeType string }
	KeySchema            []keyElem
	GlobalSecondaryIndexes,
	LocalSecondaryIndexes []indexIn
	BillingMode string
}

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func (s *Server) keySchema(attrs map[string]string, ks []keyElem, what string) (keySchema, error) {
	var k keySchema
	if len(ks) == 0 || len(ks) > 2 || ks[0].KeyType != "HASH" || (len(ks) == 2 && ks[1].KeyType != "RANGE") {
		return k, validation("Invalid KeySchema of %s: one HASH key, then at most one RANGE key", what)
	}
	for i, e := range ks {
		t, ok := attrs[e.AttributeName]
		if !ok {
			return k, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %v", e.AttributeName, sortedKeys(attrs))
		}
		if i == 0 {
			k.Hash, k.HashT = e.AttributeName, t
		} else {
			k.Range, k.RngT = e.AttributeName, t
		}
	}
	return k, nil
}

func (s *Server) createTable(body []byte) ([]byte, error) {
	var in createTableIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !tableNameRE.MatchString(in.TableName) {
		return nil, validation("TableName must be at least 3 characters long and at most 255 characters long, of letters, digits, '_', '-' and '.'")
	}
	attrs := map[string]string{}
	for _, a := range in.AttributeDefinitions {
		if a.AttributeType != "S" && a.AttributeType != "N" && a.AttributeType != "B" {
			return nil, validation("Member must satisfy enum value set: [B, N, S] (attribute %s)", a.AttributeName)
		}
		attrs[a.AttributeName] = a.AttributeType
	}
	def := tableDef{Name: in.TableName, Attrs: attrs, BillingMode: in.BillingMode, Created: float64(time.Now().UnixMilli()) / 1000}
	var err error
	if def.Keys, err = s.keySchema(attrs, in.KeySchema, "the table"); err != nil {
		return nil, err
	}
	used := map[string]bool{def.Keys.Hash: true, def.Keys.Range: true}
	for _, group := range []struct {
		list  []indexIn
		local bool
	}{{in.GlobalSecondaryIndexes, false}, {in.LocalSecondaryIndexes, true}} {
		for _, ix := range group.list {
			k, err := s.keySchema(attrs, ix.KeySchema, "index "+ix.IndexName)
			if err != nil {
				return nil, err
			}
			if group.local && def.Keys.Range == "" {
				return nil, validation("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
			}
			if group.local && (k.Hash != def.Keys.Hash || k.Range == "") {
				return nil, validation("Local secondary index %s must have the table's hash key and a range key", ix.IndexName)
			}
			p := ix.Projection.ProjectionType
			if p != "ALL" && p != "KEYS_ONLY" && p != "INCLUDE" {
				return nil, validation("Unknown ProjectionType %q for index %s", p, ix.IndexName)
			}
			for _, other := range def.Indexes {
				if other.Name == ix.IndexName {
					return nil, validation("One or more parameter values were invalid: Duplicate index name: %s", ix.IndexName)
				}
			}
			def.Indexes = append(def.Indexes, indexDef{Name: ix.IndexName, Keys: k, Projection: p, NonKey: ix.Projection.NonKeyAttributes, Local: group.local})
			used[k.Hash], used[k.Range] = true, true
		}
	}
	for a := range attrs {
		if !used[a] {
			return nil, validation("One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: %v, keys used: %v", sortedKeys(attrs), sortedKeys(used))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables[in.TableName] != nil {
		return nil, &apiError{Type: "ResourceInUseException", Msg: "Table already exists: " + in.TableName, Status: 400}
	}
	if err := s.commit(walRecord{Op: "create", Def: &def}); err != nil {
		return nil, err
	}
	t := s.tables[def.Name]
	// DynamoDB answers CREATING (the table is usable here at once, and DescribeTable says
	// ACTIVE, which is what SDK waiters look for).
	return marshal(map[string]any{"TableDescription": s.describe(t, "CREATING")})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string { sort.Strings(s); return s }

func keyElems(k keySchema) []keyElem {
	out := []keyElem{{k.Hash, "HASH"}}
	if k.Range != "" {
		out = append(out, keyElem{k.Range, "RANGE"})
	}
	return out
}

func (s *Server) describe(t *table, status string) map[string]any {
	arn := "arn:aws:dynamodb:" + s.opts.Region + ":" + s.opts.Account + ":table/" + t.def.Name
	var defs []map[string]string
	for _, a := range sortedKeys(t.def.Attrs) {
		defs = append(defs, map[string]string{"AttributeName": a, "AttributeType": t.def.Attrs[a]})
	}
	zero := map[string]int{"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0}
	d := map[string]any{
		"TableName": t.def.Name, "TableArn": arn, "TableId": "00000000-0000-0000-0000-" + strconv.FormatInt(int64(len(t.def.Name)), 10),
		"TableStatus": status, "CreationDateTime": t.def.Created, "AttributeDefinitions": defs,
		"KeySchema": keyElems(t.def.Keys), "ItemCount": t.count, "TableSizeBytes": t.bytes,
		"ProvisionedThroughput": zero,
	}
	if t.def.BillingMode == "PAY_PER_REQUEST" {
		d["BillingModeSummary"] = map[string]any{"BillingMode": "PAY_PER_REQUEST"}
	}
	var gsis, lsis []map[string]any
	for _, ix := range t.def.Indexes {
		n := 0
		for _, p := range t.indexes[ix.Name].parts {
			n += len(p.items)
		}
		m := map[string]any{"IndexName": ix.Name, "KeySchema": keyElems(ix.Keys),
			"Projection": projection{ix.Projection, ix.NonKey}, "ItemCount": n, "IndexSizeBytes": 0,
			"IndexArn": arn + "/index/" + ix.Name}
		if ix.Local {
			lsis = append(lsis, m)
		} else {
			m["IndexStatus"] = status
			m["ProvisionedThroughput"] = zero
			gsis = append(gsis, m)
		}
	}
	if gsis != nil {
		d["GlobalSecondaryIndexes"] = gsis
	}
	if lsis != nil {
		d["LocalSecondaryIndexes"] = lsis
	}
	return d
}

func (s *Server) describeTable(body []byte) ([]byte, error) {
	var in struct{ TableName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, notFound("Requested resource not found: Table: " + in.TableName + " not found")
	}
	return marshal(map[string]any{"Table": s.describe(t, "ACTIVE")})
}

func (s *Server) listTables(body []byte) ([]byte, error) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Limit <= 0 || in.Limit > 100 {
		in.Limit = 100
	}
	s.mu.Lock()
	names := sortedKeys(s.tables)
	s.mu.Unlock()
	out := map[string]any{}
	list := []string{}
	for _, n := range names {
		if n <= in.ExclusiveStartTableName {
			continue
		}
		if len(list) == in.Limit {
			out["LastEvaluatedTableName"] = list[len(list)-1]
			break
		}
		list = append(list, n)
	}
	out["TableNames"] = list
	return marshal(out)
}

func (s *Server) deleteTable(body []byte) ([]byte, error) {
	var in struct{ TableName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := s.commit(walRecord{Op: "drop", Table: in.TableName}); err != nil {
		return nil, err
	}
	return marshal(map[string]any{"TableDescription": s.describe(t, "DELETING")})
}

// --- items ---

// condWrite is what PutItem, DeleteItem and UpdateItem share: a table, an optional
// condition on the item as it is, and what to return.
type condWrite struct {
	TableName                           string
	ConditionExpression                 *string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	exprParams
	legacy
}

// begin checks the shared parameters (ReturnValues against rv) and returns the
// placeholder environment; otherExpr says whether the request has another expression.
func (w *condWrite) begin(otherExpr bool, rv ...string) (*exprEnv, error) {
	if err := w.legacy.check(); err != nil {
		return nil, err
	}
	if err := checkReturnValues(w.ReturnValues, rv...); err != nil {
		return nil, err
	}
	return w.env(w.ConditionExpression != nil || otherExpr)
}

// condition parses the condition (nil when there is none), the request's last
// expression, and then refuses placeholders no expression used.
func (w *condWrite) condition(env *exprEnv) (*cond, error) {
	c, err := optCond("ConditionExpression", w.ConditionExpression, env)
	if err != nil {
		return nil, err
	}
	return c, env.unused()
}

// onlyCondition checks the shared parameters and parses the condition of a write whose
// only expression it is (PutItem, DeleteItem: ReturnValues NONE or ALL_OLD).
func (w *condWrite) onlyCondition() (*cond, error) {
	env, err := w.begin(false, "ALL_OLD")
	if err != nil {
		return nil, err
	}
	return w.condition(env)
}

// check reads the item with key's key from t and refuses the write when the condition
// does not hold on it; it returns the item as it was.
func (w *condWrite) check(t *table, key Item, c *cond) (Item, error) {
	old := t.get(key)
	if c != nil && !eval(old, c) {
		return nil, conditionFailed(old, w.ReturnValuesOnConditionCheckFailure)
	}
	return old, nil
}

type putIn struct {
	condWrite
	Item Item
}

func checkReturnValues(rv string, allowed ...string) error {
	if rv == "" || rv == "NONE" {
		return nil
	}
	for _, a := range allowed {
		if rv == a {
			return nil
		}
	}
	return validation("ReturnValues %q is not valid for this operation", rv)
}

func conditionFailed(old Item, rv string) error {
	if rv == "ALL_OLD" && old != nil {
		e := *errConditionFailed
		e.Item = old
		return &e
	}
	return errConditionFailed
}

func attrsOut(item Item) ([]byte, error) {
	if item == nil {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	buf.WriteString(`{"Attributes":`)
	writeMap(&buf, item)
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (s *Server) putItem(body []byte) ([]byte, error) {
	var in putIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := in.onlyCondition()
	if err != nil {
		return nil, err
	}
	if in.Item == nil {
		return nil, validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	for _, v := range in.Item {
		if err := checkValue(v); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := t.checkItemKeys(in.Item); err != nil {
		return nil, err
	}
	old, err := in.check(t, in.Item, c)
	if err != nil {
		return nil, err
	}
	if err := s.commit(walRecord{Op: "put", Table: t.def.Name, Item: in.Item}); err != nil {
		return nil, err
	}
	if in.ReturnValues == "ALL_OLD" {
		return attrsOut(old)
	}
	return []byte("{}"), nil
}

type getIn struct {
	TableName            string
	Key                  Item
	ConsistentRead       bool
	ProjectionExpression *string
	exprParams
	legacy
}

func (s *Server) getItem(body []byte) ([]byte, error) {
	var in getIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	if in.ExpressionAttributeValues != nil {
		return nil, validation("ExpressionAttributeValues can only be specified when using expressions: ProjectionExpression does not use values")
	}
	env, err := in.env(in.ProjectionExpression != nil)
	if err != nil {
		return nil, err
	}
	proj, err := optProjection(in.ProjectionExpression, env)
	if err != nil {
		return nil, err
	}
	if err := env.unused(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.keyedTable(in.TableName, in.Key)
	if err != nil {
		return nil, err
	}
	item := t.get(in.Key)
	if item == nil {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	buf.WriteString(`{"Item":`)
	writeMap(&buf, projectOrShare(item, proj))
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// projectOrShare returns item itself when nothing is projected: stored items are
// immutable, so serializing them needs no copy.
func projectOrShare(item Item, proj []docPath) Item {
	if proj == nil {
		return item
	}
	return project(item, proj)
}

type deleteIn struct {
	condWrite
	Key Item
}

func (s *Server) deleteItem(body []byte) ([]byte, error) {
	var in deleteIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := in.onlyCondition()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.keyedTable(in.TableName, in.Key)
	if err != nil {
		return nil, err
	}
	old, err := in.check(t, in.Key, c)
	if err != nil {
		return nil, err
	}
	if old != nil {
		if err := s.commit(walRecord{Op: "del", Table: t.def.Name, Key: in.Key}); err != nil {
			return nil, err
		}
	}
	if in.ReturnValues == "ALL_OLD" {
		return attrsOut(old)
	}
	return []byte("{}"), nil
}

type updateIn struct {
	condWrite
	Key              Item
	UpdateExpression *string
}

func (s *Server) updateItem(body []byte) ([]byte, error) {
	var in updateIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	env, err := in.begin(in.UpdateExpression != nil, "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")
	if err != nil {
		return nil, err
	}
	var u *update
	if in.UpdateExpression != nil {
		if u, err = parseUpdate(*in.UpdateExpression, env); err != nil {
			return nil, err
		}
	}
	c, err := in.condition(env)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.keyedTable(in.TableName, in.Key)
	if err != nil {
		return nil, err
	}
	if u != nil {
		for _, p := range u.paths() {
			if p[0].name == t.def.Keys.Hash || p[0].name == t.def.Keys.Range {
				return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", p[0].name)
			}
		}
	}
	if u != nil {
		// A value of the wrong type for an index key is refused before the condition is
		// looked at, as DynamoDB validates the request first.
		for _, a := range u.set {
			if len(a.path) != 1 || a.val.kind != oValue {
				continue
			}
			for _, ix := range t.def.Indexes {
				for _, k := range []struct{ name, typ string }{{ix.Keys.Hash, ix.Keys.HashT}, {ix.Keys.Range, ix.Keys.RngT}} {
					if k.name != "" && k.name == a.path[0].name && a.val.val.T != k.typ {
						return nil, validation("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", k.name, k.typ, a.val.val.T, ix.Name)
					}
				}
			}
		}
	}
	old, err := in.check(t, in.Key, c)
	if err != nil {
		return nil, err
	}
	next := old.clone()
	if next == nil {
		next = in.Key.clone()
	}
	if u != nil {
		if _, err = applyUpdate(next, u); err != nil {
			return nil, err
		}
	}
	if err := t.checkItemKeys(next); err != nil {
		return nil, err
	}
	if err := s.commit(walRecord{Op: "put", Table: t.def.Name, Item: next}); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "ALL_OLD":
		return attrsOut(old)
	case "ALL_NEW":
		return attrsOut(next)
	case "UPDATED_OLD", "UPDATED_NEW":
		// Only the updated paths, nested ones inside their parents (as a projection of
		// them would show). Without an old item UPDATED_OLD answers no Attributes; an
		// update that leaves nothing to show answers an empty map (as dynalite does).
		src := next
		if in.ReturnValues == "UPDATED_OLD" {
			src = old
		}
		if src == nil {
			return []byte("{}"), nil
		}
		out := Item{}
		if u != nil {
			out = project(src, u.paths())
		}
		var buf bytes.Buffer
		buf.WriteString(`{"Attributes":`)
		writeMap(&buf, out)
		buf.WriteByte('}')
		return buf.Bytes(), nil
	}
	return []byte("{}"), nil
}

func (u *update) paths() []docPath {
	var out []docPath
	for _, s := range u.set {
		out = append(out, s.path)
	}
	out = append(out, u.remove...)
	for _, a := range u.add {
		out = append(out, a.path)
	}
	for _, a := range u.del {
		out = append(out, a.path)
	}
	return out
}
