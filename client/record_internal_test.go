package client

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

const sampleRecord = `{"stream":"orders/\"7\"","stream_position":3,"global_position":42,"partition":17,"recorded":"2026-01-02T03:04:05.123456789Z",` +
	`"specversion":"1.0","id":"e1","source":"s","type":"t","correlationid":"c","tenant":"acme","data":{"a":[1,2]}}`

func TestDecodeRecord(t *testing.T) {
	in := []byte(sampleRecord)
	rec, err := DecodeRecord(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(in) != sampleRecord {
		t.Error("DecodeRecord left its input changed")
	}
	want := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	if rec.Stream != `orders/"7"` || rec.StreamPosition != 3 || rec.GlobalPosition != 42 || rec.Partition != 17 || !rec.Recorded.Equal(want) {
		t.Errorf("members %+v", rec)
	}
	if rec.Event == nil || rec.Event.ID != "e1" || string(rec.Event.Extensions["tenant"]) != `"acme"` || string(rec.Event.Data) != `{"a":[1,2]}` {
		t.Errorf("event %+v", rec.Event)
	}

	// Members in another order, as another implementation might write
	// them, go the slow way to the same result.
	reordered := `{"id":"e1","specversion":"1.0","partition":17,"source":"s","type":"t","global_position":42,"correlationid":"c",` +
		`"tenant":"acme","data":{"a":[1,2]},"stream_position":3,"recorded":"2026-01-02T03:04:05.123456789Z","stream":"orders/\"7\""}`
	slow, err := DecodeRecord([]byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(slow.Event.AppendJSON(nil), rec.Event.AppendJSON(nil)) || slow.Stream != rec.Stream || slow.GlobalPosition != rec.GlobalPosition ||
		slow.StreamPosition != rec.StreamPosition || slow.Partition != rec.Partition || !slow.Recorded.Equal(rec.Recorded) {
		t.Errorf("slow path %+v %s, fast %+v %s", slow, slow.Event.AppendJSON(nil), rec, rec.Event.AppendJSON(nil))
	}

	// A record with no event.
	bare, err := DecodeRecord([]byte(`{"stream":"s","stream_position":0,"global_position":1,"partition":2}`))
	if err != nil || bare.Event != nil || bare.GlobalPosition != 1 {
		t.Errorf("bare record %+v, %v", bare, err)
	}

	for _, bad := range []string{``, `[]`, `{"stream":1}`, `{"stream":"s"}`, `{"stream":"s","stream_position":-1,"global_position":0,"partition":0}`,
		`{"stream":"s","stream_position":0,"global_position":0,"partition":0,"recorded":"yesterday"}`,
		`{"stream":"s","stream_position":0,"global_position":0,"partition":0,"specversion":1}`} {
		if _, err := DecodeRecord([]byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("DecodeRecord(%s) = %v, want ErrProtocol", bad, err)
		}
	}
}

// FuzzDecodeRecord: no panics, the input is left as it was, and whatever
// the fast path reads the slow path reads the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(sampleRecord))
	f.Add([]byte(`{"stream":"s","stream_position":0,"global_position":1,"partition":2}`))
	f.Add([]byte(`{"stream":"s\u0041","stream_position":0,"global_position":1,"partition":2,"recorded":"2026-01-02T03:04:05Z","x":1}`))
	f.Add([]byte("{\"stream\":\"\x95\",\"stream_position\":0,\"global_position\":1,\"partition\":2}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		rec, err := DecodeRecord(b)
		if !bytes.Equal(b, orig) {
			t.Fatalf("input changed: %q", b)
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v, want ErrProtocol", err)
			}
			return
		}
		slow, serr := decodeRecordSlow(bytes.Clone(b))
		if serr != nil {
			t.Fatalf("fast path read %q, slow path fails: %v", b, serr)
		}
		if slow.Stream != rec.Stream || slow.StreamPosition != rec.StreamPosition || slow.GlobalPosition != rec.GlobalPosition ||
			slow.Partition != rec.Partition || !slow.Recorded.Equal(rec.Recorded) || (slow.Event == nil) != (rec.Event == nil) {
			t.Fatalf("fast %+v, slow %+v", rec, slow)
		}
		if rec.Event != nil && !bytes.Equal(rec.Event.AppendJSON(nil), slow.Event.AppendJSON(nil)) {
			t.Fatalf("events differ:\n%s\n%s", rec.Event.AppendJSON(nil), slow.Event.AppendJSON(nil))
		}
	})
}
