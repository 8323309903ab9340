package engine

import (
	"math"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/condition"
	"github.com/choreohq/choreo/event"
)

// TimerEventType is the type of the clock events a live engine appends to
// the log so that replay repeats its timers. Such an event needs only an
// id, a source and its time: processing it is Advance(time). It is matched
// by no rule, counted in Metrics.TimerEvents and in nothing else, and does
// not appear in `recent_events`. Its data, if any, is ignored; a clock
// conventionally puts {"due": "<time of the timer it serves>"} there for
// readers of the log.
const TimerEventType = "choreo.timer"

// Engine matches events against choreographies: a deterministic fold over
// the events given to Process, in the order given, whose output is a list
// of actions. It never reads the wall clock; time is event time.
//
// An Engine is not safe for concurrent use: one goroutine feeds it and
// reads its Metrics.
type Engine struct {
	cfg     Config
	rules   []*rule
	byType  map[string][]entry
	wild    []entry
	idle    int64
	needs   condition.Var // variables some condition uses
	hasCorr bool          // some rule keeps per-correlation state

	clock int64 // the latest event time seen, ns since the Unix epoch

	corrs    corrIndex
	keyHash  uint32 // the corrIndex hash of the current event's correlation
	free     []*corrState
	partials int

	timers   timerQueue
	timerSeq uint64

	recent    []*event.Event // mirrored ring of 2*RecentEvents
	recentPos int
	recentLen int
	sources   map[string]*int64

	dedup *dedup

	ctx       evalCtx
	scratch   []byte
	idChunk   []byte   // action id strings are cut from it
	trigChunk []byte   // copies of the trigger ids of actions (triggerID)
	trChunk   []string // trigger id slices are cut from it
	start     int      // index in dst of the first action of the current event

	m counters
}

// New compiles the rules of chs, in order, into an engine. Rules whose
// Program is nil have their Condition compiled with cfg.Condition. It
// returns a *RuleError for a rule it cannot evaluate.
func New(chs []*choreography.Choreography, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rules, err := compileRules(chs, cfg.Condition)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(longestWindow(rules))
	e := &Engine{
		cfg:   cfg,
		rules: rules,
		idle:  int64(cfg.IdleTimeout),
		corrs: newCorrIndex(),
	}
	e.byType, e.wild = buildIndex(rules)
	for _, r := range rules {
		if r.prog != nil {
			e.needs |= r.prog.Uses()
		}
		if r.kind != KindPattern && r.kind != choreography.KindStateTransition {
			e.hasCorr = true
		}
	}
	if e.needs&condition.VarRecentEvents != 0 {
		e.recent = make([]*event.Event, 2*cfg.RecentEvents)
	}
	if e.needs&condition.VarSourceEventCount != 0 {
		e.sources = make(map[string]*int64)
	}
	if e.needs&condition.VarCorrelatedEvents != 0 {
		e.hasCorr = true
	}
	if cfg.DedupWindow > 0 {
		e.dedup = newDedup(cfg.DedupWindow)
	}
	e.ctx.e = e
	return e, nil
}

// Now returns the engine's clock: the latest event time it has seen (or
// advanced to), the zero time before any.
func (e *Engine) Now() time.Time {
	if e.clock == 0 {
		return time.Time{}
	}
	return fromNanos(e.clock)
}

// NextTimer returns when the earliest pending timer is due. A live clock
// appends a TimerEventType event at that time, so that the firing is in
// the log.
func (e *Engine) NextTimer() (time.Time, bool) {
	if len(e.timers.heap) == 0 {
		return time.Time{}, false
	}
	return fromNanos(e.timers.heap[0].due), true
}

// Process evaluates one event and returns the actions it causes: first
// those of timers due strictly before the event's time, in due order, then
// those of the rules the event matches, highest priority first, ties in
// declaration order. A duplicate event (an id among the last
// Config.DedupWindow) causes nothing.
func (e *Engine) Process(ev *event.Event) []Action { return e.AppendProcess(nil, ev) }

