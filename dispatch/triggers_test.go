package dispatch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func cacheRecord(stream, id string, dataBytes int) *store.Record {
	return &store.Record{Stream: stream, Event: &event.Event{SpecVersion: "1.0", ID: id, Source: "s", Type: "t",
		DataContentType: "application/json", Data: []byte(`"` + strings.Repeat("x", dataBytes) + `"`)}}
}

// TestTriggerCacheBounds: the cache keeps copies of the latest events up
// to its count and its bytes, oldest out first, and leaves out system
// streams and large events.
func TestTriggerCacheBounds(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	ctx := context.Background()
	cached := func(c *triggers, id string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.byID[id]
		return ok
	}

	var c triggers
	rec := cacheRecord("order-1", "e0", 10)
	c.put(rec)
	rec.Event.Type = "changed" // the record's event is not the cached one
	if tr, err := c.get(ctx, st, "e0"); err != nil || tr == nil || tr.ev.Type != "t" || !strings.Contains(string(tr.json()), `"id":"e0"`) {
		t.Fatalf("get e0 = %+v, %v: want the copy cached", tr, err)
	}
	c.put(cacheRecord("$agents", "sys", 10))
	c.put(cacheRecord("order-1", "big", maxCachedTrigger+1))
	bin := cacheRecord("order-1", "bigbin", 0)
	bin.Event.Data, bin.Event.DataContentType, bin.Event.DataBase64 = nil, "application/octet-stream", make([]byte, maxCachedTrigger+1)
	c.put(bin)
	if cached(&c, "sys") || cached(&c, "big") || cached(&c, "bigbin") {
		t.Fatal("a system stream's event or a large event was cached")
	}

	// By count: the oldest go first.
	for i := 1; i <= triggerCacheSize+10; i++ {
		c.put(cacheRecord("order-1", fmt.Sprint("e", i), 10))
	}
	if c.n != triggerCacheSize || cached(&c, "e10") || !cached(&c, "e11") || !cached(&c, fmt.Sprint("e", triggerCacheSize+10)) {
		t.Fatalf("%d cached, e10 %v, e11 %v: want the latest %d", c.n, cached(&c, "e10"), cached(&c, "e11"), triggerCacheSize)
	}

	// By bytes: events of about 60 KiB, each kept in a buffer of 64 KiB,
	// at most 16 MiB of them.
	var b triggers
	for i := range 1000 {
		b.put(cacheRecord("order-1", fmt.Sprint("b", i), 60<<10))
	}
	if b.bytes > triggerCacheBytes || b.n < triggerCacheBytes/(64<<10) || !cached(&b, "b999") || cached(&b, "b0") {
		t.Fatalf("%d events of %d bytes cached: want the latest under %d bytes", b.n, b.bytes, triggerCacheBytes)
	}
	// Counts and the map agree.
	if len(b.byID) != b.n || len(c.byID) != c.n {
		t.Fatalf("map %d/%d, count %d/%d", len(b.byID), len(c.byID), b.n, c.n)
	}
}
