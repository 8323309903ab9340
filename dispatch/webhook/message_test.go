package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
)

// marshalStd is what encoding/json writes for m, without HTML escaping.
func marshalStd(t testing.TB, m *dispatch.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendMessageMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		m    dispatch.Message
	}{
		{"zero", dispatch.Message{}},
		{"full", sampleMessages()[1]},
		{"escapes", dispatch.Message{
			MessageID: "quote\" backslash\\ nl\n cr\r tab\t nul\x00 del\x7f",
			Action:    "<html>&amp; \u2028\u2029 é 日本 \xff\xfe bad",
			Payload: dispatch.Payload{ChoreographyContext: dispatch.ChoreographyContext{
				TriggerEventIDs: []string{}, RuleKind: "\x1f",
			}},
			CapabilitiesRequired: []string{"", "a\"b"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendMessage(nil, &tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if want := marshalStd(t, &tt.m); !bytes.Equal(got, want) {
				t.Errorf("appendMessage:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

func TestAppendMessageErrors(t *testing.T) {
	for name, m := range map[string]dispatch.Message{
		"trigger not JSON": {Payload: dispatch.Payload{TriggerEvent: json.RawMessage(`{"a":`)}},
		"year 10000":       {Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"negative year":    {Payload: dispatch.Payload{ChoreographyContext: dispatch.ChoreographyContext{TriggeredAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	} {
		if _, err := appendMessage(nil, &m); err == nil {
			t.Errorf("%s: appendMessage succeeded", name)
		}
	}
}

func FuzzAppendMessage(f *testing.F) {
	f.Add("id", "act", "corr", "cap", int64(0), 1)
	f.Add("\xff<\u2028\"\\\x01", "日本", "", "", int64(1700000000123456789), -5)
	f.Fuzz(func(t *testing.T, id, action, corr, capability string, nanos int64, hops int) {
		m := dispatch.Message{
			MessageID: id, Action: action, CorrelationID: corr,
			CapabilitiesRequired: []string{capability},
			Timestamp:            time.Unix(0, nanos).UTC(),
			Hops:                 hops,
		}
		got, err := appendMessage(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		if want := marshalStd(t, &m); !bytes.Equal(got, want) {
			t.Fatalf("appendMessage:\ngot  %s\nwant %s", got, want)
		}
	})
}

// sampleMessages are messages as the dispatcher sends them, and a few
// that take the slow path.
func sampleMessages() []dispatch.Message {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	full := dispatch.Message{
		MessageID: "0192f3a4-0000-8000-8000-000000000001", SenderID: "choreo", RecipientID: "agent-a", Action: "process_payment",
		Payload: dispatch.Payload{
			TriggerEvent: json.RawMessage(`{"specversion":"1.0","id":"e","source":"s","type":"t","data":{"a":[1,2],"s":"}\"{"}}`),
			Pattern:      "pay",
			ChoreographyContext: dispatch.ChoreographyContext{
				Choreography: "shop", PatternID: "pay", RuleKind: "pattern",
				TriggeredAt: t0, TriggerEventIDs: []string{"e1", "e2"},
			},
		},
		CapabilitiesRequired: []string{"payments"},
		Priority:             dispatch.PriorityHigh,
		CorrelationID:        "order-1",
		Timestamp:            t0.In(time.FixedZone("x", 5*3600+30*60)),
		Hops:                 3,
		Attempt:              -2,
	}
	noTrigger := full
	noTrigger.Payload.TriggerEvent = nil
	noTrigger.CapabilitiesRequired = nil
	escaped := full
	escaped.Action = "caf\u00e9 \"x\""
	return []dispatch.Message{{}, full, noTrigger, escaped}
}

// TestDecodeMessage: decodeMessage gives json.Unmarshal's answer, and the
// dispatcher's own messages take the fast path.
func TestDecodeMessage(t *testing.T) {
	for i, m := range sampleMessages() {
		b, err := appendMessage(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		checkDecode(t, b)
		var fast dispatch.Message
		if ok := decodeFast(b, &fast); ok != (i != 3) { // 3 has escapes
			t.Errorf("message %d: fast path taken = %v: %s", i, ok, b)
		}
	}
	for _, b := range []string{
		``, `null`, `{}`, `[]`, `{"message_id":"a"}`, `{"message_id":"a"} `, `{"MESSAGE_ID":"a"}`,
		`{"message_id":"a","message_id":"b"}`, `{"message_id":1}`, `{"hops":1.5}`, `{"hops":01}`,
		`{"timestamp":"2025-01-02T03:04:05"}`, `{"payload":{"trigger_event":{"a":}}}`,
	} {
		checkDecode(t, []byte(b))
	}
	// encoding/json limits the nesting of the whole message, in which the
	// trigger event sits two levels down.
	for _, depth := range []int{999, 1001, 9998, 9999, 10000} {
		m := sampleMessages()[1]
		m.Payload.TriggerEvent = json.RawMessage(`{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
		b, err := appendMessage(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		checkDecode(t, b)
	}
}

// checkDecode fails t unless decodeMessage and json.Unmarshal agree on b,
// and unless a fast-path decoding agrees with json.Unmarshal.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	var want, got, fast dispatch.Message
	wantErr := json.Unmarshal(b, &want)
	gotErr := decodeMessage(b, &got)
	if (gotErr == nil) != (wantErr == nil) || (wantErr == nil && !reflect.DeepEqual(got, want)) {
		t.Fatalf("decodeMessage(%q) = %+v, %v; json.Unmarshal: %+v, %v", b, got, gotErr, want, wantErr)
	}
	if decodeFast(b, &fast) && (wantErr != nil || !reflect.DeepEqual(fast, want)) {
		t.Fatalf("fast path on %q = %+v; json.Unmarshal: %+v, %v", b, fast, want, wantErr)
	}
}

// FuzzDecodeMessage checks decodeMessage against json.Unmarshal on
// arbitrary input, seeded with the dispatcher's messages.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := appendMessage(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

func BenchmarkDecodeMessage(b *testing.B) {
	m := sampleMessages()[1]
	body, err := appendMessage(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		fn   func([]byte, *dispatch.Message) error
	}{{"encoding_json", func(b []byte, m *dispatch.Message) error { return json.Unmarshal(b, m) }}, {"decodeMessage", decodeMessage}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var m dispatch.Message
				if err := impl.fn(body, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
