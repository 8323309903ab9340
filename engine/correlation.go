package engine

import (
	"crypto/sha256"
	"strings"
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
		*cp = e.newCorr(key, e.keyHash)
	}
	e.partials++
	if r.kind == KindSequence {
		e.m.activeSequences++
	}
	s := (*cp).add(r)
	// Size the buffer for the rule at once, rather than growing it one
	// append at a time: slots trade buffers as they come and go.
	if r.marks > cap(s.marks) {
		s.marks = make([]mark, 0, r.marks)
	}
	return s
}

// releaseSlot drops s (which points into c.slots) and its timer.
func (e *Engine) releaseSlot(c *corrState, s *slot) {
	if s.timer != 0 {
		num := s.timer - 1
		e.timers.remove(int(e.timers.all[num].index))
		e.timers.release(num)
		s.timer = 0
	}
	e.partials--
	if s.r.kind == KindSequence {
		e.m.activeSequences--
	}
	c.remove(s)
}

// newCorr creates the state of the correlation key, whose hash is h,
// evicting the one quiet the longest when at the cap.
func (e *Engine) newCorr(key string, h uint32) *corrState {
	if e.corrs.n >= e.cfg.MaxCorrelations {
		if old, _ := e.corrs.oldest(); old != nil {
			e.m.correlationsEvicted++
			e.dropCorr(old)
		}
	}
	var c *corrState
	if n := len(e.free); n > 0 {
		c = e.free[n-1]
		e.free[n-1] = nil
		e.free = e.free[:n-1]
	} else {
		c = &corrState{}
	}
	c.key = hold(key)
	e.corrs.insert(c, h, e.clock)
	return c
}

// maxFree bounds the correlation states kept for reuse.
const maxFree = 4096

// dropCorr forgets a correlation and everything it holds.
func (e *Engine) dropCorr(c *corrState) {
	for len(c.slots) > 0 {
		s := &c.slots[len(c.slots)-1]
		if s.timer != 0 {
			e.m.timersDropped++
		}
		e.releaseSlot(c, s)
	}
	clear(c.events)
	c.events = c.events[:0]
	// Actions may name ids in the buffer: it is never written again.
	c.ids = nil
	e.corrs.remove(c)
	c.key = ""
	if len(e.free) < maxFree {
		e.free = append(e.free, c)
	}
}

// evictIdle drops the correlations quiet for longer than the idle
// timeout.
func (e *Engine) evictIdle() {
	for {
		c, last := e.corrs.oldest()
		if c == nil || last+e.idle >= e.clock {
			return
		}
		e.m.correlationsIdled++
		e.dropCorr(c)
	}
}

// appendCorrelated records ev among c's events, keeping the latest
// MaxCorrelatedEvents; ev is the clone AppendProcess made to be kept.
func (e *Engine) appendCorrelated(c *corrState, ev *event.Event) {
	if len(c.events) == e.cfg.MaxCorrelatedEvents {
		copy(c.events, c.events[1:])
		c.events[len(c.events)-1] = ev
		return
	}
	c.events = append(c.events, ev)
}

// pushRecent records ev, the clone AppendProcess made to be kept, among
// the recent events.
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
	// Counted through a pointer: assigning to a key already in the map
	// would store src in place of the copy there (see hold).
	if n := e.sources[src]; n != nil {
		*n++
		return *n
	}
	if len(e.sources) >= e.cfg.MaxSources {
		e.m.sourcesCapped++
		return 0
	}
	one := int64(1)
	e.sources[hold(src)] = &one
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

// triggerIDs returns a slice of n strings cut from a shared chunk, so
// actions do not each allocate one. The engine holds its current chunk:
// the ids put in it are never an event's own strings, which would hold
// the event's whole record (see triggerID and corrState.hold).
func (e *Engine) triggerIDs(n int) []string {
	if cap(e.trChunk)-len(e.trChunk) < n {
		e.trChunk = make([]string, 0, max(1024, n))
	}
	l := len(e.trChunk)
	e.trChunk = e.trChunk[:l+n]
	return e.trChunk[l : l+n : l+n]
}

// markIDs returns the ids of marks in a slice cut by triggerIDs, with
// extra elements left for the caller to fill.
func (e *Engine) markIDs(marks []mark, extra int) []string {
	ids := e.triggerIDs(len(marks) + extra)
	for i := range marks {
		ids[i] = marks[i].id
	}
	return ids
}

// triggerID returns a copy of id, the id of the event being processed,
// for an action to name among its triggers, cut from a chunk that is only
// ever appended to.
func (e *Engine) triggerID(id string) string {
	if len(id) == 0 {
		return ""
	}
	if len(id) > trigChunkSize/4 {
		return strings.Clone(id)
	}
	if cap(e.trigChunk)-len(e.trigChunk) < len(id) {
		e.trigChunk = make([]byte, 0, trigChunkSize)
	}
	n := len(e.trigChunk)
	e.trigChunk = append(e.trigChunk, id...)
	return unsafe.String(&e.trigChunk[n], len(id))
}

// trigChunkSize is the size of the chunks triggerID copies ids into.
const trigChunkSize = 4 << 10

// hold returns a copy of s, a string of an event (its id or correlation
// id) that the engine's state is to hold past the event. A decoded
// event's strings share one allocation with the rest of its record, data
// included, so holding one of them would keep the whole record in memory
// for as long as a correlation waits. The copy is an allocation of its
// own: strings held for a long time and strings soon dropped must not
// share one, or the one held keeps the others.
func hold(s string) string { return strings.Clone(s) }

// actionID returns the id of r's action on the triggers: ActionID, with
// the rule's prefix encoded once.
func (e *Engine) actionID(r *rule, ids []string) string {
	e.scratch = appendTriggers(append(e.scratch[:0], r.idPrefix...), ids)
	sum := sha256.Sum256(e.scratch)
	// Ids are cut from a shared chunk that is only ever appended to, so
	// the bytes under a returned string never change.
	if cap(e.idChunk)-len(e.idChunk) < 36 {
		e.idChunk = make([]byte, 0, 36*256)
	}
	n := len(e.idChunk)
	e.idChunk = appendShapedID(e.idChunk, &sum)
	return unsafe.String(&e.idChunk[n], 36)
}
