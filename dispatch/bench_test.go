package dispatch_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

// BenchmarkInProcess measures actions delivered to in-process agents, from
// the outbox to the handler and the delivery record appended, four agents
// having the capability. In "following" the engine's side appends the b.N
// actions in batches while the dispatcher follows the outbox, both timed; in
// "backlog" the log already holds them and only the dispatcher is timed.
func BenchmarkInProcess(b *testing.B) {
	for _, backend := range []string{"mem", "pebble"} {
		for _, mode := range []string{"following", "backlog"} {
			b.Run(backend+"/"+mode, func(b *testing.B) { benchInProcess(b, backend, mode == "backlog") })
		}
	}
}

func benchInProcess(b *testing.B, backend string, backlog bool) {
	var st store.Store
	if backend == "mem" {
		st = mem.New(store.Options{})
	} else {
		p, err := pebble.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		st = p
	}
	defer st.Close()
	ctx := context.Background()
	reg, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		b.Fatal(err)
	}
	in := dispatch.NewInProcess()
	var total = int64(b.N)
	count := func(context.Context, *dispatch.Delivery) (dispatch.Result, error) { return dispatch.Result{}, nil }
	for i := range 4 {
		id := fmt.Sprint("agent-", i)
		in.Handle(id, count)
		if _, err := reg.Register(ctx, agent.Profile{ID: id, Capabilities: []string{"cap"}, Endpoint: id, Protocol: agent.ProtocolInProcess}); err != nil {
			b.Fatal(err)
		}
	}
	trig := &event.Event{SpecVersion: "1.0", ID: "trig", Source: "agents/test", Type: "order_received", Time: t0,
		CorrelationID: "order-1", Data: []byte(`{"order_value":42,"customer":"c-1","items":[{"sku":"A-1","qty":2}]}`)}
	if _, err := st.Append(ctx, "order-1", store.Any, []*event.Event{trig}); err != nil {
		b.Fatal(err)
	}
	// The engine's side: actions appended to the outbox in batches.
	produce := func() {
		batch := make([]*event.Event, 0, 500)
		for i := range b.N {
			a := engine.Action{ID: fmt.Sprint("act-", i), Action: "check", TargetCapability: "cap", Priority: 5,
				Choreography: "shop", RuleID: "r", RuleKind: engine.KindPattern, CorrelationID: "order-1",
				TriggerEventIDs: []string{"trig"}, Time: t0}
			batch = append(batch, live.ActionEvent(&a))
			if len(batch) == cap(batch) || i == b.N-1 {
				if _, err := st.Append(ctx, live.ActionsStream, store.Any, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	if backlog {
		produce()
	}
	d, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolInProcess: in}, dispatch.Config{})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	go func() { errc <- d.Run(runCtx) }()
	if !backlog {
		produce()
	}
	for d.Metrics().Delivered < total {
		time.Sleep(200 * time.Microsecond)
	}
	el, cpu := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	cancel()
	<-errc
	b.ReportMetric(float64(b.N)/el.Seconds(), "actions/s")
	// CPU time says more than the rate on a machine whose other tenants
	// take its cores away at times.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/action")
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
