package condition

import (
	"encoding/json"
	"errors"
	"testing"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// TestRawMatchesDecoded checks that conditions see the same values whether
// the engine passes data as JSON text or decoded.
func TestRawMatchesDecoded(t *testing.T) {
	docs := []string{
		`{"a": 1, "b": "two", "c": true, "d": null, "e": [1, "x", {"f": 2}], "g": {"h": {"i": -1.5e3}}}`,
		` { "a" :1 , "b":"two","c" : true ,"d":null,"e":[ 1,"x",{"f":2} ],"g":{"h":{"i":-1500}} } `,
		`{"esc\"aped": "q\"uote", "a": "\u00e9t\u00e9", "b": "tab\there", "c": false, "d": 0, "e": [], "g": {}}`,
		`{"a": 1, "a": 2, "b": "first", "b": "last", "c": true, "d": null, "e": [], "g": {"h": 1}}`,
		`{"a": "{not an object}", "b": "]", "c": "\\", "d": "\\\"", "e": [[]], "g": {"h": "}"}}`,
		`{"a": "héllo wörld", "b": "😀", "c": 1e2, "d": -0, "e": [true], "g": {"h": [1, {"i": "j"}]}}`,
		`{}`,
	}
	exprs := []string{
		"data.a", "data.b", "data.c", "data.d", "data.e", "data.g", "data.g.h", "data.g.h.i",
		"data.?a.orValue('none')", "data.?zz.orValue('none')", "has(data.a)", "has(data.zz)",
		"'a' in data", "size(data)", "data == {}", "data.e.size()", `data['esc"aped']`,
		"[k for k in data]", "data.map(k, k)",
	}
	for _, doc := range docs {
		var decoded any
		if err := json.Unmarshal([]byte(doc), &decoded); err != nil {
			t.Fatalf("bad test document %s: %v", doc, err)
		}
		for _, expr := range exprs {
			// Compare the values as the program sees them, with
			// `x == y` where x reads raw text and y decoded data.
			p, err := theEnv.Compile(expr)
			if err != nil && err.Err() != nil {
				continue // not every expression is valid CEL (list comprehension syntax)
			}
			prg, perr := theEnv.Program(p)
			if perr != nil {
				t.Fatal(perr)
			}
			gotRaw, _, errRaw := prg.Eval(&activation{ctx: &fakeContext{data: json.RawMessage(doc)}})
			gotDec, _, errDec := prg.Eval(&activation{ctx: &fakeContext{data: decoded}})
			if (errRaw != nil) != (errDec != nil) {
				t.Errorf("%s on %s: raw error %v, decoded error %v", expr, doc, errRaw, errDec)
				continue
			}
			if errRaw != nil {
				continue
			}
			if !equalValues(gotRaw, gotDec) {
				t.Errorf("%s on %s: raw %v, decoded %v", expr, doc, gotRaw, gotDec)
			}
		}
	}
}

// equalValues compares CEL values, treating lists as ordered only when
// they came from arrays (map iteration order is unspecified).
func equalValues(a, b ref.Val) bool {
	if la, ok := a.(traits.Lister); ok {
		lb, ok := b.(traits.Lister)
		if !ok || la.Size() != lb.Size() {
			return false
		}
		// Same elements in any order.
		for i := types.Int(0); i < la.Size().(types.Int); i++ {
			if lb.Contains(la.Get(i)) != types.True {
				return false
			}
		}
		return true
	}
	return a.Equal(b) == types.True
}

func TestMalformedJSON(t *testing.T) {
	for _, doc := range []string{
		`{"a": }`, `{"a" 1}`, `{"a": 1,}`, `{a: 1}`, `{"a": "unterminated}`, `{"a": [1, 2}`,
		`{"a": 1 "b": 2}`, `{"a": tru}`, `{"a": 0x10}`, `{"a": -}`, `{"a": 1e}`, `{"a": "\x"}`,
		`[1, 2`, `"abc`, `nul`, `1 2`,
	} {
		v := jsonValue([]byte(doc))
		if m, ok := v.(traits.Mapper); ok {
			v, _ = m.Find(types.String("a"))
			if v == nil {
				v = m.Get(types.String("a"))
			}
		}
		if !types.IsError(v) {
			t.Errorf("jsonValue(%s)[a] = %v; want an error", doc, v)
			continue
		}
		if err, _ := v.Value().(error); err == nil || !(errors.Is(err, ErrJSON) || isMissing(v)) {
			t.Errorf("jsonValue(%s)[a] error = %v; want %v", doc, v, ErrJSON)
		}
	}
}

func isMissing(v ref.Val) bool {
	err, _ := v.Value().(error)
	return err != nil && err.Error() == "no such key: a"
}

// FuzzRawJSON checks that reading a key from JSON text never panics and,
// for well-formed objects, gives what encoding/json gives.
func FuzzRawJSON(f *testing.F) {
	f.Add(`{"a": 1, "b": {"c": [1, 2]}}`, "a")
	f.Add(`{"a\"b": "x\\", "a\"b": 2}`, `a"b`)
	f.Add(`{"é": "\u00e9"}`, "é")
	f.Add(`[1]`, "a")
	f.Fuzz(func(t *testing.T, doc, key string) {
		v := jsonValue([]byte(doc))
		m, isObject := v.(*jsonObject)
		if !isObject {
			return
		}
		got, found := m.Find(types.String(key))
		_ = m.Size()
		_ = m.Contains(types.String(key))
		var decoded map[string]any
		if json.Unmarshal([]byte(doc), &decoded) != nil || !json.Valid([]byte(doc)) {
			return
		}
		want, wantFound := decoded[key]
		if found != wantFound {
			t.Fatalf("Find(%q) in %s: found = %v; want %v", key, doc, found, wantFound)
		}
		if found && got.Equal(theProvider.NativeToValue(want)) != types.True {
			t.Fatalf("Find(%q) in %s = %v; want %v", key, doc, got, want)
		}
	})
}
