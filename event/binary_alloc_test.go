package event_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
)

// TestAppendBinaryAllocatesOnce checks that encoding an event into an
// empty buffer allocates once, whatever it holds: the buffer is sized
// for it up front.
func TestAppendBinaryAllocatesOnce(t *testing.T) {
	full, err := event.Decode([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300)
	cases := map[string]*event.Event{
		"full":    full,
		"minimal": {SpecVersion: "1.0", ID: "1", Source: "s", Type: "t"},
		"long fields": {SpecVersion: "1.0", ID: long, Source: long, Type: long, Subject: long, CorrelationID: long,
			CausationID: long, Time: time.Date(-300, 1, 1, 0, 0, 0, 999_999_999, time.FixedZone("x", -50400)), Hops: 1 << 30,
			Extensions: map[string]json.RawMessage{long: json.RawMessage(`"` + long + `"`), "b": json.RawMessage(`1`)},
			DataBase64: []byte(long)},
		"big data": {SpecVersion: "1.0", ID: "1", Source: "s", Type: "t", Data: json.RawMessage(`"` + strings.Repeat("y", 100_000) + `"`)},
	}
	for name, e := range cases {
		want := e.AppendBinary(nil)
		if n := testing.AllocsPerRun(20, func() { _ = e.AppendBinary(nil) }); n != 1 && !raceEnabled {
			t.Errorf("%s: AppendBinary(nil) allocated %v times, want 1", name, n)
		}
		if b := e.BinarySize(); len(want) != b {
			t.Errorf("%s: encoding of %d bytes, BinarySize says %d", name, len(want), b)
		}
		buf := make([]byte, 7, 7+e.BinarySize())
		if got := e.AppendBinary(buf); &got[0] != &buf[0] || string(got[7:]) != string(want) {
			t.Errorf("%s: AppendBinary into a buffer with BinarySize room grew it or wrote something else", name)
		}
		back, err := event.DecodeBinary(want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := back.AppendBinary(nil); string(got) != string(want) {
			t.Errorf("%s: does not round-trip", name)
		}
	}
}
