package engine

import (
	"sync"
	"testing"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/workload"
)

// benchEvents are the events of 40,000 e-commerce orders, 10,000 in
// flight at any time.
var benchEvents = sync.OnceValue(func() []*event.Event {
	return workload.Generate(workload.Config{Seed: 1, Orders: 40_000, Concurrency: 10_000})
})

// noConditions is ecommerce without its conditions: what the engine costs
// apart from condition evaluation.
func noConditions() *choreography.Choreography {
	ch := ecommerce()
	for i := range ch.Patterns {
		ch.Patterns[i].Condition = ""
		ch.Patterns[i].Program = nil
	}
	return ch
}

// BenchmarkEngine processes the e-commerce workload (10,000 orders
// interleaved) with the e-commerce choreography, one event per iteration.
func BenchmarkEngine(b *testing.B) {
	b.Run("ecommerce", func(b *testing.B) { benchEngine(b, ecommerce()) })
	b.Run("no_conditions", func(b *testing.B) { benchEngine(b, noConditions()) })
}

func benchEngine(b *testing.B, ch *choreography.Choreography) {
	evs := benchEvents()
	chs := []*choreography.Choreography{ch}
	e := mustNew(b, Config{}, chs...)
	var dst []Action
	actions := 0
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if i == len(evs) {
			b.StopTimer()
			e = mustNew(b, Config{}, chs...)
			i = 0
			b.StartTimer()
		}
		dst = e.AppendProcess(dst[:0], evs[i])
		actions += len(dst)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(actions)/float64(b.N), "actions/event")
}
