// Package view keeps read models of the log for the API: what happened to
// each action, found by id or by correlation, without scanning the log on
// every request.
package view

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/store"
)

// Action statuses.
const (
	StatusPending      = "pending"       // decided, not yet delivered or given up on
	StatusDelivered    = "delivered"     // an agent took it
	StatusDeadLettered = "dead_lettered" // in the dead-letter queue
	StatusDiscarded    = "discarded"     // removed from the dead-letter queue for good
)

// DefaultCapacity is how many actions an Actions view keeps by default.
const DefaultCapacity = 100_000

// Action is an action and what became of it.
type Action struct {
	engine.Action
	Status    string   `json:"status"`
	Agent     string   `json:"agent,omitempty"` // the agent of the last attempt
	Attempts  int      `json:"attempts"`        // attempts made
	LastError string   `json:"last_error,omitempty"`
	Reason    string   `json:"reason,omitempty"`  // why it was dead-lettered
	Results   []string `json:"results,omitempty"` // ids of the events its agent gave back
	// ResultsOmitted counts the events its agent gave back whose ids
	// Results leaves out (a delivery record lists up to 64 KiB of ids).
	ResultsOmitted int       `json:"results_omitted,omitempty"`
	DurationMS     float64   `json:"duration_ms,omitempty"`
	DecidedAt      time.Time `json:"decided_at"`      // when its record was appended
	Position       uint64    `json:"global_position"` // of its record
	UpdatedAt      time.Time `json:"updated_at"`
}

// MarshalJSON flattens the action's fields beside the status fields.
func (a Action) MarshalJSON() ([]byte, error) {
	type status struct {
		Status     string    `json:"status"`
		Agent      string    `json:"agent,omitempty"`
		Attempts   int       `json:"attempts"`
		LastError  string    `json:"last_error,omitempty"`
		Reason     string    `json:"reason,omitempty"`
		Results    []string  `json:"results,omitempty"`
		Omitted    int       `json:"results_omitted,omitempty"`
		DurationMS float64   `json:"duration_ms,omitempty"`
		DecidedAt  time.Time `json:"decided_at"`
		Position   uint64    `json:"global_position"`
		UpdatedAt  time.Time `json:"updated_at"`
	}
	head := a.Action.AppendJSON(nil)
	tail, err := json.Marshal(status{a.Status, a.Agent, a.Attempts, a.LastError, a.Reason, a.Results, a.ResultsOmitted, a.DurationMS, a.DecidedAt, a.Position, a.UpdatedAt})
	if err != nil {
		return nil, err
	}
	out := append(head[:len(head)-1], ',')
	return append(out, tail[1:]...), nil
}

// Filter selects actions in List.
type Filter struct {
	Correlation string // only this correlation's; empty: any
	Status      string // only this status; empty: any
	Limit       int    // at most this many; <= 0 means 100
}

// Actions follows the log and keeps the latest Capacity actions with their
// status. It is safe for concurrent use.
//
// A server's view holds up to 100,000 actions for as long as it runs, so
// they are kept in a form the garbage collector can pass over: each in a
// slot of one ring, with its recorded JSON in a byte slice of its own and
// its indexes keyed by hashes, not strings. A slot has a handful of
// pointers, most of them nil, where a decoded action has dozens; every
// collection scans the whole view, and at 100,000 decoded actions that
// scan was most of its work. Get and List decode the actions they return.
type Actions struct {
	st       store.Store
	capacity int

	mu    sync.RWMutex
	ring  []slot // grows to capacity, then wraps: action seq is at ring[seq%capacity]
	first uint64 // seq of the oldest action kept
	next  uint64 // seq of the next action
	seed  maphash.Seed
	// collide makes every hash 0, for tests of colliding ids.
	collide bool
	// byID maps the hash of an action's id to its seq; an id whose hash
	// another kept action has already is in spill, by itself.
	byID  map[uint64]uint64
	spill map[string]uint64
	// byCorr maps the hash of a correlation id to seq+1 of its newest
	// action; each slot links to the one before it.
	byCorr map[uint64]uint64
	pos    uint64 // next global position to fold
	ready  chan struct{}
	caught bool
}

// slot is one kept action.
type slot struct {
	rec            []byte // the action's id, its correlation id, then its JSON
	idLen, corrLen uint32
	results        []byte // ids of the events its agent gave back, each after its length (uvarint)
	agent          string
	lastError      string
	reason         string
	status         uint8
	attempts       int32
	resultsOmitted int32
	durationMS     float64
	decided        int64 // unix nanoseconds
	updated        int64
	position       uint64
	prevCorr       uint64 // seq+1 of its correlation's previous action; 0: none
}

// id, corr and json are the parts of s.rec.
func (s *slot) id() []byte   { return s.rec[:s.idLen] }
func (s *slot) corr() []byte { return s.rec[s.idLen : s.idLen+s.corrLen] }
func (s *slot) json() []byte { return s.rec[s.idLen+s.corrLen:] }

var statuses = [...]string{StatusPending, StatusDelivered, StatusDeadLettered, StatusDiscarded}

