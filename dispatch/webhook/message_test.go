package webhook

import (
	"bytes"
	"encoding/json"
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
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		name string
		m    dispatch.Message
	}{
		{"zero", dispatch.Message{}},
		{"full", dispatch.Message{
			MessageID: "id-1", SenderID: "choreo", RecipientID: "agent-a", Action: "process_payment",
			Payload: dispatch.Payload{
				TriggerEvent: json.RawMessage(`{"specversion":"1.0","id":"e","source":"s","type":"t","data":{"a":[1,2]}}`),
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
		}},
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
