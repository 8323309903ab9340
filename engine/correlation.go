package engine

import (
	"crypto/sha256"
	"unsafe"

	"github.com/choreohq/choreo/event"
)

// newSlot returns a new slot for r in the correlation *cp, creating the
// correlation when needed; nil when the partial-match cap bites.
func (e *Engine) newSlot(r *rule, cp **corrState, key string) *slot {
	if e.partials >= e.cfg.MaxPartials {
		r.capped++
		return nil
	}
	if *cp == nil {
		*cp = e.newCorr(key)
	}
	e.partials++
	if r.kind == KindSequence {
		e.m.activeSequences++
	}
	s := (*cp).add(r)
	// Size the buffers for the rule at once, rather than growing them one
	// append at a time: slots trade buffers as they come and go.
	if r.ids > cap(s.ids) {
		s.ids = make([]string, 0, r.ids)
	}
	if r.times > cap(s.times) {
		s.times = make([]int64, 0, r.times)
	}
	return s
}

// releaseSlot drops s (which points into c.slots) and its timer.
func (e *Engine) releaseSlot(c *corrState, s *slot) {
	if s.timer != nil {
		e.timers.remove(s.timer.index)
		e.freeTimer(s.timer)
		s.timer = nil
	}
	e.partials--
	if s.r.kind == KindSequence {
		e.m.activeSequences--
	}
	c.remove(s)
}

// newCorr creates the state of a correlation, evicting the one quiet the
// longest when at the cap.
func (e *Engine) newCorr(key string) *corrState {
	if len(e.corrs) >= e.cfg.MaxCorrelations && e.head != nil {
		e.m.correlationsEvicted++
		e.dropCorr(e.head)
	}
	var c *corrState
	if n := len(e.free); n > 0 {
		c = e.free[n-1]
		e.free[n-1] = nil
		e.free = e.free[:n-1]
	} else {
		c = &corrState{}
	}
	c.key = key
	c.last = e.clock
	c.prev, c.next = e.tail, nil
	if e.tail != nil {
		e.tail.next = c
	} else {
		e.head = c
	}
	e.tail = c
	e.corrs[key] = c
	return c
}

// touch marks activity in c: it moves to the end of the activity list.
func (e *Engine) touch(c *corrState) {
	c.last = e.clock
	if e.tail == c {
		return
	}
	e.unlink(c)
	c.prev = e.tail
	e.tail.next = c
	e.tail = c
}

func (e *Engine) unlink(c *corrState) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		e.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		e.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// maxFree bounds the correlation states kept for reuse.
const maxFree = 4096

// dropCorr forgets a correlation and everything it holds.
func (e *Engine) dropCorr(c *corrState) {
	for len(c.slots) > 0 {
		s := &c.slots[len(c.slots)-1]
		if s.timer != nil {
			e.m.timersDropped++
		}
		e.releaseSlot(c, s)
	}
	clear(c.events)
	c.events = c.events[:0]
	e.unlink(c)
	delete(e.corrs, c.key)
	c.key = ""
	if len(e.free) < maxFree {
		e.free = append(e.free, c)
	}
}

// evictIdle drops the correlations quiet for longer than the idle
// timeout.
func (e *Engine) evictIdle() {
	for c := e.head; c != nil && c.last+e.idle < e.clock; c = e.head {
		e.m.correlationsIdled++
		e.dropCorr(c)
	}
}

// appendCorrelated records ev among c's events, keeping the latest
// MaxCorrelatedEvents.
func (e *Engine) appendCorrelated(c *corrState, ev *event.Event) {
	if len(c.events) == e.cfg.MaxCorrelatedEvents {
		copy(c.events, c.events[1:])
		c.events[len(c.events)-1] = ev
		return
	}
	c.events = append(c.events, ev)
}

func (e *Engine) pushRecent(ev *event.Event) {
	n := len(e.recent) / 2
	e.recent[e.recentPos] = ev
	e.recent[e.recentPos+n] = ev
	e.recentPos++
	if e.recentPos == n {
		e.recentPos = 0
	}
	if e.recentLen < n {
		e.recentLen++
	}
}

// recentEvents returns the latest events, oldest first, without copying.
func (e *Engine) recentEvents() []*event.Event {
	n := len(e.recent) / 2
	if e.recentLen < n {
		return e.recent[:e.recentLen:e.recentLen]
	}
	return e.recent[e.recentPos : e.recentPos+n : e.recentPos+n]
}

func (e *Engine) countSource(src string) int64 {
	if n, ok := e.sources[src]; ok {
		e.sources[src] = n + 1
		return n + 1
	}
	if len(e.sources) >= e.cfg.MaxSources {
		e.m.sourcesCapped++
		return 0
	}
	e.sources[src] = 1
	return 1
}

// duplicate reports whether id is among the latest DedupWindow ids, and
// remembers it when not. Events without an id are never duplicates.
func (e *Engine) duplicate(id string) bool {
	if e.dedup == nil || id == "" {
		return false
	}
	return e.dedup.seen(e.dedup.hash(id))
}

func (e *Engine) newTimer() *timer {
	if n := len(e.freeTim); n > 0 {
		t := e.freeTim[n-1]
		e.freeTim = e.freeTim[:n-1]
		return t
	}
	return &timer{}
}

func (e *Engine) freeTimer(t *timer) {
	*t = timer{index: -1}
	if len(e.freeTim) < maxFree {
		e.freeTim = append(e.freeTim, t)
	}
}

// triggerIDs returns a slice of n strings cut from a shared chunk, so
// actions do not each allocate one.
func (e *Engine) triggerIDs(n int) []string {
	if cap(e.trChunk)-len(e.trChunk) < n {
		e.trChunk = make([]string, 0, max(1024, n))
	}
	l := len(e.trChunk)
	e.trChunk = e.trChunk[:l+n]
	return e.trChunk[l : l+n : l+n]
}

// actionID returns the id of r's action on the triggers: ActionID, with
// the rule's prefix encoded once and the hash state reused.
func (e *Engine) actionID(r *rule, ids []string) string {
	e.scratch = appendTriggers(e.scratch[:0], ids)
	h := e.sha
	h.Reset()
	h.Write(r.idPrefix)
	h.Write(e.scratch)
	sum := (*[sha256.Size]byte)(h.Sum(e.sum[:0]))
	// Ids are cut from a shared chunk that is only ever appended to, so
	// the bytes under a returned string never change.
	if cap(e.idChunk)-len(e.idChunk) < 36 {
		e.idChunk = make([]byte, 0, 36*256)
	}
	n := len(e.idChunk)
	e.idChunk = appendShapedID(e.idChunk, sum)
	return unsafe.String(&e.idChunk[n], 36)
}
