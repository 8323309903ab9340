package view_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/heaptest"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/view"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func appendRec(t *testing.T, st store.Store, stream, typ string, data any) {
	t.Helper()
	b, _ := json.Marshal(data)
	if a, ok := data.(*engine.Action); ok {
		if _, err := st.Append(context.Background(), stream, store.Any, []*event.Event{live.ActionEvent(a)}); err != nil {
			t.Fatal(err)
		}
		return
	}
	e := &event.Event{SpecVersion: "1.0", Source: dispatch.Source, Type: typ, DataContentType: "application/json", Data: b}
	if _, err := st.Append(context.Background(), stream, store.Any, []*event.Event{e}); err != nil {
		t.Fatal(err)
	}
}

func TestActionsView(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	act := func(id, corr string) *engine.Action {
		return &engine.Action{ID: id, Action: "ship", TargetCapability: "shipping", CorrelationID: corr, TriggerEventIDs: []string{"e"}, Time: time.Unix(0, 0)}
	}
	appendRec(t, st, live.ActionsStream, "", act("a1", "o1"))
	appendRec(t, st, live.ActionsStream, "", act("a2", "o1"))
	appendRec(t, st, live.ActionsStream, "", act("a3", "o2"))
	appendRec(t, st, live.ActionsStream, dispatch.AttemptType, dispatch.Attempt{ActionID: "a1", Attempt: 1, Agent: "x", Error: "boom"})
	appendRec(t, st, live.ActionsStream, dispatch.DeliveredType, dispatch.Deliveries{Deliveries: []dispatch.Delivered{{ActionID: "a1", Agent: "y", Attempts: 2, Results: []string{"a1/0"}}}})
	appendRec(t, st, dispatch.DeadLetterStream, dispatch.DeadLetterType, dispatch.DeadLetter{ActionID: "a2", Reason: dispatch.ReasonNoAgent, Attempts: 0, LastError: "none"})

	v := view.NewActions(st, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-v.Ready()

	a1, ok := v.Get("a1")
	if !ok || a1.Status != view.StatusDelivered || a1.Agent != "y" || a1.Attempts != 2 || len(a1.Results) != 1 {
		t.Fatalf("a1 = %+v", a1)
	}
	if a2, _ := v.Get("a2"); a2.Status != view.StatusDeadLettered || a2.Reason != dispatch.ReasonNoAgent {
		t.Fatalf("a2 = %+v", a2)
	}
	if got := v.List(view.Filter{Correlation: "o1"}); len(got) != 2 || got[0].ID != "a2" || got[1].ID != "a1" {
		t.Fatalf("o1 = %+v", got)
	}
	if got := v.List(view.Filter{Status: view.StatusPending}); len(got) != 1 || got[0].ID != "a3" {
		t.Fatalf("pending = %+v", got)
	}
	b, _ := json.Marshal(a1)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["id"] != "a1" || m["status"] != "delivered" || m["target_capability"] != "shipping" {
		t.Fatalf("JSON %s (%v)", b, err)
	}

	// A retry makes it pending again; the capacity evicts the oldest.
	appendRec(t, st, dispatch.DeadLetterStream, dispatch.RetryType, dispatch.Ref{ActionID: "a2"})
	appendRec(t, st, live.ActionsStream, "", act("a4", "o3"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, has1 := v.Get("a1")
		a2, _ := v.Get("a2")
		if !has1 && a2.Status == view.StatusPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a1 kept: %v, a2 %s", has1, a2.Status)
		}
		time.Sleep(time.Millisecond)
	}
	if got := v.List(view.Filter{Correlation: "o1"}); len(got) != 1 {
		t.Fatalf("o1 after eviction = %d actions", len(got))
	}
	if c := v.Counts(); c[view.StatusPending] != 3 || fmt.Sprint(len(c)) != "4" {
		t.Fatalf("counts %v", c)
	}
}

// BenchmarkActionsHeld fills a view of the default capacity from a log
// on Pebble (which keeps its data off the Go heap) and reports what the
// view holds: heap bytes per action, and how much longer a full
// collection takes with it alive than without it.
func BenchmarkActionsHeld(b *testing.B) {
	const n = view.DefaultCapacity
	st, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	batch := make([]*event.Event, 0, 1000)
	for i := range n {
		a := &engine.Action{ID: fmt.Sprintf("0193a4f0-%04x-7000-8000-%012d", i%0xffff, i), Action: "check_inventory",
			TargetCapability: "inventory_management", Choreography: "ecommerce", RuleID: "ecommerce/patterns/0",
			RuleKind: engine.KindPattern, CorrelationID: fmt.Sprintf("order-%08d", i/3), Priority: 8,
			TriggerEventIDs: []string{fmt.Sprintf("0193a4f0-%04x-7000-9000-%012d", i%0xffff, i)}, Time: now}
		batch = append(batch, live.ActionEvent(a))
		if len(batch) == cap(batch) {
			if _, err := st.Append(context.Background(), live.ActionsStream, store.Any, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	timeGC := func() time.Duration {
		runtime.GC()
		start := time.Now()
		runtime.GC()
		return time.Since(start)
	}
	for b.Loop() {
		b.StopTimer()
		before := heaptest.Live()
		without := timeGC()
		v := view.NewActions(st, n)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		b.StartTimer()
		<-v.Ready()
		b.StopTimer()
		cancel()
		<-done
		held := heaptest.Live() - before
		with := timeGC()
		runtime.KeepAlive(v)
		b.ReportMetric(float64(held)/n, "B/action")
		b.ReportMetric(float64((with-without).Microseconds())/1e3, "gc-ms")
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/action")
}
