package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/store"
)

const recoverBatch = 1024

// cursor reads a stream in order, a batch at a time.
type cursor struct {
	st     store.Store
	stream string
	next   uint64
	buf    []store.Record
	done   bool
}

func (c *cursor) peek(ctx context.Context) (*store.Record, error) {
	if len(c.buf) == 0 && !c.done {
		recs, err := c.st.ReadStream(ctx, c.stream, c.next, recoverBatch)
		if err != nil {
			return nil, err
		}
		c.buf = recs
		c.done = len(recs) == 0
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	return &c.buf[0], nil
}

func (c *cursor) pop() {
	c.next = c.buf[0].StreamPosition + 1
	c.buf[0] = store.Record{}
	c.buf = c.buf[1:]
}

// recover replays the outbox stream and the dead-letter stream together, in
// log order, and rebuilds the dead-letter queue and the metrics. It
// returns the actions not yet done, oldest first, and the outbox stream
// position to follow on from.
func (d *Dispatcher) recover(ctx context.Context) ([]engine.Action, uint64, error) {
	// The figures the log holds are rebuilt from it, not added again.
	d.m.mu.Lock()
	d.m.rules = make(map[ruleKey]*RuleStats)
	d.m.mu.Unlock()
	d.m.delivered.Store(0)
	d.m.deadLettered.Store(0)
	// The actions not yet done, in log order (a retried dead letter goes
	// in again at its retry): opened holds the actions opened, those done
	// since marked until they are half of it, and pending the index in
	// opened of each still open.
	type opening struct {
		a    engine.Action
		done bool
	}
	var opened []opening
	pending := make(map[string]int)
	closeAction := func(id string) {
		i, ok := pending[id]
		if !ok {
			return
		}
		opened[i] = opening{done: true}
		delete(pending, id)
		if len(opened) < 1024 || 2*len(pending) > len(opened) {
			return
		}
		kept := opened[:0]
		for _, o := range opened {
			if !o.done {
				pending[o.a.ID] = len(kept)
				kept = append(kept, o)
			}
		}
		clear(opened[len(kept):])
		opened = kept
	}
	open := func(a *engine.Action) {
		closeAction(a.ID) // opened again: it goes at its new place
		pending[a.ID] = len(opened)
		opened = append(opened, opening{a: *a})
	}
	dead := make(map[string]*DeadLetter)
	acts := &cursor{st: d.st, stream: live.ActionsStream}
	dlq := &cursor{st: d.st, stream: DeadLetterStream}
	var head uint64
	for {
		ra, err := acts.peek(ctx)
		if err != nil {
			return nil, 0, err
		}
		rd, err := dlq.peek(ctx)
		if err != nil {
			return nil, 0, err
		}
		var rec store.Record
		switch {
		case ra == nil && rd == nil:
			actions := make([]engine.Action, 0, len(pending))
			for i := range opened {
				if !opened[i].done {
					actions = append(actions, opened[i].a)
				}
			}
			d.mu.Lock()
			d.mu.dead = dead
			d.mu.recovered = true
			d.mu.Unlock()
			if acts.next > 0 || dlq.next > 0 {
				d.readPos.Store(head + 1)
			}
			return actions, acts.next, nil
		case rd == nil || (ra != nil && ra.GlobalPosition < rd.GlobalPosition):
			rec = *ra
			acts.pop()
		default:
			rec = *rd
			dlq.pop()
		}
		head = rec.GlobalPosition
		e := rec.Event
		switch e.Type {
		case live.ActionEventType:
			var a engine.Action
			if err := a.UnmarshalJSON(e.Data); err != nil {
				d.log.Error("dispatch: skipping an action record that does not decode", "id", e.ID, "err", err)
				continue
			}
			open(&a)
		case DeliveredType:
			var ds Deliveries
			if err := ds.UnmarshalJSON(e.Data); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			for _, r := range ds.Deliveries {
				closeAction(r.ActionID)
				d.fold(e.Type, &engine.Action{ID: r.ActionID, Action: r.Action, Choreography: r.Choreography, RuleID: r.RuleID}, msDuration(r.DurationMS))
			}
		case AttemptType:
			var r Attempt
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			d.fold(e.Type, &engine.Action{ID: r.ActionID, Action: r.Action, Choreography: r.Choreography, RuleID: r.RuleID}, 0)
		case DeadLetterType:
			var dl DeadLetter
			if err := json.Unmarshal(e.Data, &dl); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			closeAction(dl.ActionID)
			dead[dl.ActionID] = &dl
			d.m.deadLettered.Add(1)
			d.m.mu.Lock()
			d.m.rule(&dl.Action).DeadLettered++
			d.m.mu.Unlock()
		case RetryType, DiscardType:
			var r Ref
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			if dl, ok := dead[r.ActionID]; ok {
				delete(dead, r.ActionID)
				if e.Type == RetryType {
					open(&dl.Action)
				}
			}
		}
	}
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
