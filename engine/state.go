package engine

import (
	"unsafe"

	"github.com/choreohq/choreo/event"
)

// slot is one rule's partial match within one correlation (or, for a
// global threshold, within the engine).
type slot struct {
	r     *rule
	last  int64 // sequence: event time of the last step, ns
	hops  int   // absence: hops of the starting event
	marks []mark
	timer int32 // absence: the pending timeout's number + 1; 0 when none
}

// mark is an event a partial match holds: for a sequence, one per step
// matched so far; for a temporal sequence, one per required event (id ""
// while unseen); for a threshold, the events in the window.
type mark struct {
	id string
	t  int64 // event time, ns
}

// reset empties s for rule r, keeping its buffer.
func (s *slot) reset(r *rule) {
	s.r = r
	s.last, s.hops = 0, 0
	clear(s.marks)
	s.marks = s.marks[:0]
	s.timer = 0
}

// corrState is the state of one correlation. Its number names its node in
// the engine's corrIndex, which keeps the activity list for idle eviction.
type corrState struct {
	key   string
	num   int32  // its node in the corrIndex
	hash  uint32 // the hash bits of key the corrIndex keeps
	slots []slot // the partial matches, in inline while they fit
	// inline holds the first slots, beside the fields a look-up reads,
	// so that finding a rule's slot reads no other memory.
	inline [3]slot
	events []*event.Event // correlated_events, when some condition uses them
	// ids holds the bytes of the ids its slots' marks hold (see hold),
	// so that a mark keeps no event's record.
	ids []byte
}

// hold returns a copy of id, an event's id for a mark of one of c's
// slots, cut from c's own buffer, which is only ever appended to: the
// actions a match causes name its marks' ids as they are. A buffer too
// small for id is replaced by a larger one holding only the ids of the
// marks (thresholds and temporal sequences overwrite marks, which leaves
// dead bytes); a dropped state leaves its buffer to the actions.
func (c *corrState) hold(id string) string {
	if len(id) == 0 {
		return ""
	}
	if cap(c.ids)-len(c.ids) < len(id) {
		live := len(id)
		for i := range c.slots {
			for _, m := range c.slots[i].marks {
				live += len(m.id)
			}
		}
		ids := make([]byte, 0, max(2*live, 128))
		for i := range c.slots {
			for j := range c.slots[i].marks {
				if m := &c.slots[i].marks[j]; m.id != "" {
					n := len(ids)
					ids = append(ids, m.id...)
					m.id = unsafe.String(&ids[n], len(m.id))
				}
			}
		}
		c.ids = ids
	}
	n := len(c.ids)
	c.ids = append(c.ids, id...)
	return unsafe.String(&c.ids[n], len(id))
}

// find returns the slot of rule r, or nil.
func (c *corrState) find(r *rule) *slot {
	for i := range c.slots {
		if c.slots[i].r == r {
			return &c.slots[i]
		}
	}
	return nil
}

// add appends an empty slot for r, reusing a buffer left past the length.
func (c *corrState) add(r *rule) *slot {
	n := len(c.slots)
	switch {
	case cap(c.slots) == 0:
		c.slots = c.inline[:1]
	case n < cap(c.slots):
		c.slots = c.slots[:n+1]
	default:
		grown := make([]slot, n+1, 2*n)
		copy(grown, c.slots)
		// The old array must not keep the buffers the new one now owns.
		clear(c.slots[:cap(c.slots)])
		c.slots = grown
	}
	s := &c.slots[n]
	s.reset(r)
	return s
}

// remove drops the slot s points to, keeping its buffers past the length
// for reuse. s must point into c.slots.
func (c *corrState) remove(s *slot) {
	last := len(c.slots) - 1
	for i := range c.slots {
		if &c.slots[i] == s {
			c.slots[i], c.slots[last] = c.slots[last], c.slots[i]
			c.slots[last].reset(nil)
			c.slots = c.slots[:last]
			return
		}
	}
}

// empty reports whether the correlation holds nothing worth keeping.
func (c *corrState) empty() bool { return len(c.slots) == 0 && len(c.events) == 0 }

// timer is a pending absence timeout.
type timer struct {
	corr  *corrState
	r     *rule
	start string // the id of the event that started the wait
	due   int64
	index int32 // position in the heap; -1 when out of it
}

// timerRef is a timer's entry in the heap: its keys, so that ordering
// reads no timer, and its number.
type timerRef struct {
	due int64
	seq uint64 // creation order: ties in due fire in it
	num int32
}

// timerQueue holds the pending timers in a dense array by number, and a
// min-heap of their references by (due, seq).
type timerQueue struct {
	heap []timerRef
	all  []timer
	free []int32 // numbers not in use
}

// add queues tm, due at tm.due and created seq-th, and returns its number.
func (q *timerQueue) add(tm timer, seq uint64) int32 {
	num := takeNum(&q.free, &q.all)
	tm.index = int32(len(q.heap))
	q.all[num] = tm
	q.heap = append(q.heap, timerRef{due: tm.due, seq: seq, num: num})
	q.up(len(q.heap) - 1)
	return num
}

// release forgets timer num, which must be out of the heap.
func (q *timerQueue) release(num int32) {
	q.all[num] = timer{index: -1}
	q.free = append(q.free, num)
}

func (q *timerQueue) less(i, j int) bool {
	h := q.heap
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}

func (q *timerQueue) swap(i, j int) {
	h := q.heap
	h[i], h[j] = h[j], h[i]
	q.all[h[i].num].index = int32(i)
	q.all[h[j].num].index = int32(j)
}

// remove takes the timer at heap position i out of the heap.
func (q *timerQueue) remove(i int) {
	n := len(q.heap) - 1
	if i != n {
		q.swap(i, n)
		if !q.down(i, n) {
			q.up(i)
		}
	}
	q.all[q.heap[n].num].index = -1
	q.heap = q.heap[:n]
}

func (q *timerQueue) up(j int) {
	for {
		i := (j - 1) / 2
		if i == j || !q.less(j, i) {
			break
		}
		q.swap(i, j)
		j = i
	}
}

func (q *timerQueue) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 {
			break
		}
		j := j1
		if j2 := j1 + 1; j2 < n && q.less(j2, j1) {
			j = j2
		}
		if !q.less(j, i) {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}