// AppendProcess is Process appending the actions to dst, so a caller that
// reuses dst allocates nothing for them.
func (e *Engine) AppendProcess(dst []Action, ev *event.Event) []Action {
	// Look up the correlation before the duplicate check: the look-up
	// changes nothing, and its memory reads overlap those of the check.
	// Timers firing before the event may change the correlations, in
	// which case the look-up is repeated.
	key := ev.Correlation()
	var c *corrState
	var changes uint64
	if e.hasCorr {
		e.keyHash = e.corrs.hash(key)
		c = e.corrs.find(key, e.keyHash)
		changes = e.corrs.changes
	}
	if e.duplicate(ev.ID) {
		e.m.duplicates++
		return dst
	}
	if ev.Type == TimerEventType {
		e.m.timerEvents++
		if !ev.Time.IsZero() {
			dst = e.advance(dst, toNanos(ev.Time), true)
		}
		return dst
	}
	t := e.clock
	if !ev.Time.IsZero() {
		t = toNanos(ev.Time)
		if t > e.clock {
			dst = e.advance(dst, t, false)
		}
	}
	e.m.events++
	// The events the state keeps (recent_events, correlated_events) are
	// clones: an event read from the log shares its memory with the
	// records read with it, and keeping it would keep them all.
	kept := ev
	if e.recent != nil || e.needs&condition.VarCorrelatedEvents != 0 {
		kept = ev.Clone()
	}
	if e.recent != nil {
		e.pushRecent(kept)
	}
	var srcCount int64
	if e.sources != nil {
		srcCount = e.countSource(ev.Source)
	}

	if e.hasCorr {
		if e.corrs.changes != changes {
			c = e.corrs.find(key, e.keyHash)
		}
		if c != nil {
			e.corrs.touch(c, e.clock)
		} else if e.needs&condition.VarCorrelatedEvents != 0 {
			c = e.newCorr(key, e.keyHash)
		}
		if c != nil && e.needs&condition.VarCorrelatedEvents != 0 {
			e.appendCorrelated(c, kept)
		}
	}
	e.ctx = evalCtx{e: e, ev: ev, t: t, corr: c, srcCount: srcCount}

	list, ok := e.byType[ev.Type]
	if !ok {
		list = e.wild
	}
	e.start = len(dst)
	for i := range list {
		en := &list[i]
		r := en.r
		switch en.role {
		case rolePattern:
			if e.eval(r) {
				dst = e.fire(dst, r, e.patternKey(r, ev, key), t, ev.Hops, ev.ID)
			}
		case roleSequence:
			dst = e.sequence(dst, r, &c, key, ev, t)
		case roleTemporalRequired:
			e.temporalRequired(r, en.arg, &c, key, ev, t)
		case roleTemporalTrigger:
			dst = e.temporalTrigger(dst, r, c, key, ev, t)
		case roleThreshold:
			dst = e.threshold(dst, r, &c, key, ev, t)
		case roleAbsenceExpected:
			e.absenceExpected(r, c)
		case roleAbsenceStart:
			e.absenceStart(r, &c, key, ev, t)
		}
	}
	if c != nil && c.empty() {
		e.dropCorr(c)
	}
	e.ctx = evalCtx{e: e}
	sortByPriority(dst[e.start:])
	return dst
}

// Advance moves the clock to t and returns the actions of the timers due
// by t (inclusive), in due order. Idle correlations are evicted.
func (e *Engine) Advance(t time.Time) []Action { return e.AppendAdvance(nil, t) }

// AppendAdvance is Advance appending to dst.
func (e *Engine) AppendAdvance(dst []Action, t time.Time) []Action {
	return e.advance(dst, toNanos(t), true)
}

// Flush fires every pending timer, whatever its due time, in due order,
// moving the clock along; it is what the end of a finite log calls for
// when the future is to be assumed empty.
func (e *Engine) Flush() []Action { return e.AppendFlush(nil) }

// AppendFlush is Flush appending to dst.
func (e *Engine) AppendFlush(dst []Action) []Action {
	if len(e.timers.heap) == 0 {
		return dst
	}
	last := e.timers.heap[0].due
	for _, t := range e.timers.heap {
		last = max(last, t.due)
	}
	return e.advance(dst, last, true)
}

// advance fires the timers due before t (or at t when inclusive), then
// sets the clock to t and evicts idle correlations.
func (e *Engine) advance(dst []Action, t int64, inclusive bool) []Action {
	for len(e.timers.heap) > 0 {
		ref := e.timers.heap[0]
		if ref.due > t || (ref.due == t && !inclusive) {
			break
		}
		if ref.due > e.clock {
			// Correlations idle by the timer's due time go first, as
			// they would have had an event come in between; the timer
			// may be theirs, and go with them: look again.
			e.clock = ref.due
			e.evictIdle()
			continue
		}
		e.timers.remove(0)
		dst = e.fireAbsence(dst, ref.num)
	}
	if t > e.clock {
		e.clock = t
	}
	e.evictIdle()
	return dst
}

