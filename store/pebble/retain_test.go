package pebble_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/heaptest"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
)

// TestAppendDoesNotHoldEvents checks that the store keeps nothing of the
// events appended to it that would keep their memory: a decoded event's
// strings share one allocation with its whole text, data included, and
// the writer used to keep each event's id and each stream's name (2,000
// appends of 64 KiB events held about 150 MiB). The events are small
// enough for both rounds to fit Pebble's first memtable: a memtable being
// replaced and flushed would count tens of MiB that have nothing to do
// with the events.
func TestAppendDoesNotHoldEvents(t *testing.T) {
	if raceEnabled {
		// Under the race detector, which also turns on Pebble's
		// invariant checks, the heap grew by 16 MiB over the measured
		// appends with the store keeping none of the events' strings
		// (under 1 MiB without it): the measure means nothing there.
		t.Skip("the heap grows for reasons of its own under the race detector")
	}
	// Without fsync: what is measured is memory, not the disk.
	s, err := pebble.Open(t.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n, size = 1000, 4 << 10
	pad := strings.Repeat("x", size)
	// The first appends fill the store's cache of recent records, which
	// is bounded: measure from there.
	appendOne := func(i int) {
		ev, err := event.Decode(fmt.Appendf(nil, `{"specversion":"1.0","id":"ev-%d","source":"agents/a","type":"t",`+
			`"correlationid":"corr-%d","data":{"pad":%q}}`, i, i, pad))
		if err != nil {
			t.Fatal(err)
		}
		// Each event to a stream of its own, named by a string of the
		// event, as the server's default stream is.
		if _, err := s.Append(ctx, ev.CorrelationID, store.Any, []*event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	const warm = 3 * n // over the tail's 8 MiB
	for i := range warm {
		appendOne(i)
	}
	before := heaptest.Live()
	for i := warm; i < warm+n; i++ {
		appendOne(i)
	}
	held := heaptest.Live() - before
	t.Logf("%d appends of %d KiB events: heap grew %d KiB", n, size>>10, held>>10)
	if limit := int64(n * size / 4); held > limit {
		t.Fatalf("heap grew %d KiB over %d appends, over %d KiB: the store keeps the events' memory", held>>10, n, limit>>10)
	}
}