const (
	pending uint8 = iota
	delivered
	deadLettered
	discarded
)

// NewActions returns a view of st's actions keeping at most capacity
// (DefaultCapacity if <= 0). Run fills it.
func NewActions(st store.Store, capacity int) *Actions {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Actions{st: st, capacity: capacity, seed: maphash.MakeSeed(),
		byID: make(map[uint64]uint64), byCorr: make(map[uint64]uint64), ready: make(chan struct{})}
}

// Ready is closed once the view has caught up with the log as it was when
// Run started.
func (v *Actions) Ready() <-chan struct{} { return v.ready }

// Run folds the log into the view until ctx ends or the store fails.
func (v *Actions) Run(ctx context.Context) error {
	head, err := v.st.Head(ctx)
	if err != nil {
		return err
	}
	v.mu.RLock()
	from := v.pos
	v.mu.RUnlock()
	if from >= head {
		v.markReady()
	}
	sub, err := store.SubscribeWith(ctx, v.st, from, store.SubscribeOptions{Streams: viewed})
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		rec, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return ctx.Err()
			}
			return err
		}
		v.fold(rec)
		if rec.GlobalPosition+1 >= head {
			v.markReady()
		}
	}
}

// viewed says whether the view reads the events of stream: the actions
// and the dispatcher's records about them.
func viewed(stream string) bool {
	return stream == live.ActionsStream || stream == dispatch.DeadLetterStream
}

func (v *Actions) markReady() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.caught {
		v.caught = true
		close(v.ready)
	}
}

func (v *Actions) fold(rec store.Record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pos = rec.GlobalPosition + 1
	if !viewed(rec.Stream) || rec.Event == nil {
		return
	}
	e := rec.Event
	at := unixNano(rec.Recorded)
	switch e.Type {
	case live.ActionEventType:
		v.add(e.Data, rec.GlobalPosition, at)
	case dispatch.AttemptType:
		var a dispatch.Attempt
		if json.Unmarshal(e.Data, &a) != nil {
			return
		}
		if sl := v.find(a.ActionID); sl != nil {
			sl.attempts = max(sl.attempts, int32(a.Attempt))
			sl.agent, sl.lastError, sl.updated = a.Agent, a.Error, at
		}
	case dispatch.DeliveredType:
		var ds dispatch.Deliveries
		if ds.UnmarshalJSON(e.Data) != nil {
			return
		}
		// The record's strings are pieces of one copy of the whole
		// record: a slot keeps copies, so as not to keep the record (up
		// to 256 KiB) while it stays in the view. The agent's is made
		// once for the deliveries of one agent in a row.
		var agent string
		for _, d := range ds.Deliveries {
			sl := v.find(d.ActionID)
			if sl == nil {
				continue
			}
			if d.Agent != sl.agent {
				if d.Agent != agent {
					agent = strings.Clone(d.Agent)
				}
				sl.agent = agent
			}
			sl.status, sl.attempts, sl.durationMS, sl.updated = delivered, int32(d.Attempts), d.DurationMS, at
			sl.results = appendResults(sl.results[:0], d.Results)
			sl.resultsOmitted = int32(d.ResultsOmitted)
			sl.reason = ""
		}
	case dispatch.DeadLetterType:
		var dl dispatch.DeadLetter
		if json.Unmarshal(e.Data, &dl) != nil {
			return
		}
		if sl := v.find(dl.ActionID); sl != nil {
			sl.status, sl.reason, sl.attempts, sl.lastError, sl.updated = deadLettered, dl.Reason, int32(dl.Attempts), dl.LastError, at
			if dl.Agent != "" {
				sl.agent = dl.Agent
			}
		}
	case dispatch.RetryType, dispatch.DiscardType:
		var r dispatch.Ref
		if json.Unmarshal(e.Data, &r) != nil {
			return
		}
		if sl := v.find(r.ActionID); sl != nil {
			sl.status, sl.updated = pending, at
			if e.Type == dispatch.DiscardType {
				sl.status = discarded
			}
		}
	}
}

// add keeps the action recorded as data, evicting the oldest one when
// full, unless it is kept already. v.mu is held.
func (v *Actions) add(data []byte, position uint64, at int64) {
	id, corr, ok := engine.KeysFromJSON(data)
	if !ok { // not in the layout the engine writes: decode it whole
		var a engine.Action
		if a.UnmarshalJSON(data) != nil {
			return
		}
		id, corr = a.ID, a.CorrelationID
	}
	if v.find(id) != nil {
		return
	}
	seq := v.next
	var sl *slot
	if len(v.ring) < v.capacity {
		if len(v.ring) == cap(v.ring) { // grow, but never past capacity
			v.ring = slices.Grow(v.ring, min(max(len(v.ring), 64), v.capacity-len(v.ring)))
		}
		v.ring = append(v.ring, slot{})
		sl = &v.ring[len(v.ring)-1]
	} else {
		sl = v.at(v.first)
		v.evict(sl)
	}
	// An evicted action's buffer is reused when it is not much larger
	// than what it is to hold.
	n := len(id) + len(corr) + len(data)
	buf := sl.rec[:0]
	if cap(buf) < n || cap(buf) > 2*n+256 {
		buf = make([]byte, 0, n)
	}
	buf = append(append(append(buf, id...), corr...), data...)
	results := sl.results[:0]
	if cap(results) > 1<<10 {
		results = nil
	}
	*sl = slot{rec: buf, idLen: uint32(len(id)), corrLen: uint32(len(corr)), results: results,
		status: pending, decided: at, updated: at, position: position}
	h := v.hash(id)
	if _, taken := v.byID[h]; taken { // by another kept action: ids collide
		if v.spill == nil {
			v.spill = make(map[string]uint64)
		}
		v.spill[strings.Clone(id)] = seq
	} else {
		v.byID[h] = seq
	}
	ch := v.hash(corr)
	sl.prevCorr = v.byCorr[ch]
	v.byCorr[ch] = seq + 1
	v.next++
}

