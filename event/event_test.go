package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/fnv"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/choreohq/choreo/event"
)

const full = `{"specversion":"1.0","id":"a1","source":"agent/orders","type":"order_received",` +
	`"subject":"o-1","time":"2026-03-01T10:00:00.123456789+02:00","datacontenttype":"application/json",` +
	`"dataschema":"https://example.com/s","correlationid":"order-1","causationid":"c0","hops":3,` +
	`"tenant":"acme","trace":42,"vip":true,"data":{"order_value":12.5,"items":["a","b"],"note":"x\"y"}}`

func TestJSONRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"full", full},
		{"minimal", `{"specversion":"1.0","id":"1","source":"s","type":"t"}`},
		{"string data", `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":"hello\nworld"}`},
		{"binary data", `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="}`},
		{"unicode", `{"specversion":"1.0","id":"ü\u00e9","source":"s","type":"t\u2028","data":[1,2,{"k":null}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := event.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			out := e.AppendJSON(nil)
			e2, err := event.Decode(out)
			if err != nil {
				t.Fatalf("decoding own output %s: %v", out, err)
			}
			if !reflect.DeepEqual(e, e2) {
				t.Errorf("round trip changed the event:\n got %#v\nwant %#v", e2, e)
			}
			if out2 := e2.AppendJSON(nil); !bytes.Equal(out, out2) {
				t.Errorf("encoding not stable:\n%s\n%s", out, out2)
			}
			// The same JSON value as the input, attribute for attribute.
			var a, b map[string]any
			json.Unmarshal([]byte(tc.in), &a)
			json.Unmarshal(out, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("JSON differs:\n got %s\nwant %s", out, tc.in)
			}
			bin := e.AppendBinary(nil)
			e3, err := event.DecodeBinary(bin)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := e3.AppendJSON(nil), out; !bytes.Equal(got, want) {
				t.Errorf("binary round trip:\n got %s\nwant %s", got, want)
			}
			var e4 event.Event
			if err := event.DecodeBinaryShared(bin, &e4); err != nil {
				t.Fatal(err)
			}
			if got, want := e4.AppendJSON(nil), out; !bytes.Equal(got, want) {
				t.Errorf("shared binary round trip:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestDecodeKeepsDetails(t *testing.T) {
	e, err := event.Decode([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if e.Hops != 3 || e.CorrelationID != "order-1" || e.CausationID != "c0" {
		t.Errorf("extensions: got hops=%d corr=%q cause=%q", e.Hops, e.CorrelationID, e.CausationID)
	}
	if got := string(e.Extensions["trace"]); got != "42" {
		t.Errorf("unknown extension trace = %q, want 42", got)
	}
	if _, off := e.Time.Zone(); off != 7200 || e.Time.Nanosecond() != 123456789 {
		t.Errorf("time = %v, want offset +02:00 and nanoseconds kept", e.Time)
	}
	spaced := strings.Replace(full, `{"order_value":12.5,`, "{ \"order_value\" :\n 12.5 ,", 1)
	e2, err := event.Decode([]byte(spaced))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e2.Data, e.Data) {
		t.Errorf("data with white space not compacted: %s", e2.Data)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, code, field string }{
		{"not object", `[1]`, event.CodeInvalidJSON, ""},
		{"empty", ``, event.CodeInvalidJSON, ""},
		{"truncated", `{"id":"1"`, event.CodeInvalidJSON, ""},
		{"trailing", `{"id":"1"} x`, event.CodeInvalidJSON, ""},
		{"trailing comma", `{"id":"1",}`, event.CodeInvalidJSON, ""},
		{"bad time", `{"time":"yesterday"}`, event.CodeInvalidField, "time"},
		{"id not string", `{"id":7}`, event.CodeInvalidField, "id"},
		{"hops negative", `{"hops":-1}`, event.CodeInvalidField, "hops"},
		{"hops fraction", `{"hops":1.5}`, event.CodeInvalidField, "hops"},
		{"bad base64", `{"data_base64":"!!"}`, event.CodeInvalidField, "data_base64"},
		{"extension object", `{"ext":{"a":1}}`, event.CodeInvalidField, "ext"},
		{"extension name", `{"Bad-Name":"x"}`, event.CodeInvalidField, "Bad-Name"},
		{"duplicate", `{"id":"1","id":"2"}`, event.CodeInvalidJSON, "id"},
		{"bad data", `{"data":{"a":}}`, event.CodeInvalidJSON, ""},
		{"leading zero", `{"data":01}`, event.CodeInvalidJSON, ""},
		{"control char", "{\"id\":\"a\x01\"}", event.CodeInvalidJSON, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := event.Decode([]byte(tc.in))
			var ee *event.Error
			if !errors.As(err, &ee) {
				t.Fatalf("got %v, want *event.Error", err)
			}
			if ee.Code != tc.code || ee.Field != tc.field {
				t.Errorf("got code=%s field=%q (%v), want code=%s field=%q", ee.Code, ee.Field, err, tc.code, tc.field)
			}
			if !errors.Is(err, event.ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() *event.Event {
		return &event.Event{SpecVersion: "1.0", ID: "1", Source: "s", Type: "t", Data: json.RawMessage(`{"a":1}`)}
	}
	for _, tc := range []struct {
		name   string
		change func(*event.Event)
		lim    event.Limits
		code   string
		field  string
	}{
		{"valid", func(*event.Event) {}, event.Limits{}, "", ""},
		{"missing specversion", func(e *event.Event) { e.SpecVersion = "" }, event.Limits{}, event.CodeMissingField, "specversion"},
		{"wrong specversion", func(e *event.Event) { e.SpecVersion = "0.3" }, event.Limits{}, event.CodeInvalidField, "specversion"},
		{"missing id", func(e *event.Event) { e.ID = "" }, event.Limits{}, event.CodeMissingField, "id"},
		{"missing source", func(e *event.Event) { e.Source = "" }, event.Limits{}, event.CodeMissingField, "source"},
		{"missing type", func(e *event.Event) { e.Type = "" }, event.Limits{}, event.CodeMissingField, "type"},
		{"data not json", func(e *event.Event) { e.Data = json.RawMessage(`{oops`) }, event.Limits{}, event.CodeInvalidField, "data"},
		{"data not json, +json type", func(e *event.Event) {
			e.DataContentType = "application/cloudevents+json; charset=utf-8"
			e.Data = json.RawMessage(`nope`)
		}, event.Limits{}, event.CodeInvalidField, "data"},
		{"text data under text type", func(e *event.Event) {
			e.DataContentType = "text/plain"
			e.Data = json.RawMessage(`"plain"`)
		}, event.Limits{}, "", ""},
		{"both data forms", func(e *event.Event) { e.DataBase64 = []byte{1} }, event.Limits{}, event.CodeInvalidField, "data"},
		{"reserved extension", func(e *event.Event) { e.Extensions = map[string]json.RawMessage{"time": []byte(`"x"`)} }, event.Limits{}, event.CodeInvalidField, "time"},
		{"over default size", func(e *event.Event) { e.Data = json.RawMessage(`"` + strings.Repeat("x", 1<<20) + `"`) }, event.Limits{}, event.CodeTooLarge, ""},
		{"over set size", func(*event.Event) {}, event.Limits{MaxSize: 40}, event.CodeTooLarge, ""},
		{"id at the length limit", func(e *event.Event) { e.ID = strings.Repeat("x", event.MaxAttributeLen) }, event.Limits{}, "", ""},
		{"id over the length limit", func(e *event.Event) { e.ID = strings.Repeat("x", event.MaxAttributeLen+1) }, event.Limits{}, event.CodeInvalidField, "id"},
		{"long source", func(e *event.Event) { e.Source = strings.Repeat("s", 600) }, event.Limits{}, event.CodeInvalidField, "source"},
		{"long type", func(e *event.Event) { e.Type = strings.Repeat("t", 600) }, event.Limits{}, event.CodeInvalidField, "type"},
		{"long subject", func(e *event.Event) { e.Subject = strings.Repeat("t", 600) }, event.Limits{}, event.CodeInvalidField, "subject"},
		{"long correlation", func(e *event.Event) { e.CorrelationID = strings.Repeat("c", 600) }, event.Limits{}, event.CodeInvalidField, "correlationid"},
		{"long causation", func(e *event.Event) { e.CausationID = strings.Repeat("c", 600) }, event.Limits{}, event.CodeInvalidField, "causationid"},
		{"id with a newline", func(e *event.Event) { e.ID = "a\nb" }, event.Limits{}, event.CodeInvalidField, "id"},
		{"correlation with invalid UTF-8", func(e *event.Event) { e.CorrelationID = "order-\xff" }, event.Limits{}, event.CodeInvalidField, "correlationid"},
		{"causation with DEL", func(e *event.Event) { e.CausationID = "a\x7f" }, event.Limits{}, event.CodeInvalidField, "causationid"},
		{"non-ASCII ids", func(e *event.Event) { e.ID, e.CorrelationID = "commande-é", "順序-1" }, event.Limits{}, "", ""},
		{"subject with a newline", func(e *event.Event) { e.Subject = "line 1\nline 2" }, event.Limits{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.change(e)
			err := e.Validate(tc.lim)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var ee *event.Error
			if !errors.As(err, &ee) || ee.Code != tc.code || ee.Field != tc.field {
				t.Fatalf("got %v, want code=%s field=%q", err, tc.code, tc.field)
			}
		})
	}
}

func TestFill(t *testing.T) {
	e := &event.Event{SpecVersion: "1.0", Source: "s", Type: "t"}
	e.Fill()
	if len(e.ID) != 36 || e.CorrelationID != e.ID || e.Correlation() != e.ID {
		t.Errorf("Fill: id=%q correlation=%q", e.ID, e.CorrelationID)
	}
	e2 := &event.Event{ID: "x", CorrelationID: "order-1"}
	e2.Fill()
	if e2.ID != "x" || e2.CorrelationID != "order-1" {
		t.Errorf("Fill changed given ids: %+v", e2)
	}
}

func TestNewIDOrderedAndUnique(t *testing.T) {
	const n = 100000
	seen := make(map[string]bool, n)
	prev := ""
	for range n {
		id := event.NewID()
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("ids out of order: %s after %s", id, prev)
		}
		if id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("not a UUIDv7: %s", id)
		}
		prev = id
	}
}

func TestPartitionIsFNV1a(t *testing.T) {
	for _, id := range []string{"", "order-1", "ü", strings.Repeat("z", 100)} {
		h := fnv.New32a()
		h.Write([]byte(id))
		if got, want := event.Partition(id, 64), h.Sum32()%64; got != want {
			t.Errorf("Partition(%q) = %d, want %d", id, got, want)
		}
	}
}

func TestDecodeBinaryCorrupt(t *testing.T) {
	e, _ := event.Decode([]byte(full))
	b := e.AppendBinary(nil)
	for i := range len(b) {
		if _, err := event.DecodeBinary(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":"x"}`))
	f.Add([]byte(`{"data_base64":"AAEC","x1":1.5e10}`))
	f.Add([]byte("{\"source\":\"\\u00e9\xc3\xa9\",\"x1\":\"\xff\",\"data\":{\"\xe2\x82\":1}}"))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"\ud83d\ude00\udc00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.Decode(b)
		if err != nil {
			return
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("accepted invalid JSON text %q", b)
		}
		// A U+FFFD in a decoded attribute was sent, not put in the place
		// of a lone surrogate.
		if !bytes.Contains(bytes.ToLower(b), []byte(`\ufffd`)) && !bytes.ContainsRune(b, utf8.RuneError) {
			for _, v := range []string{e.SpecVersion, e.ID, e.Source, e.Type, e.Subject, e.DataContentType,
				e.DataSchema, e.CorrelationID, e.CausationID} {
				if strings.ContainsRune(v, utf8.RuneError) {
					t.Fatalf("%q decoded to an attribute with U+FFFD: %q", b, v)
				}
			}
		}
		out := e.AppendJSON(nil)
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("own output %q is not valid JSON text", out)
		}
		e2, err := event.Decode(out)
		if err != nil {
			t.Fatalf("own output %q rejected: %v", out, err)
		}
		if out2 := e2.AppendJSON(nil); !bytes.Equal(out, out2) {
			t.Fatalf("unstable encoding:\n%q\n%q", out, out2)
		}
		bin := e.AppendBinary(nil)
		if len(bin) != e.BinarySize() {
			t.Fatalf("binary encoding of %d bytes, BinarySize says %d", len(bin), e.BinarySize())
		}
		e3, err := event.DecodeBinary(bin)
		if err != nil {
			t.Fatal(err)
		}
		if out3 := e3.AppendJSON(nil); !bytes.Equal(out, out3) {
			t.Fatalf("binary round trip:\n%q\n%q", out, out3)
		}
		_ = e.Validate(event.Limits{})
	})
}

func BenchmarkDecode(b *testing.B) {
	in := []byte(full)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	e, _ := event.Decode([]byte(full))
	in := e.AppendBinary(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.DecodeBinary(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	e, _ := event.Decode([]byte(full))
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
}

func FuzzDecodeBinary(f *testing.F) {
	e, _ := event.Decode([]byte(full))
	f.Add(e.AppendBinary(nil))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.DecodeBinary(b)
		var shared event.Event
		err2 := event.DecodeBinaryShared(b, &shared)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("copying and shared decoders disagree: %v vs %v", err, err2)
		}
		if err != nil {
			return
		}
		bin := e.AppendBinary(nil)
		if !bytes.Equal(bin, shared.AppendBinary(nil)) {
			t.Fatal("copying and shared decoders decoded differently")
		}
		if len(bin) != e.BinarySize() {
			t.Fatalf("binary encoding of %d bytes, BinarySize says %d", len(bin), e.BinarySize())
		}
	})
}
