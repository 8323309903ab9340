package pebble

import (
	"hash/maphash"
	"sync/atomic"
)

// idFilter is a Bloom filter over the event ids in the log. An id it says
// is absent is not in the log, so an append of new events needs no read;
// an id it says may be present is looked up. The writer adds ids before it
// applies them; appenders read concurrently.
type idFilter struct {
	seed  maphash.Seed
	words []atomic.Uint64
	m     uint64 // bits
	cap   int    // ids it holds at its designed false-positive rate
	n     atomic.Int64
}

const (
	filterBitsPerID = 10 // with 7 hashes: about 1% false positives
	filterHashes    = 7
	minFilterIDs    = 1 << 20
)

func newIDFilter(capacity int) *idFilter {
	capacity = max(capacity, minFilterIDs)
	m := uint64(capacity*filterBitsPerID+63) &^ 63
	return &idFilter{seed: maphash.MakeSeed(), words: make([]atomic.Uint64, m/64), m: m, cap: capacity}
}

func (f *idFilter) hashes(id string) (uint64, uint64) {
	h := maphash.String(f.seed, id)
	return h, h>>32 | h<<32 | 1
}

func (f *idFilter) add(id string) {
	h1, h2 := f.hashes(id)
	for i := range uint64(filterHashes) {
		bit := (h1 + i*h2) % f.m
		f.words[bit/64].Or(1 << (bit % 64))
	}
	f.n.Add(1)
}

func (f *idFilter) mayHave(id string) bool {
	h1, h2 := f.hashes(id)
	for i := range uint64(filterHashes) {
		bit := (h1 + i*h2) % f.m
		if f.words[bit/64].Load()&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

func (f *idFilter) full() bool { return f.n.Load() >= int64(f.cap) }
