package engine

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestLookupKey(t *testing.T) {
	tests := []struct {
		data, key, want string
		ok              bool
	}{
		{`{"a":"x","b":2}`, "a", "x", true},
		{`{"a":"x","b":2}`, "b", "2", true},
		{` { "a" : [1, {"b":"}"}] , "b" : true } `, "b", "true", true},
		{`{"a":[1,{"b":"}"}]}`, "b", "", false},
		{`{"a":{"b":1}}`, "a", `{"b":1}`, true},
		{`{"a":null}`, "a", "", false},
		{`{"a":1,"a":2}`, "a", "2", true},
		{`{"a\u0062":"esc"}`, "ab", "esc", true},
		{`{"a":"q\"uote"}`, "a", `q"uote`, true},
		{`{}`, "a", "", false},
		{`[1]`, "a", "", false},
		{`{"a":1`, "a", "", false},
		{``, "a", "", false},
	}
	for _, tc := range tests {
		v, ok := lookupKey([]byte(tc.data), tc.key)
		if ok != tc.ok || (ok && string(v.appendText(nil)) != tc.want) {
			t.Errorf("lookupKey(%s, %q): got %q %v, want %q %v", tc.data, tc.key, v.appendText(nil), ok, tc.want, tc.ok)
		}
	}
}

// FuzzLookupKey checks lookupKey against encoding/json on valid objects.
func FuzzLookupKey(f *testing.F) {
	f.Add([]byte(`{"order_id":"o-1","n":1}`), "order_id")
	f.Add([]byte(`{"a":[1,{"b":"}"}],"b":null,"b":"x"}`), "b")
	f.Add([]byte(`{"a\u00e9":{"x":[]}}`), "aé")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		v, ok := lookupKey(data, key)
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return // not an object: any answer will do, as long as nothing panics
		}
		want, has := m[key]
		has = has && string(want) != "null"
		if ok != has {
			t.Fatalf("lookupKey(%s, %q): got %v, want %v", data, key, ok, has)
		}
		if ok && !bytes.Equal(compact(t, v), compact(t, want)) {
			t.Fatalf("lookupKey(%s, %q): got %s, want %s", data, key, v, want)
		}
	})
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return buf.Bytes()
}
