package pebble_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
)

// TestAppendDoesNotHoldEvents checks that the store keeps nothing of the
// events appended to it that would keep their memory: a decoded event's
// strings share one allocation with its whole text, data included, and
// the writer used to keep each event's id and each stream's name (2,000
// appends of 64 KiB events held about 150 MiB; 1,000 of 32 KiB, as here,
// about 40 MiB).
func TestAppendDoesNotHoldEvents(t *testing.T) {
	// Without fsync: what is measured is memory, not the disk.
	s, err := pebble.Open(t.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n, size = 1000, 32 << 10
	pad := strings.Repeat("x", size)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// The first appends fill the store's caches of recent records, which
	// are bounded: measure from there.
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
	for i := range n {
		appendOne(i)
	}
	before := heap()
	for i := n; i < 2*n; i++ {
		appendOne(i)
	}
	held := int64(heap()) - int64(before)
	t.Logf("%d appends of %d KiB events: heap grew %d KiB", n, size>>10, held>>10)
	if limit := int64(n * size / 8); held > limit {
		t.Fatalf("heap grew %d KiB over %d appends, over %d KiB: the store keeps the events' memory", held>>10, n, limit>>10)
	}
}
