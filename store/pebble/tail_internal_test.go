package pebble

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
)

func tailRecord(t *testing.T, g uint64, size int) []byte {
	t.Helper()
	e := &event.Event{SpecVersion: event.SpecVersion, ID: fmt.Sprint("e", g), Source: "s", Type: "t",
		Data: []byte(`"` + string(bytes.Repeat([]byte("x"), size)) + `"`)}
	v := appendRecordHead(nil, "stream", g, 1, time.Unix(0, int64(g)).UnixNano())
	return append(v, e.AppendBinary(nil)...)
}

// TestTailBounds fills the tail past its count and its bytes: it keeps
// the latest records, densely, and answers only reads that start within.
func TestTailBounds(t *testing.T) {
	var tl tail
	var g uint64
	push := func(n, size int) {
		vals := make([][]byte, n)
		for i := range vals {
			vals[i] = tailRecord(t, g+uint64(i), size)
		}
		tl.push(g, vals)
		g += uint64(n)
	}
	check := func() {
		t.Helper()
		if tl.first+uint64(tl.n) != g {
			t.Fatalf("tail holds %d…%d, want it to end at %d", tl.first, tl.first+uint64(tl.n), g)
		}
		if tl.n > tailRecords || (tl.bytes > tailBytes && tl.n > 1) {
			t.Fatalf("tail holds %d records, %d bytes", tl.n, tl.bytes)
		}
		var d decoder
		recs, ok, err := tl.read(tl.first, g, &d)
		if !ok || err != nil || len(recs) != tl.n {
			t.Fatalf("read from the oldest: %d records, ok %v, %v", len(recs), ok, err)
		}
		for i, r := range recs {
			if want := tl.first + uint64(i); r.GlobalPosition != want || r.Event.ID != fmt.Sprint("e", want) || r.StreamPosition != want {
				t.Fatalf("record %d: at %d, id %s", i, r.GlobalPosition, r.Event.ID)
			}
		}
		if tl.first > 0 {
			if _, ok, _ := tl.read(tl.first-1, g, &d); ok {
				t.Fatal("a read before the oldest record was answered")
			}
		}
		if _, ok, _ := tl.read(g, g+1, &d); ok {
			t.Fatal("a read past the newest record was answered")
		}
	}
	for range 3 {
		push(3000, 10)
		check()
	}
	if tl.n != tailRecords {
		t.Fatalf("tail holds %d records, want %d", tl.n, tailRecords)
	}
	push(40, 400<<10) // 16 MiB: the byte bound bites
	check()
	if tl.n >= 40 {
		t.Fatalf("tail holds %d records of 400 KiB", tl.n)
	}
	push(1, 2*tailBytes) // one record over the bound is kept alone
	check()
	if tl.n != 1 {
		t.Fatalf("tail holds %d records, want the last one only", tl.n)
	}
	// A gap (which the writer never makes) starts the tail afresh.
	g += 5
	push(10, 10)
	check()
	if tl.first != g-10 {
		t.Fatalf("after a gap the tail starts at %d, want %d", tl.first, g-10)
	}
}
