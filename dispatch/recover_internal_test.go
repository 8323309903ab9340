package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

// appendActions appends to stream, in batches, the records rec makes of
// n actions numbered from 0, each of its own order.
func appendActions(t testing.TB, st store.Store, stream string, n int, rec func(a *engine.Action, i int) *event.Event) {
	t.Helper()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	batch := make([]*event.Event, 0, 500)
	for i := range n {
		a := engine.Action{ID: fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i), Action: "check_inventory",
			TargetCapability: "inventory_management", Priority: 8, Choreography: "ecommerce", RuleID: "order_received",
			RuleKind: engine.KindPattern, CorrelationID: fmt.Sprint("order-", i), Time: t0,
			TriggerEventIDs: []string{fmt.Sprintf("0193a4ef-0000-7000-8000-%012d", i)}}
		batch = append(batch, rec(&a, i))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.Append(context.Background(), stream, store.Any, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// backlog appends n actions, none done, to st's outbox.
func backlog(t testing.TB, st store.Store, n int) {
	t.Helper()
	appendActions(t, st, live.ActionsStream, n, func(a *engine.Action, _ int) *event.Event { return live.ActionEvent(a) })
}

// bareDispatcher is a dispatcher over st with nothing to deliver to, for
// calling recovery directly.
func bareDispatcher(st store.Store) *Dispatcher {
	d := &Dispatcher{st: st, cfg: Config{Logger: slog.New(slog.DiscardHandler)}.withDefaults()}
	d.log = d.cfg.Logger
	d.m.rules = make(map[ruleKey]*RuleStats)
	return d
}

// benchRecover runs recovery over st b.N times, checks each run with
// check, and reports the heap recovery holds afterwards per item of n,
// under unit, and the items recovered per second.
func benchRecover(b *testing.B, st store.Store, n int, unit string, check func(d *Dispatcher, open []openAction) error) {
	d := bareDispatcher(st)
	var held float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		d.mu.dead = nil
		d.m.rules = make(map[ruleKey]*RuleStats)
		before := heapInUse()
		b.StartTimer()
		open, _, err := d.recover(context.Background())
		b.StopTimer()
		if err == nil {
			err = check(d, open)
		}
		if err != nil {
			b.Fatal(err)
		}
		held = float64(heapInUse()-before) / float64(n)
		runtime.KeepAlive(open)
	}
	b.ReportMetric(held, "B/"+unit)
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), unit+"s/s")
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestRecoveryReadsOpenActionsAgain: recovery hands back every open
// action, in order, read again from the outbox, across read batches.
func TestRecoveryReadsOpenActionsAgain(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	backlog(t, st, 3000) // spans several read batches
	d := bareDispatcher(st)
	// Done: every third action.
	var done Deliveries
	for i := 0; i < 3000; i += 3 {
		done.Deliveries = append(done.Deliveries, Delivered{ActionID: fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i)})
	}
	rec := &event.Event{SpecVersion: event.SpecVersion, ID: "d1", Source: Source, Type: DeliveredType,
		DataContentType: "application/json", Data: done.appendJSON(nil)}
	if _, err := st.Append(context.Background(), live.ActionsStream, store.Any, []*event.Event{rec}); err != nil {
		t.Fatal(err)
	}
	open, next, err := d.recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if next != 3001 || len(open) != 2000 {
		t.Fatalf("recovered %d open actions, next %d; want 2000, 3001", len(open), next)
	}
	r := newOpenReader(st, open)
	var got int
	for i := range 3000 {
		if i%3 == 0 {
			continue
		}
		tk, ok, err := r.next(context.Background())
		a := tk.a
		if err != nil || !ok {
			t.Fatalf("action %d: ok %v, err %v", i, ok, err)
		}
		if want := fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i); a.ID != want || a.CorrelationID != fmt.Sprint("order-", i) {
			t.Fatalf("open action %d = %s (%s), want %s", got, a.ID, a.CorrelationID, want)
		}
		got++
	}
	if _, ok, err := r.next(context.Background()); ok || err != nil {
		t.Fatalf("after the last: ok %v, err %v", ok, err)
	}
}

// BenchmarkRecoverOpen recovers an outbox of 100,000 actions none of
// which is done, and reports the heap held per open action until they
// are read again for delivery, and the recovery rate.
func BenchmarkRecoverOpen(b *testing.B) {
	const n = 100_000
	st := mem.New(store.Options{})
	defer st.Close()
	backlog(b, st, n)
	benchRecover(b, st, n, "open-action", func(_ *Dispatcher, open []openAction) error {
		if len(open) != n {
			return fmt.Errorf("recovered %d open actions", len(open))
		}
		return nil
	})
}

