// Package view keeps read models of the log for the API: what happened to
// each action, found by id or by correlation, without scanning the log on
// every request.
package view

import (
	"context"
	"encoding/json"
	"errors"
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
type Actions struct {
	st       store.Store
	capacity int

	mu     sync.RWMutex
	byID   map[string]*Action
	order  []string // action ids, oldest first, at most capacity
	byCorr map[string][]string
	pos    uint64 // next global position to fold
	ready  chan struct{}
	caught bool
}

// NewActions returns a view of st's actions keeping at most capacity
// (DefaultCapacity if <= 0). Run fills it.
func NewActions(st store.Store, capacity int) *Actions {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Actions{st: st, capacity: capacity, byID: make(map[string]*Action), byCorr: make(map[string][]string), ready: make(chan struct{})}
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
	sub, err := v.st.Subscribe(ctx, from)
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
	if rec.Stream != live.ActionsStream && rec.Stream != dispatch.DeadLetterStream {
		return
	}
	e := rec.Event
	switch e.Type {
	case live.ActionEventType:
		var a engine.Action
		if a.UnmarshalJSON(e.Data) != nil {
			return
		}
		if _, ok := v.byID[a.ID]; ok {
			return
		}
		v.add(&Action{Action: a, Status: StatusPending, DecidedAt: rec.Recorded, Position: rec.GlobalPosition, UpdatedAt: rec.Recorded})
	case dispatch.AttemptType:
		var at dispatch.Attempt
		if json.Unmarshal(e.Data, &at) != nil {
			return
		}
		if a := v.byID[at.ActionID]; a != nil {
			a.Attempts = max(a.Attempts, at.Attempt)
			a.Agent, a.LastError, a.UpdatedAt = at.Agent, at.Error, rec.Recorded
		}
	case dispatch.DeliveredType:
		var ds dispatch.Deliveries
		if ds.UnmarshalJSON(e.Data) != nil {
			return
		}
		// The record's strings are pieces of one copy of the whole
		// record: an action keeps copies, so as not to keep the record
		// (up to 256 KiB) while it stays in the view. The agent's is
		// made once for the deliveries of one agent in a row.
		var agent string
		for _, d := range ds.Deliveries {
			if a := v.byID[d.ActionID]; a != nil {
				if d.Agent != a.Agent {
					if d.Agent != agent {
						agent = strings.Clone(d.Agent)
					}
					a.Agent = agent
				}
				a.Status, a.Attempts, a.Results, a.DurationMS, a.UpdatedAt = StatusDelivered, d.Attempts, cloneIDs(d.Results), d.DurationMS, rec.Recorded
				a.ResultsOmitted = d.ResultsOmitted
				a.Reason = ""
			}
		}
	case dispatch.DeadLetterType:
		var dl dispatch.DeadLetter
		if json.Unmarshal(e.Data, &dl) != nil {
			return
		}
		if a := v.byID[dl.ActionID]; a != nil {
			a.Status, a.Reason, a.Attempts, a.LastError, a.UpdatedAt = StatusDeadLettered, dl.Reason, dl.Attempts, dl.LastError, rec.Recorded
			if dl.Agent != "" {
				a.Agent = dl.Agent
			}
		}
	case dispatch.RetryType, dispatch.DiscardType:
		var r dispatch.Ref
		if json.Unmarshal(e.Data, &r) != nil {
			return
		}
		if a := v.byID[r.ActionID]; a != nil {
			a.Status, a.UpdatedAt = StatusPending, rec.Recorded
			if e.Type == dispatch.DiscardType {
				a.Status = StatusDiscarded
			}
		}
	}
}

// cloneIDs returns a copy of ids, the copied strings cut from one
// allocation.
func cloneIDs(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	n := 0
	for _, id := range ids {
		n += len(id)
	}
	var b strings.Builder
	b.Grow(n)
	for _, id := range ids {
		b.WriteString(id)
	}
	all := b.String()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], all = all[:len(id)], all[len(id):]
	}
	return out
}

// add keeps a, evicting the oldest action when full. v.mu is held.
func (v *Actions) add(a *Action) {
	if len(v.order) >= v.capacity {
		old := v.order[0]
		v.order = v.order[1:]
		if o := v.byID[old]; o != nil {
			ids := v.byCorr[o.CorrelationID]
			if i := slices.Index(ids, old); i >= 0 {
				ids = slices.Delete(ids, i, i+1)
			}
			if len(ids) == 0 {
				delete(v.byCorr, o.CorrelationID)
			} else {
				v.byCorr[o.CorrelationID] = ids
			}
		}
		delete(v.byID, old)
	}
	if cap(v.order) > 4*v.capacity { // the slice has crept forward: compact it
		v.order = slices.Clone(v.order)
	}
	v.order = append(v.order, a.ID)
	v.byID[a.ID] = a
	v.byCorr[a.CorrelationID] = append(v.byCorr[a.CorrelationID], a.ID)
}

// Get returns action id.
func (v *Actions) Get(id string) (Action, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	a, ok := v.byID[id]
	if !ok {
		return Action{}, false
	}
	return *a, true
}

// List returns the actions f selects, newest first.
func (v *Actions) List(f Filter) []Action {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	ids := v.order
	if f.Correlation != "" {
		ids = v.byCorr[f.Correlation]
	}
	out := []Action{}
	for i := len(ids) - 1; i >= 0 && len(out) < f.Limit; i-- {
		a := v.byID[ids[i]]
		if a == nil || (f.Status != "" && a.Status != f.Status) {
			continue
		}
		out = append(out, *a)
	}
	return out
}

// Counts returns how many kept actions have each status.
func (v *Actions) Counts() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[string]int{StatusPending: 0, StatusDelivered: 0, StatusDeadLettered: 0, StatusDiscarded: 0}
	for _, a := range v.byID {
		out[a.Status]++
	}
	return out
}
