package webhook

import (
	"bytes"
	"errors"
	"testing"

	"github.com/choreohq/choreo/event"
)

func FuzzDecodeEvents(f *testing.F) {
	for _, s := range []string{
		``, ` `, `[]`, `{}`, `null`, `"x"`, `[null]`, `{"events":[]}`, `{"events":null}`,
		`{"type":"a"}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"a","time":"2025-01-01T00:00:00Z","data":{"k":[1,2]}}`,
		`[{"type":"a","data_base64":"AAE="},{"type":"b","hops":3,"ext1":"v"}]`,
		`{"status":"ok","events":[{"type":"a","correlationid":"c"}]}`,
		`{"Events":[{"type":"a"}]}`,
		`[{"type":"a"},{"type":"b"},{"type":"c"},{"type":"d"}]`,
		`{"type":"a","data":"\u00e9\ud800"}`,
		`[{"type":"a","data": { "x" : 1 } }]`,
	} {
		f.Add([]byte(s))
	}
	const maxEvents = 3
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := decodeEvents(body, maxEvents)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("error %v does not wrap ErrBadResponse", err)
			}
			if evs != nil {
				t.Fatalf("events with an error")
			}
			return
		}
		if len(evs) > maxEvents {
			t.Fatalf("%d events, over the limit of %d", len(evs), maxEvents)
		}
		// Every event is valid once filled, and the events survive a round
		// trip through the array form.
		var arr []byte
		arr = append(arr, '[')
		for i, e := range evs {
			if e == nil || e.Type == "" || e.SpecVersion != event.SpecVersion {
				t.Fatalf("event %d: %+v", i, e)
			}
			c := *e
			c.Fill()
			if c.Source == "" {
				c.Source = "agent"
			}
			if err := c.Validate(event.Limits{}); err != nil {
				t.Fatalf("event %d fails validation once filled: %v", i, err)
			}
			if i > 0 {
				arr = append(arr, ',')
			}
			arr = e.AppendJSON(arr)
		}
		arr = append(arr, ']')
		again, err := decodeEvents(arr, maxEvents)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", arr, err)
		}
		if len(again) != len(evs) {
			t.Fatalf("re-decoding gave %d events, want %d", len(again), len(evs))
		}
		for i := range evs {
			if a, b := evs[i].AppendJSON(nil), again[i].AppendJSON(nil); !bytes.Equal(a, b) {
				t.Fatalf("event %d changed in a round trip:\n%s\n%s", i, a, b)
			}
		}
	})
}
