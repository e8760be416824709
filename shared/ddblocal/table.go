package ddblocal

import (
	"sort"
	"strings"
)

// keySchema names a partition key and an optional sort key with their scalar types.
type keySchema struct {
	Hash  string `json:"hash"`
	HashT string `json:"hashType"`
	Range string `json:"range,omitempty"`
	RngT  string `json:"rangeType,omitempty"`
}

type indexDef struct {
	Name       string    `json:"name"`
	Keys       keySchema `json:"keys"`
	Projection string    `json:"projection"` // ALL, KEYS_ONLY, INCLUDE
	NonKey     []string  `json:"nonKey,omitempty"`
	Local      bool      `json:"local,omitempty"`
}

// tableDef is what CreateTable defined; it is what the log persists for a table.
type tableDef struct {
	Name        string            `json:"name"`
	Keys        keySchema         `json:"keys"`
	Attrs       map[string]string `json:"attrs"`
	Indexes     []indexDef        `json:"indexes,omitempty"`
	Created     float64           `json:"created"`
	BillingMode string            `json:"billingMode,omitempty"`
}

// partition holds one partition key's items in sort-key order. Stored items are never
// changed in place: a write replaces the map, so readers may hold them after unlocking.
type partition struct{ items []Item }

type index struct {
	def   indexDef
	parts map[string]*partition
}

type table struct {
	def     tableDef
	parts   map[string]*partition
	indexes map[string]*index
	count   int
	bytes   int
}

func newTable(def tableDef) *table {
	t := &table{def: def, parts: map[string]*partition{}, indexes: map[string]*index{}}
	for _, ix := range def.Indexes {
		t.indexes[ix.Name] = &index{def: ix, parts: map[string]*partition{}}
	}
	return t
}

func partKey(v *AV) string { return v.T + ":" + v.S }

// cmpKeyValue orders two sort-key values (both of the key's declared scalar type).
func cmpKeyValue(a, b *AV) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	n, _ := compareScalar(a, b)
	return n
}

// cmpInTable orders items of one table partition.
func (t *table) cmpInTable(a, b Item) int {
	if t.def.Keys.Range == "" {
		return 0 // one item per partition (and a[""] may be an attribute named "")
	}
	return cmpKeyValue(a[t.def.Keys.Range], b[t.def.Keys.Range])
}

// cmpInIndex orders items of one index partition: by the index sort key, then by the
// table's key so that equal index keys keep a stable order for pagination.
func (t *table) cmpInIndex(ix *index, a, b Item) int {
	if ix.def.Keys.Range != "" {
		if c := cmpKeyValue(a[ix.def.Keys.Range], b[ix.def.Keys.Range]); c != 0 {
			return c
		}
	}
	if c := strings.Compare(partKey(a[t.def.Keys.Hash]), partKey(b[t.def.Keys.Hash])); c != 0 {
		return c
	}
	return t.cmpInTable(a, b)
}

func (t *table) find(key Item) (*partition, int, bool) {
	p := t.parts[partKey(key[t.def.Keys.Hash])]
	if p == nil {
		return nil, 0, false
	}
	i := sort.Search(len(p.items), func(i int) bool { return t.cmpInTable(p.items[i], key) >= 0 })
	return p, i, i < len(p.items) && t.cmpInTable(p.items[i], key) == 0
}

func (t *table) get(key Item) Item {
	p, i, ok := t.find(key)
	if !ok {
		return nil
	}
	return p.items[i]
}

// inIndex reports whether item appears in the index: both index key attributes present.
func inIndex(ix *index, item Item) bool {
	if item[ix.def.Keys.Hash] == nil {
		return false
	}
	return ix.def.Keys.Range == "" || item[ix.def.Keys.Range] != nil
}

func (t *table) indexPos(ix *index, item Item) (*partition, int) {
	p := ix.parts[partKey(item[ix.def.Keys.Hash])]
	if p == nil {
		return nil, 0
	}
	i := sort.Search(len(p.items), func(i int) bool { return t.cmpInIndex(ix, p.items[i], item) >= 0 })
	return p, i
}

// put stores item (replacing the item with its key) and returns the old one.
func (t *table) put(item Item) Item {
	old := t.remove(item)
	pk := partKey(item[t.def.Keys.Hash])
	p := t.parts[pk]
	if p == nil {
		p = &partition{}
		t.parts[pk] = p
	}
	i := sort.Search(len(p.items), func(i int) bool { return t.cmpInTable(p.items[i], item) >= 0 })
	p.items = insertAt(p.items, i, item)
	for _, ix := range t.indexes {
		if !inIndex(ix, item) {
			continue
		}
		ik := partKey(item[ix.def.Keys.Hash])
		ip := ix.parts[ik]
		if ip == nil {
			ip = &partition{}
			ix.parts[ik] = ip
		}
		j := sort.Search(len(ip.items), func(j int) bool { return t.cmpInIndex(ix, ip.items[j], item) >= 0 })
		ip.items = insertAt(ip.items, j, item)
	}
	t.count++
	t.bytes += item.size()
	return old
}

