package engine

import (
	"github.com/choreohq/choreo/event"
)

// slot is one rule's partial match within one correlation (or, for a
// global threshold, within the engine).
type slot struct {
	r     *rule
	step  int      // sequence: steps matched so far
	last  int64    // sequence: event time of the last step, ns
	hops  int      // absence: hops of the starting event
	ids   []string // sequence: step ids; temporal: id per required event ("" unseen); threshold: ids in the window
	times []int64  // temporal: time per required event; threshold: times in the window
	timer *timer   // absence: the pending timeout
}

// reset empties s for rule r, keeping its buffers.
func (s *slot) reset(r *rule) {
	s.r = r
	s.step, s.last, s.hops = 0, 0, 0
	clear(s.ids)
	s.ids = s.ids[:0]
	s.times = s.times[:0]
	s.timer = nil
}

// corrState is the state of one correlation. Correlations with state form
// a list ordered by last activity, oldest first, for idle eviction.
type corrState struct {
	key        string
	last       int64 // engine clock at the last event of the correlation
	prev, next *corrState
	slots      []slot         // the partial matches, in inline while they fit
	events     []*event.Event // correlated_events, when some condition uses them
	// inline holds the first slots, beside the fields a look-up reads,
	// so that finding a rule's slot reads no other memory.
	inline [2]slot
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
	due   int64
	seq   uint64 // creation order: ties in due fire in it
	corr  *corrState
	r     *rule
	start string // the id of the event that started the wait
	index int    // position in the heap
}

// timerHeap is a min-heap by (due, seq).
type timerHeap []*timer

func (h timerHeap) less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) push(t *timer) {
	t.index = len(*h)
	*h = append(*h, t)
	h.up(t.index)
}

// remove takes the timer at index i out of the heap.
func (h *timerHeap) remove(i int) {
	n := len(*h) - 1
	if i != n {
		h.swap(i, n)
		if !h.down(i, n) {
			h.up(i)
		}
	}
	(*h)[n].index = -1
	(*h)[n] = nil
	*h = (*h)[:n]
}

func (h timerHeap) up(j int) {
	for {
		i := (j - 1) / 2
		if i == j || !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h timerHeap) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 {
			break
		}
		j := j1
		if j2 := j1 + 1; j2 < n && h.less(j2, j1) {
			j = j2
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
