package event

import (
	"encoding/json"
	"testing"
	"time"
)

func TestJSONSize(t *testing.T) {
	for _, e := range []*Event{
		{},
		{SpecVersion: "1.0", ID: "a\"b\\c\n\x01\xff\u2028é", Source: "s", Type: "t", Hops: 12,
			Time:    time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("", 3600)),
			Subject: "x", DataContentType: "application/json", DataSchema: "u", CorrelationID: "c", CausationID: "d",
			Extensions: map[string]json.RawMessage{"a": []byte(`1`), "bb": []byte(`"x"`)}, Data: json.RawMessage(`{"k":[1,2]}`)},
		{SpecVersion: "1.0", DataBase64: []byte{1, 2, 3, 4}},
	} {
		if got, want := e.jsonSize(), len(e.AppendJSON(nil)); got != want {
			t.Errorf("jsonSize = %d, want %d for %s", got, want, e.AppendJSON(nil))
		}
	}
}

func FuzzJSONSize(f *testing.F) {
	f.Add(`{"specversion":"1.0","id":"x","source":"s","type":"t","hops":3,"ext":"\u2028","data":{"a":"\u00ff"}}`)
	f.Add("{\"data\":\"\xff\xc3\xa9\xe2\x82\"}")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Decode([]byte(s))
		if err != nil {
			// Events recorded before invalid UTF-8 was refused may hold
			// any bytes in their data and extensions.
			e = &Event{ID: s, Source: s, Data: []byte(s), Extensions: map[string]json.RawMessage{"x": []byte(s)}}
		}
		if got, want := e.jsonSize(), len(e.AppendJSON(nil)); got != want {
			t.Fatalf("jsonSize = %d, want %d", got, want)
		}
	})
}