// deadBacklog appends n dead-letter records to st, as after an outage of
// the agents of a capability.
func deadBacklog(t testing.TB, st store.Store, n int) {
	t.Helper()
	appendActions(t, st, DeadLetterStream, n, func(a *engine.Action, i int) *event.Event {
		dl := &DeadLetter{ActionID: a.ID, Action: *a, Reason: ReasonNoAgent, Time: a.Time.Add(time.Duration(i)),
			LastError: `no live agent with capability "inventory_management" within 30s`}
		return record(DeadLetterType, a, dl, dl.Time)
	})
}

// TestDeadLetterQueueFromTheLog: the queue rebuilt from the log lists its
// dead letters in order, a page at a time, read back whole.
func TestDeadLetterQueueFromTheLog(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	deadBacklog(t, st, 2500)
	d := bareDispatcher(st)
	if _, _, err := d.recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var f DLQFilter
	f.Limit = 1000
	got := 0
	for {
		page, next, err := d.DeadLetterPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page {
			if want := fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", got); dl.ActionID != want || dl.Action.CorrelationID != fmt.Sprint("order-", got) ||
				dl.Reason != ReasonNoAgent || dl.LastError == "" {
				t.Fatalf("dead letter %d = %+v, want %s whole", got, dl, want)
			}
			got++
		}
		if next == 0 {
			break
		}
		f.From = next
	}
	if got != 2500 {
		t.Fatalf("%d dead letters listed, want 2500", got)
	}
	if page, _, err := d.DeadLetterPage(ctx, DLQFilter{Reason: ReasonLoop}); err != nil || len(page) != 0 {
		t.Fatalf("dead letters of reason loop: %d, %v", len(page), err)
	}
	dl, err := d.DeadLetter(ctx, "0193a4f0-0000-8000-8000-000000000007")
	if err != nil || dl.Action.CorrelationID != "order-7" {
		t.Fatalf("DeadLetter = %+v, %v", dl, err)
	}
	if _, err := d.DeadLetter(ctx, "nope"); err != ErrNotFound {
		t.Fatalf("DeadLetter(nope) = %v, want ErrNotFound", err)
	}
}

// BenchmarkDeadLetterQueue rebuilds a queue of 100,000 dead letters from
// the log and reports the heap it holds per dead letter.
func BenchmarkDeadLetterQueue(b *testing.B) {
	const n = 100_000
	st := mem.New(store.Options{})
	defer st.Close()
	deadBacklog(b, st, n)
	benchRecover(b, st, n, "dead-letter", func(d *Dispatcher, _ []openAction) error {
		if len(d.mu.dead) != n {
			return fmt.Errorf("%d dead letters", len(d.mu.dead))
		}
		return nil
	})
}

// BenchmarkDeadLetterPage lists pages of 1,000 dead letters out of
// 100,000 on the Pebble store, as GET /v1/dlq does.
func BenchmarkDeadLetterPage(b *testing.B) {
	const n = 100_000
	st, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	deadBacklog(b, st, n)
	d := bareDispatcher(st)
	if _, _, err := d.recover(context.Background()); err != nil {
		b.Fatal(err)
	}
	var from uint64
	for b.Loop() {
		page, next, err := d.DeadLetterPage(context.Background(), DLQFilter{From: from, Limit: 1000})
		if err != nil || len(page) != 1000 {
			b.Fatalf("page of %d, %v", len(page), err)
		}
		from = next % (n - 1000)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
}

// TestLeftWork: the work the next attempt follows is the last attempt's
// at its agent, and every agent's latest work is kept for cancelling,
// even after a later attempt there failed otherwise.
func TestLeftWork(t *testing.T) {
	var w leftWork
	w.failed("a", "t1") // a's attempt ran out of time with t1 working
	w.failed("b", "t2") // a busy: b's attempt did the same
	w.failed("c", "")   // c failed outright
	if w.resume != (resumeRef{"b", "t2"}) {
		t.Fatalf("resume %v, want b's t2", w.resume)
	}
	w.failed("b", "") // following t2 failed: t2's fate is unknown
	if w.resume != (resumeRef{}) {
		t.Fatalf("resume %v after b failed outright, want none", w.resume)
	}
	w.failed("a", "t3") // a sent the action anew: t3 replaces t1
	want := []resumeRef{{"a", "t3"}, {"b", "t2"}}
	if w.resume != (resumeRef{"a", "t3"}) || !slices.Equal(w.all, want) {
		t.Fatalf("resume %v, all %v; want a's t3 and %v", w.resume, w.all, want)
	}
}