// evict forgets the oldest action, whose slot is sl. v.mu is held.
func (v *Actions) evict(sl *slot) {
	seq := v.first
	id := sl.id()
	if h := v.hashBytes(id); hasSeq(v.byID, h, seq) {
		delete(v.byID, h)
	} else if s, ok := v.spill[string(id)]; ok && s == seq {
		delete(v.spill, string(id))
	}
	if ch := v.hashBytes(sl.corr()); hasSeq(v.byCorr, ch, seq+1) {
		delete(v.byCorr, ch)
	}
	v.first++
}

func (v *Actions) hash(s string) uint64 {
	if v.collide {
		return 0
	}
	return maphash.String(v.seed, s)
}

func (v *Actions) hashBytes(b []byte) uint64 {
	if v.collide {
		return 0
	}
	return maphash.Bytes(v.seed, b)
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the time unixNano gave n for.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// hasSeq reports whether m maps h to seq.
func hasSeq(m map[uint64]uint64, h, seq uint64) bool {
	s, ok := m[h]
	return ok && s == seq
}

// at returns the slot of action seq, which must be kept.
func (v *Actions) at(seq uint64) *slot { return &v.ring[seq%uint64(v.capacity)] }

// find returns the slot of action id, or nil. v.mu is held.
func (v *Actions) find(id string) *slot {
	if seq, ok := v.byID[v.hash(id)]; ok {
		if sl := v.at(seq); string(sl.id()) == id {
			return sl
		}
	}
	if seq, ok := v.spill[id]; ok {
		return v.at(seq)
	}
	return nil
}

// appendResults appends ids to b, each after its length.
func appendResults(b []byte, ids []string) []byte {
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

// readResults returns the ids appendResults wrote to b, cut from one
// string.
func readResults(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	var ids []string
	all := string(b)
	for off := 0; off < len(b); {
		n, k := binary.Uvarint(b[off:])
		if k <= 0 || n > uint64(len(b)-off-k) {
			break
		}
		off += k
		ids = append(ids, all[off:off+int(n)])
		off += int(n)
	}
	return ids
}

// action decodes the action in sl.
func (sl *slot) action() Action {
	var a Action
	if a.Action.UnmarshalJSON(sl.json()) != nil {
		// add took only what decodes; keep the id at least
		a.ID, a.CorrelationID = string(sl.id()), string(sl.corr())
	}
	a.Status, a.Agent, a.Attempts, a.LastError, a.Reason = statuses[sl.status], sl.agent, int(sl.attempts), sl.lastError, sl.reason
	a.Results, a.ResultsOmitted, a.DurationMS = readResults(sl.results), int(sl.resultsOmitted), sl.durationMS
	a.DecidedAt, a.Position, a.UpdatedAt = fromUnixNano(sl.decided), sl.position, fromUnixNano(sl.updated)
	return a
}

// Get returns action id.
func (v *Actions) Get(id string) (Action, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	sl := v.find(id)
	if sl == nil {
		return Action{}, false
	}
	return sl.action(), true
}

// List returns the actions f selects, newest first.
func (v *Actions) List(f Filter) []Action {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := []Action{}
	take := func(sl *slot) {
		if f.Status == "" || statuses[sl.status] == f.Status {
			out = append(out, sl.action())
		}
	}
	if f.Correlation == "" {
		for seq := v.next; seq > v.first && len(out) < f.Limit; seq-- {
			take(v.at(seq - 1))
		}
		return out
	}
	// The correlation's actions, newest first; a correlation whose hash
	// is the same shares the chain.
	for n := v.byCorr[v.hash(f.Correlation)]; n > v.first && len(out) < f.Limit; {
		sl := v.at(n - 1)
		if string(sl.corr()) == f.Correlation {
			take(sl)
		}
		n = sl.prevCorr
	}
	return out
}

// Counts returns how many kept actions have each status.
func (v *Actions) Counts() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var n [len(statuses)]int
	for i := range v.ring {
		n[v.ring[i].status]++
	}
	out := make(map[string]int, len(statuses))
	for i, s := range statuses {
		out[s] = n[i]
	}
	return out
}
