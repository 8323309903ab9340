package event_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/choreohq/choreo/event"
)

// TestDecodeRefusesInvalidUTF8 puts invalid UTF-8 into each part of a
// structured-mode event: Decode and DecodeValid must refuse it, with code
// invalid_field and the attribute named, rather than keep the bytes or
// replace them.
func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	const head = `{"specversion":"1.0","id":"1","source":"s","type":"t"`
	for _, tc := range []struct{ name, in, field string }{
		{"data string", head + ",\"data\":\"\xff\xfe\"}", "data"},
		{"data nested", head + ",\"data\":{\"a\":[1,\"ok\",\"x\xc3\"]}}", "data"},
		{"data object key", head + ",\"data\":{\"k\xff\":1}}", "data"},
		{"data with white space", head + ",\"data\": { \"a\" : \"\xff\" } }", "data"},
		{"data under text/plain", head + ",\"datacontenttype\":\"text/plain\",\"data\":\"\xff\"}", "data"},
		{"data under octet-stream", head + ",\"datacontenttype\":\"application/octet-stream\",\"data\":\"\xff\"}", "data"},
		{"surrogate half encoded", head + ",\"data\":\"\xed\xa0\x80\"}", "data"},
		{"overlong encoding", head + ",\"data\":\"\xc0\xaf\"}", "data"},
		{"truncated sequence", head + ",\"data\":\"\xe2\x82\"}", "data"},
		{"source", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\xff\",\"type\":\"t\"}", "source"},
		{"type", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"\xfet\"}", "type"},
		{"type with an escape too", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"\\n\xfe\"}", "type"},
		{"subject", head + ",\"subject\":\"\xff\"}", "subject"},
		{"specversion", "{\"specversion\":\"1.0\xff\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}", "specversion"},
		{"id", "{\"specversion\":\"1.0\",\"id\":\"\xff\",\"source\":\"s\",\"type\":\"t\"}", "id"},
		{"datacontenttype", head + ",\"datacontenttype\":\"text/\xff\"}", "datacontenttype"},
		{"dataschema", head + ",\"dataschema\":\"https://e.com/\xff\"}", "dataschema"},
		{"correlationid", head + ",\"correlationid\":\"c\xff\"}", "correlationid"},
		{"causationid", head + ",\"causationid\":\"c\xff\"}", "causationid"},
		{"time", head + ",\"time\":\"2026-01-01T00:00:00Z\xff\"}", "time"},
		{"data_base64", head + ",\"data_base64\":\"AA\xff\"}", "data_base64"},
		{"extension value", head + ",\"tenant\":\"ac\xffme\"}", "tenant"},
		{"extension name", head + ",\"ten\xffant\":\"acme\"}", "ten\uFFFDant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dec := range []struct {
				name string
				fn   func([]byte) (*event.Event, error)
			}{
				{"Decode", event.Decode},
				{"DecodeValid", func(b []byte) (*event.Event, error) { return event.DecodeValid(b, event.Limits{}) }},
			} {
				e, err := dec.fn([]byte(tc.in))
				var ee *event.Error
				if !errors.As(err, &ee) {
					t.Fatalf("%s: got %v (event %+v), want *event.Error", dec.name, err, e)
				}
				if ee.Code != event.CodeInvalidField || ee.Field != tc.field || !strings.Contains(ee.Msg, "UTF-8") {
					t.Errorf("%s: got code=%s field=%q (%v), want code=%s field=%q, not valid UTF-8",
						dec.name, ee.Code, ee.Field, err, event.CodeInvalidField, tc.field)
				}
			}
		})
	}
}

