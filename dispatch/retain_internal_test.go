package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/heaptest"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// The tests here check that what the dispatcher keeps past a record (keys
// of its maps, strings of its caches) does not keep the whole record in
// memory: a decoded record's strings share one allocation with the rest
// of it.

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
	before := heaptest.Live()
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
	held := heaptest.Live() - before
	t.Logf("%d dead letters of %d-byte actions hold %d KiB, %d B each", n, size, held>>10, held/n)
	if limit := int64(n * size / 16); held > limit {
		t.Fatalf("the queue holds %d KiB for %d dead letters, over %d KiB: it keeps the actions", held>>10, n, limit>>10)
	}
	runtime.KeepAlive(d)
}

// copyingStore is a mem.Store whose Get decodes a new copy of the record,
// as a store on disk does.
type copyingStore struct{ *mem.Store }

func (s copyingStore) Get(ctx context.Context, id string) (store.Record, error) {
	rec, err := s.Store.Get(ctx, id)
	if err != nil {
		return rec, err
	}
	ev, err := event.DecodeBinary(rec.Event.AppendBinary(nil))
	if err != nil {
		return store.Record{}, err
	}
	rec.Event = ev
	return rec, nil
}

// TestTriggerCacheCountsWhatItHolds: an event the trigger cache reads from
// the log is counted against its bound at the size it holds. It used to
// be counted as len(Data), nothing for an event with data_base64, so the
// cache's 16 MiB could hold its 4,096 events of any size.
func TestTriggerCacheCountsWhatItHolds(t *testing.T) {
	ms := mem.New(store.Options{})
	defer ms.Close()
	st := copyingStore{ms}
	const n, size = 100, 512 << 10 // three times the cache's bound
	blob := make([]byte, size)
	for i := range n {
		ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("big-", i), Source: "s", Type: "t", Time: time.Now(), DataBase64: blob}
		if _, err := st.Append(context.Background(), "s", store.Any, []*event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	var c triggers
	before := heaptest.Live()
	for i := range n {
		id := fmt.Sprint("big-", i)
		tr, err := c.get(context.Background(), st, id)
		if err != nil || tr == nil || tr.ev.ID != id || len(tr.ev.DataBase64) != size {
			t.Fatalf("get %s: %v, %v", id, tr, err)
		}
	}
	held := heaptest.Live() - before
	t.Logf("%d events of %d KiB: %d cached, %d KiB counted, %d KiB held", n, size>>10, c.n, c.bytes>>10, held>>10)
	if c.bytes > triggerCacheBytes {
		t.Fatalf("the cache counts %d KiB, over its bound of %d KiB", c.bytes>>10, triggerCacheBytes>>10)
	}
	if limit := int64(triggerCacheBytes + triggerCacheBytes/4); held > limit {
		t.Fatalf("the cache holds %d KiB, over %d KiB, and counts %d KiB", held>>10, limit>>10, c.bytes>>10)
	}
	runtime.KeepAlive(&c)
}

// TestRuleStatsDoNotHoldDeliveries: the stats of a rule first seen in a
// delivery record during recovery used to keep their strings, and their
// key, as pieces of that record's decoded copy: the whole record, up to
// about 256 KiB a rule.
func TestRuleStatsDoNotHoldDeliveries(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	const rules, per = 64, 300 // about 128 KiB a record
	size := 0
	for r := range rules {
		ds := Deliveries{}
		for i := range per {
			ds.Deliveries = append(ds.Deliveries, Delivered{ActionID: fmt.Sprintf("a-%d-%d", r, i), Action: "x",
				Choreography: "c", RuleID: fmt.Sprint("rule-", r), Agent: "ag", Attempts: 1, DurationMS: 1,
				Results: []string{strings.Repeat("r", 400)}})
		}
		ev := &event.Event{SpecVersion: "1.0", Source: Source, Type: DeliveredType, Time: time.Now().UTC(),
			DataContentType: "application/json", Data: ds.appendJSON(nil)}
		size = len(ev.Data)
		if _, err := st.Append(context.Background(), live.ActionsStream, store.Any, []*event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	d := bareDispatcher(st)
	before := heaptest.Live()
	if _, _, err := d.recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(d.Metrics().Rules); got != rules {
		t.Fatalf("%d rules in the metrics, want %d", got, rules)
	}
	held := heaptest.Live() - before
	t.Logf("the stats of %d rules from %d-byte records hold %d KiB", rules, size, held>>10)
	if limit := int64(rules * size / 16); held > limit {
		t.Fatalf("the stats of %d rules hold %d KiB, over %d KiB: they keep the delivery records", rules, held>>10, limit>>10)
	}
	runtime.KeepAlive(d)
}
