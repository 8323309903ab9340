package pebble_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/store/storetest"
)

// BenchmarkAppend measures durable appends of one event (about 200 bytes
// of data) per call, from 1, 16 and 64 concurrent producers, each to the
// stream its correlation names; "elsewhere" appends each producer's
// events to a stream of another name, so that each also takes an entry
// in the correlation index.
func BenchmarkAppend(b *testing.B) {
	for _, producers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) { benchAppend(b, producers, false) })
	}
	b.Run("producers=64/elsewhere", func(b *testing.B) { benchAppend(b, 64, true) })
}

func benchAppend(b *testing.B, producers int, elsewhere bool) {
	s, err := pebble.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			stream := fmt.Sprintf("order-%d", p)
			corr := stream
			if elsewhere {
				stream = fmt.Sprintf("tenant-%d", p)
			}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				e := storetest.Ev(fmt.Sprintf("e-%d", i), "order_received", corr)
				if _, err := s.Append(context.Background(), stream, store.Any, []*event.Event{e}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAppendNoSync measures the work of an append apart from the
// fsync: batches of 10 events with generated ids, each batch to one of
// 5,000 streams, on a log opened with NoSync. Pebble's flushes and
// compactions run meanwhile, as they would.
func BenchmarkAppendNoSync(b *testing.B) {
	s, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 10 {
		stream := fmt.Sprintf("order-%d", (i*7919)%5000)
		evs := make([]*event.Event, min(10, b.N-i))
		for k := range evs {
			evs[k] = storetest.Ev(event.NewID(), "order_received", stream)
		}
		if _, err := s.Append(context.Background(), stream, store.Any, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawPebble writes what BenchmarkAppend writes per event — the
// record and its two index entries, under the same keys (each producer its
// own stream, ids e-1, e-2…), with values of the same size — straight to
// Pebble, one synced batch per event from each producer, and Pebble's own
// group commit joining them: the rate this hardware allows.
func BenchmarkRawPebble(b *testing.B) {
	e := storetest.Ev("e-100000", "order_received", "order-10")
	e.Fill()
	value := append(make([]byte, 24), e.AppendBinary(nil)...)
	for _, producers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			db, err := pdb.Open(b.TempDir(), rawOptions())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var next atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					streamKey := fmt.Appendf(nil, "sorder-%d\x00", p)
					for version := uint64(1); ; version++ {
						i := next.Add(1)
						if i > uint64(b.N) {
							return
						}
						g := binary.BigEndian.AppendUint64([]byte{'g'}, i)
						batch := db.NewBatch()
						batch.Set(g, value, nil)
						batch.Set(binary.BigEndian.AppendUint64(streamKey, version), g[1:], nil)
						batch.Set(fmt.Appendf(nil, "ie-%d", i), g[1:], nil)
						if err := batch.Commit(pdb.Sync); err != nil {
							b.Error(err)
							return
						}
						batch.Close()
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// filledLog returns a store, closed when b ends, holding n events (n a
// multiple of 1,000) with ids e-0, e-1…, appended in batches of 1,000.
func filledLog(b *testing.B, n int) *pebble.Store {
	s, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for i := 0; i < n; i += 1000 {
		evs := make([]*event.Event, 1000)
		for k := range evs {
			evs[k] = storetest.Ev(fmt.Sprintf("e-%d", i+k), "order_received", fmt.Sprintf("order-%d", (i+k)%5000))
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i%50), store.Any, evs); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkReplay reads a log of 200,000 events from the start, decoding
// every record, as a rebuild of state does.
func BenchmarkReplay(b *testing.B) {
	const n = 200000
	s := filledLog(b, n)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	total := 0
	for range b.N {
		var from uint64
		for {
			recs, err := s.ReadAll(ctx, from, 4096)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			total += len(recs)
			from = recs[len(recs)-1].GlobalPosition + 1
		}
	}
	if total != n*b.N {
		b.Fatalf("read %d events, want %d", total, n*b.N)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkReadStream reads every stream of a log of 200,000 events from
// the start, decoding every record. The log was written in batches of 100
// events, each to the next of 50 streams in turn, so a stream's records lie
// in runs of 100 with the other streams' records between them.
func BenchmarkReadStream(b *testing.B) {
	const n, streams, batch = 200000, 50, 100
	s, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < n; i += batch {
		evs := make([]*event.Event, batch)
		stream := fmt.Sprintf("s-%d", i/batch%streams)
		for k := range evs {
			evs[k] = storetest.Ev(fmt.Sprintf("e-%d", i+k), "order_received", stream)
		}
		if _, err := s.Append(ctx, stream, store.Any, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	total := 0
	for range b.N {
		for k := range streams {
			var from uint64
			for {
				recs, err := s.ReadStream(ctx, fmt.Sprintf("s-%d", k), from, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 {
					break
				}
				total += len(recs)
				from = recs[len(recs)-1].StreamPosition + 1
			}
		}
	}
	if total != n*b.N {
		b.Fatalf("read %d events, want %d", total, n*b.N)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkGet looks events up by id at random in a log of 200,000
// events: the reads of an event by the API and of a trigger the dispatcher
// has not kept.
func BenchmarkGet(b *testing.B) {
	const n = 200000
	s := filledLog(b, n)
	ctx := context.Background()
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", (i*7919)%n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendLatency offers single-event appends at a fixed rate
// (open loop: each starts at its scheduled time whatever the others do)
// and reports the latency percentiles. b.N is the number of events.
func BenchmarkAppendLatency(b *testing.B) {
	s, err := pebble.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	openLoop(b, func(i int) error {
		stream := fmt.Sprintf("order-%d", i%1000)
		e := storetest.Ev(fmt.Sprintf("e-%d", i), "order_received", stream)
		_, err := s.Append(context.Background(), stream, store.Any, []*event.Event{e})
		return err
	})
}

// BenchmarkRawPebbleLatency is BenchmarkAppendLatency writing the same
// bytes straight to Pebble with the same sync: the latency this disk
// allows at that rate.
func BenchmarkRawPebbleLatency(b *testing.B) {
	e := storetest.Ev("0192f3a4-0000-7000-8000-000000000000", "order_received", "order-1")
	e.Fill()
	value := append(make([]byte, 24), e.AppendBinary(nil)...)
	db, err := pdb.Open(b.TempDir(), rawOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	openLoop(b, func(i int) error {
		g := binary.BigEndian.AppendUint64([]byte{'g'}, uint64(i))
		batch := db.NewBatch()
		defer batch.Close()
		batch.Set(g, value, nil)
		batch.Set(binary.BigEndian.AppendUint64([]byte("sorder-1\x00"), uint64(i)), g[1:], nil)
		batch.Set([]byte(fmt.Sprintf("i0192f3a4-0000-7000-8000-%012d", i)), g[1:], nil)
		return batch.Commit(pdb.Sync)
	})
}

// openLoop calls write(i) for i in [0, b.N) at 10,000 calls per second,
// each from its own goroutine at its scheduled time, and reports the
// latency percentiles.
func openLoop(b *testing.B, write func(i int) error) {
	const rate = 10000 // calls per second offered
	lat := make([]time.Duration, b.N)
	interval := time.Second / rate
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range b.N {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			t0 := time.Now()
			if err := write(i); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// rawOptions are the Pebble options the store opens with.
func rawOptions() *pdb.Options {
	o := &pdb.Options{CacheSize: 64 << 20, MemTableSize: 32 << 20, FormatMajorVersion: pdb.FormatNewest, Logger: quiet{}}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].BlockSize = 16 << 10
	}
	return o
}

// quiet drops Pebble's informational logging.
type quiet struct{}

func (quiet) Infof(string, ...any)         {}
func (quiet) Errorf(f string, args ...any) { fmt.Printf(f+"\n", args...) }
func (quiet) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// BenchmarkReadCorrelation reads a page of 10 events from the middle of a
// correlation of 100,000 (in its own stream, with every fourth event of
// it appended to another stream), as a client paging through it does.
func BenchmarkReadCorrelation(b *testing.B) {
	s, err := pebble.Open(b.TempDir(), &pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 100_000; i += 1000 {
		own, side := make([]*event.Event, 0, 1000), make([]*event.Event, 0, 250)
		for k := range 1000 {
			e := storetest.Ev(fmt.Sprint("e-", i+k), "t", "order-1")
			if k%4 == 3 {
				side = append(side, e)
			} else {
				own = append(own, e)
			}
		}
		if _, err := s.Append(ctx, "order-1", store.Any, own); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Append(ctx, "tenant-1", store.Any, side); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.ReadCorrelation(ctx, "order-1", 50_000, 10)
		if err != nil || len(recs) != 10 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}
