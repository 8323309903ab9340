package engine

import "hash/maphash"

// corrIndex finds correlation states by key. It is an open-addressing
// table (linear probing, backward-shift deletion) of 64-bit entries, each
// holding 32 bits of the key's hash and the state's number, so a look-up
// reads one table entry and then the one state it names. The states and
// their activity list live in nodes, a dense array indexed by number,
// small enough to stay in cache: marking activity touches no state.
type corrIndex struct {
	table []uint64 // hash<<32 | number+1; 0 means empty
	mask  uint64
	n     int // states in the table
	// changes counts insertions and removals, so that a caller can tell
	// whether a state it found may be gone.
	changes uint64
	seed    maphash.Seed

	nodes      []corrNode
	freeNums   []int32 // numbers of nodes not in use
	head, tail int32   // activity list, oldest first; -1 when empty
}

// corrNode is a state's entry in the activity list.
type corrNode struct {
	c          *corrState
	last       int64 // engine clock at the last event of the correlation
	prev, next int32 // -1: none
}

func newCorrIndex() corrIndex {
	return corrIndex{
		table: make([]uint64, 64),
		mask:  63,
		seed:  maphash.MakeSeed(),
		head:  -1,
		tail:  -1,
	}
}

// hash returns the 32 bits of key's hash that the table keeps.
func (x *corrIndex) hash(key string) uint32 {
	return uint32(maphash.String(x.seed, key) >> 32)
}

// find returns the state of key, whose hash is h, or nil.
func (x *corrIndex) find(key string, h uint32) *corrState {
	for i := uint64(h) & x.mask; ; i = (i + 1) & x.mask {
		en := x.table[i]
		if en == 0 {
			return nil
		}
		if uint32(en>>32) == h {
			if c := x.nodes[uint32(en)-1].c; c.key == key {
				return c
			}
		}
	}
}

// insert adds c, whose key is not in the table, as the most recently
// active state.
func (x *corrIndex) insert(c *corrState, h uint32, now int64) {
	num := takeNum(&x.freeNums, &x.nodes)
	c.num, c.hash = num, h
	x.nodes[num] = corrNode{c: c, last: now, prev: x.tail, next: -1}
	if x.tail >= 0 {
		x.nodes[x.tail].next = num
	} else {
		x.head = num
	}
	x.tail = num
	x.changes++
	if 2*(x.n+1) > len(x.table) {
		x.grow()
	}
	x.n++
	x.table[x.freeSlot(h)] = uint64(h)<<32 | uint64(num+1)
}

func (x *corrIndex) freeSlot(h uint32) uint64 {
	i := uint64(h) & x.mask
	for x.table[i] != 0 {
		i = (i + 1) & x.mask
	}
	return i
}

func (x *corrIndex) grow() {
	old := x.table
	x.table = make([]uint64, 2*len(old))
	x.mask = uint64(len(x.table) - 1)
	for _, en := range old {
		if en != 0 {
			x.table[x.freeSlot(uint32(en>>32))] = en
		}
	}
}

// touch marks activity in c at now: it moves to the end of the activity
// list.
func (x *corrIndex) touch(c *corrState, now int64) {
	num := c.num
	nd := &x.nodes[num]
	nd.last = now
	if x.tail == num {
		return
	}
	x.unlink(num)
	nd.prev, nd.next = x.tail, -1
	x.nodes[x.tail].next = num
	x.tail = num
}

func (x *corrIndex) unlink(num int32) {
	nd := &x.nodes[num]
	if nd.prev >= 0 {
		x.nodes[nd.prev].next = nd.next
	} else {
		x.head = nd.next
	}
	if nd.next >= 0 {
		x.nodes[nd.next].prev = nd.prev
	} else {
		x.tail = nd.prev
	}
}

// oldest returns the state quiet the longest and when it was last
// active, or nil.
func (x *corrIndex) oldest() (*corrState, int64) {
	if x.head < 0 {
		return nil, 0
	}
	nd := &x.nodes[x.head]
	return nd.c, nd.last
}

// remove takes c out of the table and the activity list.
func (x *corrIndex) remove(c *corrState) {
	num := c.num
	x.unlink(num)
	x.nodes[num] = corrNode{}
	x.freeNums = append(x.freeNums, num)
	x.n--
	x.changes++
	want := uint64(c.hash)<<32 | uint64(num+1)
	i := uint64(c.hash) & x.mask
	for x.table[i] != want {
		i = (i + 1) & x.mask
	}
	// Shift back the entries that follow so that every entry stays
	// reachable from its home slot.
	for {
		x.table[i] = 0
		j := i
		for {
			j = (j + 1) & x.mask
			en := x.table[j]
			if en == 0 {
				return
			}
			home := (en >> 32) & x.mask
			// Move table[j] to i unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
				x.table[i] = en
				i = j
				break
			}
		}
	}
}

// takeNum returns a number of a slot of *all not in use: the last freed,
// taken off *free, or a new slot appended to *all.
func takeNum[T any](free *[]int32, all *[]T) int32 {
	if n := len(*free); n > 0 {
		num := (*free)[n-1]
		*free = (*free)[:n-1]
		return num
	}
	var zero T
	*all = append(*all, zero)
	return int32(len(*all) - 1)
}
