package engine

import "hash/maphash"

// dedup remembers the hashes of the latest ids in a ring, with an
// open-addressing table (linear probing, backward-shift deletion) to find
// them: one cache line per look-up, no tombstones, no allocation.
type dedup struct {
	ring   []uint64 // hashes in arrival order; 0 means empty
	pos    int
	table  []uint64 // power-of-two sized, at most half full; 0 means empty
	mask   uint64
	filled bool
	seed   maphash.Seed
}

func newDedup(window int) *dedup {
	size := 1
	for size < 2*window {
		size <<= 1
	}
	return &dedup{ring: make([]uint64, window), table: make([]uint64, size), mask: uint64(size - 1), seed: maphash.MakeSeed()}
}

// hash hashes an id with the engine's random seed, never to 0. Ids come
// from publishers: with a secret seed nobody can choose two that collide,
// and a collision by chance between two ids in a window of this size is
// astronomically unlikely.
func (d *dedup) hash(id string) uint64 {
	h := maphash.String(d.seed, id)
	if h == 0 {
		h = 1
	}
	return h
}

// seen reports whether h is remembered, remembering it when not and
// forgetting the oldest hash when the window is full.
func (d *dedup) seen(h uint64) bool {
	// Read the home entry of the oldest hash before probing for h: the
	// two reads are independent, so their cache misses overlap.
	old := d.ring[d.pos]
	oi := d.slot(old)
	oe := d.table[oi]
	i := d.slot(h)
	for d.table[i] != 0 {
		if d.table[i] == h {
			return true
		}
		i = (i + 1) & d.mask
	}
	if d.filled {
		d.delete(old, oi, oe)
	}
	d.table[d.insertAt(h)] = h
	d.ring[d.pos] = h
	d.pos++
	if d.pos == len(d.ring) {
		d.pos = 0
		d.filled = true
	}
	return false
}

func (d *dedup) slot(h uint64) uint64 { return (h ^ h>>29) * 0x9e3779b97f4a7c15 >> 20 & d.mask }

func (d *dedup) insertAt(h uint64) uint64 {
	i := d.slot(h)
	for d.table[i] != 0 {
		i = (i + 1) & d.mask
	}
	return i
}

// delete removes h, whose home slot is i holding en, shifting back the
// entries that follow it so every entry stays reachable from its home
// slot.
func (d *dedup) delete(h, i, en uint64) {
	for en != h {
		if en == 0 {
			return
		}
		i = (i + 1) & d.mask
		en = d.table[i]
	}
	for {
		d.table[i] = 0
		j := i
		for {
			j = (j + 1) & d.mask
			if d.table[j] == 0 {
				return
			}
			home := d.slot(d.table[j])
			// Move table[j] to i unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
				d.table[i] = d.table[j]
				i = j
				break
			}
		}
	}
}
