package engine

import (
	"time"

	"github.com/choreohq/choreo/condition"
	"github.com/choreohq/choreo/event"
)

// evalCtx is the condition context of the event being processed. It
// builds nothing until a condition asks; the slices it returns are valid
// only during the evaluation.
type evalCtx struct {
	e        *Engine
	ev       *event.Event
	t        int64
	corr     *corrState
	srcCount int64
}

var _ condition.Context = (*evalCtx)(nil)

// Event returns the event being processed.
func (c *evalCtx) Event() *event.Event { return c.ev }

// Data returns the event's data as raw JSON text (*json.RawMessage, which
// boxes without allocating), or its binary data as []byte, or nil when it
// has none.
func (c *evalCtx) Data() any {
	switch {
	case c.ev.Data != nil:
		return &c.ev.Data
	case c.ev.DataBase64 != nil:
		return c.ev.DataBase64
	}
	return nil
}

// Timestamp returns the event's time, or the engine clock for an event
// without one.
func (c *evalCtx) Timestamp() time.Time {
	if !c.ev.Time.IsZero() {
		return c.ev.Time
	}
	return fromNanos(c.t)
}

// RecentEvents returns the latest events, this one included, oldest
// first.
func (c *evalCtx) RecentEvents() []*event.Event {
	if c.e.recent == nil {
		return nil
	}
	return c.e.recentEvents()
}

// CorrelatedEvents returns the latest events of this event's correlation,
// this one included, oldest first.
func (c *evalCtx) CorrelatedEvents() []*event.Event {
	if c.corr == nil {
		return nil
	}
	return c.corr.events[:len(c.corr.events):len(c.corr.events)]
}

// EventCount returns how many events the engine has processed, this one
// included (duplicates and timer events excluded).
func (c *evalCtx) EventCount() int64 { return c.e.m.events }

// SourceEventCount returns how many events came from this event's source,
// this one included.
func (c *evalCtx) SourceEventCount() int64 { return c.srcCount }