// remove deletes the item with key's key and returns it (nil if there was none).
func (t *table) remove(key Item) Item {
	p, i, ok := t.find(key)
	if !ok {
		return nil
	}
	old := p.items[i]
	p.items = append(p.items[:i], p.items[i+1:]...)
	if len(p.items) == 0 {
		delete(t.parts, partKey(key[t.def.Keys.Hash]))
	}
	for _, ix := range t.indexes {
		if !inIndex(ix, old) {
			continue
		}
		ip, j := t.indexPos(ix, old)
		if ip == nil || j >= len(ip.items) || t.cmpInIndex(ix, ip.items[j], old) != 0 {
			continue
		}
		ip.items = append(ip.items[:j], ip.items[j+1:]...)
		if len(ip.items) == 0 {
			delete(ix.parts, partKey(old[ix.def.Keys.Hash]))
		}
	}
	t.count--
	t.bytes -= old.size()
	return old
}

func insertAt(s []Item, i int, it Item) []Item {
	s = append(s, nil)
	copy(s[i+1:], s[i:])
	s[i] = it
	return s
}

// keyOf returns the table key attributes of item (plus the index key when ix is set),
// the form of LastEvaluatedKey.
func (t *table) keyOf(item Item, ix *index) Item {
	k := Item{t.def.Keys.Hash: item[t.def.Keys.Hash]}
	if t.def.Keys.Range != "" {
		k[t.def.Keys.Range] = item[t.def.Keys.Range]
	}
	if ix != nil {
		k[ix.def.Keys.Hash] = item[ix.def.Keys.Hash]
		if ix.def.Keys.Range != "" {
			k[ix.def.Keys.Range] = item[ix.def.Keys.Range]
		}
	}
	return k
}

// projectIndex cuts item down to what the index projects.
func (t *table) projectIndex(ix *index, item Item) Item {
	if ix == nil || ix.def.Projection == "ALL" || ix.def.Projection == "" {
		return item
	}
	out := t.keyOf(item, ix)
	for _, a := range ix.def.NonKey {
		if v := item[a]; v != nil {
			out[a] = v
		}
	}
	return out
}

// checkItemKeys refuses an item whose table or index key attributes are missing, empty
// or of the wrong type.
func (t *table) checkItemKeys(item Item) error {
	for name, v := range item {
		if name == "" {
			return validation("One or more parameter values were invalid: An attribute name may not be empty")
		}
		if err := checkValue(v); err != nil {
			return err
		}
	}
	for _, k := range []struct{ name, typ string }{{t.def.Keys.Hash, t.def.Keys.HashT}, {t.def.Keys.Range, t.def.Keys.RngT}} {
		if k.name == "" {
			continue
		}
		v := item[k.name]
		if v == nil {
			return validation("One or more parameter values were invalid: Missing the key %s in the item", k.name)
		}
		if v.T != k.typ {
			return validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.name, k.typ, v.T)
		}
		if (v.T == "S" || v.T == "B") && v.S == "" {
			return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", map[string]string{"S": "string", "B": "binary"}[v.T], k.name)
		}
		if err := checkKeySize(v, k.name == t.def.Keys.Hash); err != nil {
			return err
		}
	}
	for _, ix := range t.def.Indexes {
		for _, k := range []struct{ name, typ string }{{ix.Keys.Hash, ix.Keys.HashT}, {ix.Keys.Range, ix.Keys.RngT}} {
			if k.name == "" {
				continue
			}
			v := item[k.name]
			if v == nil {
				continue
			}
			if v.T != k.typ {
				return validation("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", k.name, k.typ, v.T, ix.Name)
			}
			if (v.T == "S" || v.T == "B") && v.S == "" {
				return validation("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s", map[string]string{"S": "string", "B": "binary"}[v.T], ix.Name, k.name)
			}
		}
	}
	if n := item.size(); n > 400*1024 {
		return validation("Item size has exceeded the maximum allowed size")
	}
	return nil
}

// checkKeySize refuses table key values DynamoDB cannot store: partition keys over 2048
// bytes, sort keys over 1024 (numbers are always small enough). Index keys are not
// checked: dynalite does not, and DynamoDB's documentation does not say.
func checkKeySize(v *AV, hash bool) error {
	if v.T == "N" {
		return nil
	}
	if hash && len(v.S) > 2048 {
		return validation("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes")
	}
	if !hash && len(v.S) > 1024 {
		return validation("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
	}
	return nil
}

// checkKey refuses a Key parameter that is not exactly the table's key.
func (t *table) checkKey(key Item) error {
	want := 1
	if t.def.Keys.Range != "" {
		want = 2
	}
	if len(key) != want || key[t.def.Keys.Hash] == nil || (t.def.Keys.Range != "" && key[t.def.Keys.Range] == nil) {
		return validation("The provided key element does not match the schema")
	}
	if key[t.def.Keys.Hash].T != t.def.Keys.HashT || (t.def.Keys.Range != "" && key[t.def.Keys.Range].T != t.def.Keys.RngT) {
		return validation("The provided key element does not match the schema")
	}
	return t.checkItemKeys(key)
}