// eval runs r's condition on the current event; an error counts as no
// match and in the rule's metrics.
func (e *Engine) eval(r *rule) bool {
	if r.prog == nil {
		return true
	}
	ok, err := r.prog.Eval(&e.ctx)
	if err != nil {
		r.condErrors++
		return false
	}
	return ok
}

// fire appends r's action for one trigger event.
func (e *Engine) fire(dst []Action, r *rule, corr string, t int64, hops int, trigger string) []Action {
	ids := e.triggerIDs(1)
	ids[0] = e.triggerID(trigger)
	return e.emit(dst, r, corr, t, hops, ids)
}

// emit appends r's action for the given triggers (a slice the action
// keeps). The action is written in place: an Action is large, and
// building it aside to copy it in costs more than its fields.
func (e *Engine) emit(dst []Action, r *rule, corr string, t int64, hops int, ids []string) []Action {
	r.triggers++
	e.m.actions++
	dst = append(dst, Action{})
	a := &dst[len(dst)-1]
	a.ID = e.actionID(r, ids)
	a.Action = r.action
	a.TargetCapability = r.capability
	a.Priority = r.priority
	a.Choreography = r.chor
	a.RuleID = r.id
	a.RuleKind = r.kind
	a.CorrelationID = corr
	a.TriggerEventIDs = ids
	a.Time = fromNanos(t)
	a.Timeout = r.timeout
	a.Hops = hops
	return dst
}

// sequence advances r's partial match in the event's correlation.
func (e *Engine) sequence(dst []Action, r *rule, cp **corrState, key string, ev *event.Event, t int64) []Action {
	c := *cp
	var s *slot
	if c != nil {
		s = c.find(r)
	}
	if s != nil && t-s.last > r.maxInterval {
		// The gap since the last step exceeds max_interval: the partial
		// match is dead whatever this event is.
		e.m.expiredSequences++
		e.releaseSlot(c, s)
		s = nil
	}
	if s == nil {
		if ev.Type != r.steps[0] {
			return dst
		}
		if s = e.newSlot(r, cp, key); s == nil {
			return dst
		}
		s.last = t
		s.marks = append(s.marks, mark{(*cp).hold(ev.ID), t})
		return dst
	}
	if r.steps[len(s.marks)] != ev.Type {
		return dst
	}
	s.last = t
	if len(s.marks)+1 < len(r.steps) {
		s.marks = append(s.marks, mark{(*cp).hold(ev.ID), t})
		return dst
	}
	// The last step: the slot goes now, and the id only goes on in the
	// action.
	s.marks = append(s.marks, mark{e.triggerID(ev.ID), t})
	ids := e.markIDs(s.marks, 0)
	e.m.completedSequences++
	e.releaseSlot(*cp, s)
	return e.emit(dst, r, key, t, ev.Hops, ids)
}

// temporalRequired records a required event of a temporal sequence.
func (e *Engine) temporalRequired(r *rule, i int, cp **corrState, key string, ev *event.Event, t int64) {
	var s *slot
	if *cp != nil {
		s = (*cp).find(r)
	}
	if s == nil {
		if s = e.newSlot(r, cp, key); s == nil {
			return
		}
		s.marks = s.marks[:len(r.required)]
		clear(s.marks)
	}
	s.marks[i] = mark{(*cp).hold(ev.ID), t}
}

// temporalTrigger fires when every required event was seen in the
// correlation within the window before the trigger; the required events
// are then consumed.
func (e *Engine) temporalTrigger(dst []Action, r *rule, c *corrState, key string, ev *event.Event, t int64) []Action {
	if c == nil {
		return dst
	}
	s := c.find(r)
	if s == nil {
		return dst
	}
	for _, m := range s.marks {
		if m.id == "" || t-m.t > r.window {
			return dst
		}
	}
	if !e.eval(r) {
		return dst
	}
	ids := e.markIDs(s.marks, 1)
	ids[len(s.marks)] = e.triggerID(ev.ID)
	e.releaseSlot(c, s)
	return e.emit(dst, r, key, t, ev.Hops, ids)
}

