package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 - 1, math.MaxInt64}
	for range 10000 {
		values = append(values, rnd.Uint64N(math.MaxInt64)>>rnd.UintN(63))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, nBuckets)
		}
		hi := bucketMax(i)
		if hi < v {
			t.Fatalf("bucketMax(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if i > 0 && bucketMax(i-1) >= v {
			t.Fatalf("bucket %d below %d's holds up to %d", i-1, v, bucketMax(i-1))
		}
		if v >= subCount && float64(hi-v) > float64(v)/subCount {
			t.Fatalf("bucket of %d reaches %d: more than 1/%d off", v, hi, subCount)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	h := NewHistogram()
	var all []time.Duration
	for range 100000 {
		// Log-normal-ish latencies from microseconds to a second.
		d := time.Duration(math.Exp(rnd.NormFloat64()*1.5+12)) + time.Duration(rnd.IntN(100))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	if got, want := h.Count(), uint64(len(all)); got != want {
		t.Fatalf("Count() = %d, want %d", got, want)
	}
	if h.Min() != all[0] || h.Max() != all[len(all)-1] {
		t.Errorf("Min, Max = %v, %v; want %v, %v", h.Min(), h.Max(), all[0], all[len(all)-1])
	}
	prev := time.Duration(0)
	for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := all[max(int(math.Ceil(q*float64(len(all))))-1, 0)]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subCount+1 {
			t.Errorf("Quantile(%v) = %v, want %v to within 1/%d above", q, got, want, subCount)
		}
		if got < prev {
			t.Errorf("Quantile(%v) = %v, below the quantile before it (%v)", q, got, prev)
		}
		prev = got
	}
	if got := h.Quantile(1); got != h.Max() {
		t.Errorf("Quantile(1) = %v, want Max %v", got, h.Max())
	}
	var sum float64
	for _, d := range all {
		sum += float64(d)
	}
	if got, want := h.Mean(), time.Duration(math.Round(sum/float64(len(all)))); got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
}

func TestHistogramMerge(t *testing.T) {
	a, b, both := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		both.Record(d)
	}
	m := NewHistogram()
	m.Merge(a)
	m.Merge(NewHistogram())
	m.Merge(b)
	if *m != *both {
		t.Errorf("merged histogram differs from the one that recorded everything: count %d/%d, min %v/%v, max %v/%v",
			m.Count(), both.Count(), m.Min(), both.Min(), m.Max(), both.Max())
	}
}

func TestHistogramEdges(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 || h.Min() != 0 {
		t.Errorf("empty histogram: want zeros, got p50 %v mean %v min %v max %v", h.Quantile(0.5), h.Mean(), h.Min(), h.Max())
	}
	h.Record(-time.Second)
	h.Record(time.Duration(math.MaxInt64))
	if h.Min() != 0 || h.Max() != time.Duration(math.MaxInt64) {
		t.Errorf("min, max = %v, %v; want 0 and the largest duration", h.Min(), h.Max())
	}
	if got := h.Quantile(2); got != h.Max() {
		t.Errorf("Quantile(2) = %v, want Max", got)
	}
	if got := h.Quantile(-1); got != 0 {
		t.Errorf("Quantile(-1) = %v, want 0", got)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	for i := range b.N {
		h.Record(time.Duration(i&0xfffff) * 100)
	}
}
