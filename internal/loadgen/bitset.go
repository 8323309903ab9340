package loadgen

import (
	"math/bits"
	"sync/atomic"
)

const (
	chunkWords = 1 << 14 // 128 KiB, a million bits
	chunkBits  = chunkWords * 64
	maxChunks  = 1 << 12
)

// bitset is a set of event sequence numbers, safe for concurrent use,
// that grows a chunk of a million bits at a time as numbers arrive.
type bitset struct {
	chunks [maxChunks]atomic.Pointer[[chunkWords]atomic.Uint64]
}

// chunk returns chunk i, making it if it does not exist yet.
func (b *bitset) chunk(i int) *[chunkWords]atomic.Uint64 {
	if c := b.chunks[i].Load(); c != nil {
		return c
	}
	b.chunks[i].CompareAndSwap(nil, new([chunkWords]atomic.Uint64))
	return b.chunks[i].Load()
}

// add puts n into the set and reports whether it was not there yet.
// Numbers at or beyond MaxEvents are ignored (reported as not new).
func (b *bitset) add(n uint64) bool {
	if n >= MaxEvents {
		return false
	}
	c := b.chunk(int(n / chunkBits))
	bit := uint64(1) << (n % 64)
	old := c[(n%chunkBits)/64].Or(bit)
	return old&bit == 0
}

// addRange puts n to n+count-1 into the set.
func (b *bitset) addRange(n, count uint64) {
	for i := n; i < n+count; i++ {
		b.add(i)
	}
}

// count returns how many numbers are in b and not in minus (which may be
// nil). It is exact only when no add runs meanwhile.
func (b *bitset) count(minus *bitset) uint64 {
	var n uint64
	for i := range b.chunks {
		c := b.chunks[i].Load()
		if c == nil {
			continue
		}
		var m *[chunkWords]atomic.Uint64
		if minus != nil {
			m = minus.chunks[i].Load()
		}
		for w := range c {
			v := c[w].Load()
			if m != nil {
				v &^= m[w].Load()
			}
			n += uint64(bits.OnesCount64(v))
		}
	}
	return n
}
