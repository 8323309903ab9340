package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

// BenchmarkEventToAgent offers events at a fixed rate (open loop) to a
// durable log with the engine and the dispatcher running, each event
// deciding one action for an in-process agent, and reports the time from
// the start of the event's append to the agent receiving its action:
// p50, p99 and max, in milliseconds; and, apart, the p50 and p99 of the
// event's append alone, the part of that time the disk decides.
func BenchmarkEventToAgent(b *testing.B) {
	b.Run("pebble", func(b *testing.B) {
		st, err := pebble.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		benchEventToAgent(b, st)
	})
	b.Run("pebble-nosync", func(b *testing.B) {
		st, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		benchEventToAgent(b, st)
	})
	b.Run("mem", func(b *testing.B) { benchEventToAgent(b, mem.New(store.Options{})) })
}

func benchEventToAgent(b *testing.B, st store.Store) {
	const rate = 5000 // events/s offered
	defer st.Close()
	ch, err := choreography.Parse("notify.yaml", []byte(notifyYAML))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runner, err := live.New(st, eng, live.Config{})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		b.Fatal(err)
	}
	in := dispatch.NewInProcess()
	var mu sync.Mutex
	sent := make(map[string]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	appendLat := make([]time.Duration, 0, b.N) // the event's append alone
	got := make(chan struct{}, b.N)
	in.Handle("notifier", func(_ context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		now := time.Now()
		mu.Lock()
		if t, ok := sent[d.Action.TriggerEventIDs[0]]; ok {
			lat = append(lat, now.Sub(t))
			delete(sent, d.Action.TriggerEventIDs[0])
		}
		mu.Unlock()
		got <- struct{}{}
		return dispatch.Result{}, nil
	})
	if _, err := reg.Register(ctx, agent.Profile{ID: "notifier", Capabilities: []string{"notifications"}, Endpoint: "notifier", Protocol: agent.ProtocolInProcess}); err != nil {
		b.Fatal(err)
	}
	d, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolInProcess: in}, dispatch.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { runner.Run(ctx) })
	wg.Go(func() { d.Run(ctx) })
	defer wg.Wait()
	defer cancel()

	b.ResetTimer()
	start := time.Now()
	var pub sync.WaitGroup
	for i := range b.N {
		at := start.Add(time.Duration(i) * time.Second / rate)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		id := fmt.Sprint("evt-", i)
		e := &event.Event{SpecVersion: "1.0", ID: id, Source: "agents/shop", Type: "order_received",
			Time: t0.Add(time.Duration(i) * time.Millisecond), CorrelationID: fmt.Sprint("order-", i)}
		mu.Lock()
		sent[id] = time.Now()
		mu.Unlock()
		pub.Go(func() {
			t1 := time.Now()
			if _, err := st.Append(ctx, e.CorrelationID, store.Any, []*event.Event{e}); err != nil {
				b.Error(err)
			}
			d := time.Since(t1)
			mu.Lock()
			appendLat = append(appendLat, d)
			mu.Unlock()
		})
	}
	pub.Wait()
	for range b.N {
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("actions stopped arriving")
		}
	}
	b.StopTimer()
	q := func(lat []time.Duration, p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	slices.Sort(lat)
	slices.Sort(appendLat)
	b.ReportMetric(q(lat, 0.5), "p50-ms")
	b.ReportMetric(q(lat, 0.99), "p99-ms")
	b.ReportMetric(q(lat, 1), "max-ms")
	b.ReportMetric(q(appendLat, 0.5), "append-p50-ms")
	b.ReportMetric(q(appendLat, 0.99), "append-p99-ms")
}
