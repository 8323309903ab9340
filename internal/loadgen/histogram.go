package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a value is known to within 1/2^subBits (0.8%).
const subBits = 7

const (
	subCount = 1 << subBits
	// nBuckets covers every non-negative int64: values below subCount
	// have a bucket each, then each power of two from 2^subBits to 2^62
	// has subCount.
	nBuckets = (64 - subBits) * subCount
)

// Histogram counts durations in log-linear buckets, as HdrHistogram does:
// values below 128 ns exactly, larger ones to within 0.8% (128 buckets per
// power of two). It takes about 58 KiB whatever the number of samples, and
// Record is a few nanoseconds with no allocation. The minimum, maximum and
// sum are kept exactly.
//
// A Histogram is not safe for concurrent use: give each goroutine its own
// and Merge them.
type Histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	sum      float64 // nanoseconds; float so that it cannot overflow
	min, max time.Duration
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// bucketOf returns the bucket of v, a non-negative number of nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [subCount, 2*subCount)
	return (shift+1)*subCount + int(v>>uint(shift)) - subCount
}

// bucketMax returns the largest value bucket i holds.
func bucketMax(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := i/subCount - 1
	low := uint64(i%subCount+subCount) << uint(shift)
	return low + (uint64(1) << uint(shift)) - 1
}

// Record counts one duration. A negative duration counts as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds the counts of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest duration recorded, or 0 when there is none.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest duration recorded, or 0 when there is none.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the mean of the durations recorded, or 0 when there is none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the q-quantile (q in [0, 1]) of the durations recorded:
// the upper end of the bucket holding the ⌈q·n⌉-th smallest, never more
// than Max nor less than Min. It returns 0 when nothing was recorded, so
// that quantiles are ordered: Quantile(a) ≤ Quantile(b) for a ≤ b.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(min(bucketMax(i), uint64(math.MaxInt64)))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
