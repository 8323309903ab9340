package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// The tests here check that what the dispatcher keeps past a record (keys
// of its maps, strings of its caches) does not keep the whole record in
// memory: a decoded record's strings share one allocation with the rest
// of it.

// heldHeap returns the bytes of live heap after collecting garbage.
func heldHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestDeadLetterQueueDoesNotHoldActions: the queue's key for a dead
// letter, the action id, used to be a piece of the action as decoded from
// the outbox, which holds the whole action: with 200 triggers, about 8 KiB
// a dead letter instead of about 120 bytes.
func TestDeadLetterQueueDoesNotHoldActions(t *testing.T) {
	d := bareDispatcher(nil)
	const n = 2000
	trig := make([]string, 200) // a threshold of 200 events
	for i := range trig {
		trig[i] = fmt.Sprintf("0193a4ef-0000-7000-8000-%012d", i)
	}
	size := 0
	before := heldHeap()
	for i := range n {
		src := engine.Action{ID: fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i), Action: "a", TargetCapability: "c",
			Choreography: "ch", RuleID: "r", RuleKind: "threshold_pattern", CorrelationID: "k", TriggerEventIDs: trig, Time: time.Now()}
		js := src.AppendJSON(nil)
		size = len(js)
		var a engine.Action // as the outbox decodes it
		if err := a.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		dl := &DeadLetter{ActionID: a.ID, Action: a, Reason: ReasonNoAgent}
		o := &outcome{action: &a, dead: dl, dlq: []*event.Event{{ID: "x"}}}
		d.land(context.Background(), &recordFlight{batch: []*outcome{o}, p: store.Settled(nil, nil), dead: map[string]uint64{"x": uint64(i)}})
	}
	if len(d.mu.dead) != n {
		t.Fatalf("%d dead letters queued, want %d", len(d.mu.dead), n)
	}
	held := heldHeap() - before
	t.Logf("%d dead letters of %d-byte actions hold %d KiB, %d B each", n, size, held>>10, held/n)
	if limit := int64(n * size / 16); held > limit {
		t.Fatalf("the queue holds %d KiB for %d dead letters, over %d KiB: it keeps the actions", held>>10, n, limit>>10)
	}
	runtime.KeepAlive(d)
}
