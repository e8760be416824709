package ddblocal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzWriteJSONString holds writeJSONString to json.Marshal's output, byte for byte.
func FuzzWriteJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ back`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"ünïcödé ✓", "\u2028\u2029", "bad \xff\xfe utf8", "\xed\xa0\x80 surrogate", "emoji 🚀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Skip()
		}
		var buf bytes.Buffer
		writeJSONString(&buf, s)
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("writeJSONString(%q) = %s, json.Marshal = %s", s, buf.Bytes(), want)
		}
	})
}

// FuzzAVParser holds the one-pass reader to the general one: on any valid JSON it
// either declines, or reads exactly what unmarshalSlow reads, without error.
func FuzzAVParser(f *testing.F) {
	for _, s := range []string{`{"S":"x"}`, `{"N":"-012.50"}`, `{"B":"aGk="}`, `{"BOOL":false}`, `{"NULL":true}`,
		`{"L":[{"S":"a"},{"N":"1"},{"L":[]}]}`, `{"M":{"k":{"M":{"deep":{"S":"v\u00e9\n"}}},"x":{"BOOL":true}}}`,
		`{"M":{}}`, `{"SS":["a","b"]}`, `{"S":null}`, `{}`, `{"S":"a","N":"1"}`, `{"M":{"a":{"S":"1"},"a":{"S":"2"}}}`,
		`{"N":"not a number"}`, `{"B":"!!"}`, `{"NULL":false}`, ` { "S" : "spaced" } `, `{"\u0053":"escaped key"}`, `{"S":"bad \xff"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			t.Skip()
		}
		var fast AV
		p := avParser{b: b}
		ok := p.value(&fast, 0) && p.end()
		var slow AV
		err := slow.unmarshalSlow(b)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("%s: the one-pass reader accepted what unmarshalSlow refuses (%v)", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s: one-pass %+v, unmarshalSlow %+v", b, fast, slow)
		}
	})
}
