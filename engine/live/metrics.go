package live

import (
	"context"
	"sync/atomic"
	"time"
)

type metrics struct {
	events, skipped, actions, rejected, timers, errors atomic.Int64
	position, head                                     atomic.Uint64
	lastErr                                            atomic.Pointer[errorAt]
}

type errorAt struct {
	msg string
	at  time.Time
}

// Metrics is a snapshot of a runner's counters.
type Metrics struct {
	EventsProcessed int64 `json:"events_processed"` // records given to the engine: user events and clock events of TimersStream
	EventsSkipped   int64 `json:"events_skipped"`   // records not given to it: other system records, and clock events outside TimersStream
	ActionsAppended int64 `json:"actions_appended"` // action events the store accepted, including repeats of events it already held (after a restart)
	ActionsRefused  int64 `json:"actions_refused"`  // action events the store refused for good (an id taken by other content, an event over the limits), dropped
	TimersAppended  int64 `json:"timers_appended"`  // clock events appended to TimersStream
	// Position is the global position of the next record to process; the
	// actions of every record before it are in the log.
	Position uint64 `json:"position"`
	// Head is the log's head when the snapshot was taken (or the latest
	// one known, if the store could not say).
	Head uint64 `json:"head"`
	// Lag is Head − Position: the records not yet processed.
	Lag uint64 `json:"lag"`
	// Errors counts the failures of store calls, retried or not.
	Errors        int64     `json:"errors"`
	LastError     string    `json:"last_error,omitempty"`     // the latest of them
	LastErrorTime time.Time `json:"last_error_time,omitzero"` // when it happened, by the runner's clock
}

// Metrics returns a snapshot of the runner's metrics. It is safe for
// concurrent use, also while Run runs; it asks the store for its head.
func (r *Runner) Metrics() Metrics {
	pos := r.m.position.Load()
	if h, err := r.st.Head(context.Background()); err == nil {
		r.m.head.Store(h)
	}
	head := max(r.m.head.Load(), pos)
	m := Metrics{
		EventsProcessed: r.m.events.Load(),
		EventsSkipped:   r.m.skipped.Load(),
		ActionsAppended: r.m.actions.Load(),
		ActionsRefused:  r.m.rejected.Load(),
		TimersAppended:  r.m.timers.Load(),
		Position:        pos,
		Head:            head,
		Lag:             head - pos,
		Errors:          r.m.errors.Load(),
	}
	if e := r.m.lastErr.Load(); e != nil {
		m.LastError, m.LastErrorTime = e.msg, e.at
	}
	return m
}

func (r *Runner) setErr(err error) {
	r.m.errors.Add(1)
	r.m.lastErr.Store(&errorAt{msg: err.Error(), at: r.cfg.Clock.Now()})
}