// TestDecodeKeepsValidUTF8 checks that what is refused above is refused
// for its bytes alone: the same events with valid text pass, escapes
// included, and come out as they went in.
func TestDecodeKeepsValidUTF8(t *testing.T) {
	in := `{"specversion":"1.0","id":"1","source":"café","type":"t\u00e9","subject":"日本",` +
		`"tenant":"ü","data":{"k€":"😀 \ud83d\ude00 \ufffd"}}`
	e, err := event.DecodeValid([]byte(in), event.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != "café" || e.Type != "té" || e.Subject != "日本" {
		t.Errorf("got source %q type %q subject %q", e.Source, e.Type, e.Subject)
	}
	if got, want := string(e.Data), `{"k€":"😀 \ud83d\ude00 \ufffd"}`; got != want {
		t.Errorf("data %s, want %s", got, want)
	}
}

// TestValidateRefusesInvalidUTF8 covers events built in Go and in the
// binary mode of the HTTP binding, which reach Validate without Decode.
func TestValidateRefusesInvalidUTF8(t *testing.T) {
	valid := func() *event.Event {
		return &event.Event{SpecVersion: "1.0", ID: "1", Source: "s", Type: "t", Data: json.RawMessage(`{"a":1}`)}
	}
	for _, tc := range []struct {
		name   string
		change func(*event.Event)
		field  string // "" when the event is valid
	}{
		{"json data", func(e *event.Event) { e.Data = json.RawMessage("\"\xff\"") }, "data"},
		{"json data, +json type", func(e *event.Event) {
			e.DataContentType = "application/vnd.x+json"
			e.Data = json.RawMessage("{\"a\":\"\xff\xfe\"}")
		}, "data"},
		{"json text under text/plain", func(e *event.Event) {
			e.DataContentType = "text/plain"
			e.Data = json.RawMessage("\"\xff\"")
		}, "data"},
		{"binary data under octet-stream", func(e *event.Event) {
			e.DataContentType = "application/octet-stream"
			e.Data, e.DataBase64 = nil, []byte{0xff, 0xfe, 0x00}
		}, ""},
		{"binary data with no content type", func(e *event.Event) { e.Data, e.DataBase64 = nil, []byte{0xff} }, ""},
		{"source", func(e *event.Event) { e.Source = "s\xff" }, "source"},
		{"type", func(e *event.Event) { e.Type = "\xff" }, "type"},
		{"subject", func(e *event.Event) { e.Subject = "\xc3" }, "subject"},
		{"datacontenttype", func(e *event.Event) { e.DataContentType = "application/json\xff" }, "datacontenttype"},
		{"dataschema", func(e *event.Event) { e.DataSchema = "\xff" }, "dataschema"},
		{"correlationid", func(e *event.Event) { e.CorrelationID = "\xff" }, "correlationid"},
		{"causationid", func(e *event.Event) { e.CausationID = "\xff" }, "causationid"},
		{"extension value", func(e *event.Event) { e.Extensions = map[string]json.RawMessage{"tenant": json.RawMessage("\"\xff\"")} }, "tenant"},
		{"U+FFFD in source is text", func(e *event.Event) { e.Source = "s\uFFFD" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.change(e)
			err := e.Validate(event.Limits{})
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var ee *event.Error
			if !errors.As(err, &ee) {
				t.Fatalf("got %v, want *event.Error", err)
			}
			if ee.Code != event.CodeInvalidField || ee.Field != tc.field {
				t.Errorf("got code=%s field=%q (%v), want code=%s field=%q", ee.Code, ee.Field, err, event.CodeInvalidField, tc.field)
			}
		})
	}
}

// TestAppendJSONRepairsOldEvents: events recorded before invalid UTF-8
// was refused come back from the log with it, as they are never validated
// again. Their JSON form must still be valid UTF-8, and decode.
func TestAppendJSONRepairsOldEvents(t *testing.T) {
	old := &event.Event{SpecVersion: "1.0", ID: "1", Source: "s\xff", Type: "t",
		Extensions: map[string]json.RawMessage{"tenant": json.RawMessage("\"a\xffb\"")},
		Data:       json.RawMessage("{\"k\":\"\xff\xfe\",\"n\":1}")}
	b := old.AppendBinary(nil)
	e, err := event.DecodeBinary(b)
	if err != nil {
		t.Fatalf("reading an old record: %v", err)
	}
	var shared event.Event
	if err := event.DecodeBinaryShared(b, &shared); err != nil {
		t.Fatalf("reading an old record, shared: %v", err)
	}
	out := e.AppendJSON(nil)
	if !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("output %q is not valid UTF-8 JSON", out)
	}
	want := `{"specversion":"1.0","id":"1","source":"s\ufffd","type":"t","tenant":"a\ufffdb","data":{"k":"\ufffd\ufffd","n":1}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if _, err := event.Decode(out); err != nil {
		t.Errorf("decoding the output: %v", err)
	}
	// Validate measures the size from the same encoding.
	if err := e.Validate(event.Limits{MaxSize: len(want)}); err == nil {
		t.Errorf("Validate accepted an old event with invalid UTF-8")
	}
}

// TestDecodeRefusesLoneSurrogates: a \u escape of half a UTF-16 surrogate
// pair without its other half names no character; decoded into a string
// attribute it would become U+FFFD, and the event would not be the one
// sent. Such attributes are refused, naming the attribute and the escape.
// A whole pair, an escaped backslash before "u", and a lone surrogate in
// data or an extension value (kept as sent, not decoded) pass unchanged.
func TestDecodeRefusesLoneSurrogates(t *testing.T) {
	const head = `{"specversion":"1.0","id":"1","source":"s","type":"t"`
	for _, tc := range []struct{ name, attr, esc string }{
		{"high alone", `"a\ud800b"`, `\ud800`},
		{"low alone", `"\udc00"`, `\udc00`},
		{"high at the end", `"x\uD83D"`, `\uD83D`},
		{"high then not low", `"\ud800\u0041"`, `\ud800`},
		{"high then high", `"\ud800\ud800\udc00"`, `\ud800`},
		{"low then high", `"\udfff\ud800"`, `\udfff`},
		{"after an escaped backslash", `"\\\udc00"`, `\udc00`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, field := range []string{"subject", "source", "correlationid"} {
				in := head + `,"` + field + `":` + tc.attr + `}`
				if field == "source" {
					in = `{"specversion":"1.0","id":"1","source":` + tc.attr + `,"type":"t"}`
				}
				_, err := event.Decode([]byte(in))
				var ee *event.Error
				if !errors.As(err, &ee) || ee.Code != event.CodeInvalidField || ee.Field != field || !strings.Contains(ee.Msg, tc.esc) {
					t.Errorf("%s: got %v, want %s refused for %s", in, err, field, tc.esc)
				}
			}
		})
	}
	for _, in := range []string{
		head + `,"subject":"\ud83d\ude00 \uD83D\uDE00"}`,
		head + `,"subject":"\\ud800"}`,
		head + `,"subject":"\ufffd\u00e9"}`,
		head + `,"data":{"x":"\ud800"}}`,
		head + `,"tenant":"\udc00"}`,
	} {
		e, err := event.Decode([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		back, err := event.Decode(e.AppendJSON(nil))
		if err != nil {
			t.Fatalf("%s: own output refused: %v", in, err)
		}
		if back.Subject != e.Subject || string(back.Data) != string(e.Data) || string(back.Extensions["tenant"]) != string(e.Extensions["tenant"]) {
			t.Errorf("%s: does not round-trip", in)
		}
	}
	var e event.Event
	if err := json.Unmarshal([]byte(head+`,"subject":"\ud83d\ude00"}`), &e); err != nil || e.Subject != "\U0001F600" {
		t.Errorf("a surrogate pair decodes to %q (%v)", e.Subject, err)
	}
}