// threshold counts the event in its group's sliding window and fires when
// the count reaches the threshold; the window then starts empty.
func (e *Engine) threshold(dst []Action, r *rule, cp **corrState, key string, ev *event.Event, t int64) []Action {
	if !e.eval(r) {
		return dst
	}
	var s *slot
	corr := key
	if r.global {
		s = &r.globalSlot
		s.r = r
		corr = ""
	} else {
		if *cp != nil {
			s = (*cp).find(r)
		}
		if s == nil {
			if s = e.newSlot(r, cp, key); s == nil {
				return dst
			}
		}
	}
	// Drop what fell out of the window (inclusive: an event exactly
	// time_window old still counts).
	n := 0
	for i := range s.marks {
		if t-s.marks[i].t <= r.window {
			s.marks[n] = s.marks[i]
			n++
		}
	}
	clear(s.marks[n:])
	var id string
	if r.global {
		id = hold(ev.ID) // the global slot is no correlation's
	} else {
		id = (*cp).hold(ev.ID)
	}
	s.marks = append(s.marks[:n], mark{id, t})
	if len(s.marks) < r.threshold {
		return dst
	}
	ids := e.markIDs(s.marks, 0)
	if r.global {
		s.reset(r)
	} else {
		e.releaseSlot(*cp, s)
	}
	return e.emit(dst, r, corr, t, ev.Hops, ids)
}

// absenceExpected cancels a pending absence wait of the correlation.
func (e *Engine) absenceExpected(r *rule, c *corrState) {
	if c == nil {
		return
	}
	if s := c.find(r); s != nil {
		e.releaseSlot(c, s)
	}
}

// absenceStart starts an absence wait unless one is pending for the
// correlation: the first starting event sets the deadline.
func (e *Engine) absenceStart(r *rule, cp **corrState, key string, ev *event.Event, t int64) {
	if *cp != nil && (*cp).find(r) != nil {
		return
	}
	if !e.eval(r) {
		return
	}
	s := e.newSlot(r, cp, key)
	if s == nil {
		return
	}
	num := e.timers.add(timer{corr: *cp, r: r, start: hold(ev.ID), due: t + r.window}, e.timerSeq)
	e.timerSeq++
	s.hops = ev.Hops
	s.timer = num + 1
}

// fireAbsence appends the action of the absence whose timer num, taken
// out of the heap, ran out.
func (e *Engine) fireAbsence(dst []Action, num int32) []Action {
	tm := e.timers.all[num]
	c := tm.corr
	s := c.find(tm.r)
	hops := 0
	if s != nil {
		hops = s.hops
		s.timer = 0
		e.releaseSlot(c, s)
	}
	ids := e.triggerIDs(1)
	ids[0] = tm.start
	dst = e.emit(dst, tm.r, c.key, tm.due, hops, ids)
	e.timers.release(num)
	if c.empty() && c != e.ctx.corr {
		e.dropCorr(c)
	}
	return dst
}

// patternKey is the correlation a pattern's action carries: the values of
// its correlation_keys in the event's data, joined with "|", or the
// event's correlation when it has none or one is missing.
func (e *Engine) patternKey(r *rule, ev *event.Event, key string) string {
	if len(r.keys) == 0 {
		return key
	}
	if !ev.DataIsJSON() {
		r.missingKeys++
		return key
	}
	b := e.scratch[:0]
	for i, k := range r.keys {
		v, ok := lookupKey(ev.Data, k)
		if !ok {
			r.missingKeys++
			e.scratch = b
			return key
		}
		if i > 0 {
			b = append(b, '|')
		}
		b = v.appendText(b)
	}
	e.scratch = b
	k := string(b)
	if k == "" || !event.UsableID(k) {
		// It could not be the action's correlation id, nor name the stream
		// of its agent's events.
		r.missingKeys++
		return key
	}
	return k
}

// sortByPriority sorts one event's actions by priority, highest first,
// keeping declaration order among equals (they were appended in it).
func sortByPriority(a []Action) {
	for i := 1; i < len(a); i++ {
		if a[i].Priority <= a[i-1].Priority {
			continue
		}
		x := a[i]
		j := i
		for j > 0 && a[j-1].Priority < x.Priority {
			a[j] = a[j-1]
			j--
		}
		a[j] = x
	}
}

// toNanos converts an event time to nanoseconds since the Unix epoch,
// clamping times outside 1678–2262 to that range.
func toNanos(t time.Time) int64 {
	const limit = math.MaxInt64/int64(time.Second) - 1
	if s := t.Unix(); s > limit {
		return limit * int64(time.Second)
	} else if s < -limit {
		return -limit * int64(time.Second)
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
