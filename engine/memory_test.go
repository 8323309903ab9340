package engine

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/workload"
)

// TestMemoryFlat streams e-commerce orders, 10,000 in flight, through the
// engine until 1,000,000 of them have completed (about nine in ten do;
// the others are cancelled, abandoned or late), and checks that the heap does not grow with the
// number of orders done: completed sequences free their state and quiet
// correlations are evicted. The patterns' conditions are left out to keep
// the test short: patterns hold no state.
func TestMemoryFlat(t *testing.T) {
	orders := 1_000_000 // to complete
	if testing.Short() || raceEnabled {
		orders = 100_000
	}
	start := time.Now()
	e := mustNew(t, Config{}, noConditions())

	// Generate on another goroutine, in batches, while the engine folds.
	batches := make(chan []*event.Event, 4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	defer wg.Wait()
	defer close(stop)
	go func() {
		defer wg.Done()
		defer close(batches)
		g := workload.New(workload.Config{Seed: 42, Orders: orders * 12 / 10, Concurrency: 10_000})
		for {
			batch := make([]*event.Event, 0, 4096)
			for len(batch) < cap(batch) {
				ev, ok := g.Next()
				if !ok {
					break
				}
				batch = append(batch, ev)
			}
			if len(batch) == 0 {
				return
			}
			select {
			case batches <- batch:
			case <-stop:
				return
			}
		}
	}()

	var dst []Action
	var heaps []uint64
	var ms runtime.MemStats
	const samples = 10
	next := orders / samples
	delivered := 0
	for batch := range batches {
		if delivered >= orders {
			break
		}
		for _, ev := range batch {
			dst = e.AppendProcess(dst[:0], ev)
			for i := range dst {
				if dst[i].Action == "close_order" {
					delivered++
				}
			}
		}
		if delivered >= next && len(heaps) < samples {
			next += orders / samples
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
			m := e.Metrics()
			t.Logf("%7d orders closed: heap %5.1f MiB, %d correlations, %d partial matches, %d timers",
				delivered, float64(ms.HeapAlloc)/(1<<20), m.ActiveCorrelations, m.PartialMatches, m.PendingTimers)
		}
	}
	_ = e.AppendFlush(dst[:0])
	m := e.Metrics()
	t.Logf("%d events in %v; %d sequences completed, %d expired, %d correlations idled",
		m.EventsProcessed, time.Since(start).Round(time.Millisecond), m.CompletedSequences, m.ExpiredSequences, m.CorrelationsIdled)
	if delivered < orders {
		t.Fatalf("only %d of %d orders closed", delivered, orders)
	}
	if len(heaps) < 4 {
		t.Fatalf("only %d heap samples", len(heaps))
	}
	// After warm-up (the first sample), the heap stays within a margin of
	// what it was: it does not grow with the orders done.
	base := heaps[1]
	for i, h := range heaps[2:] {
		if h > base+base/2+4<<20 {
			t.Errorf("sample %d: heap %d bytes, over 1.5× the %d of sample 1", i+2, h, base)
		}
	}
	if m.ActiveCorrelations > 30_000 {
		t.Errorf("%d active correlations at the end; want them bounded by the orders in flight", m.ActiveCorrelations)
	}
}
