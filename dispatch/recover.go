package dispatch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
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

// openAction is an action recovery found not done: the stream position
// of its record in the outbox, or, for a dead letter sent back for
// delivery, of the dead letter's record in DeadLetterStream. Recovery
// keeps no more than this of each open action, so that a large backlog
// costs tens of bytes an action until the action is read again to be
// delivered.
type openAction struct {
	seq   uint64 // global position of the record that opened it
	pos   uint64 // its record's position in its stream
	tried uint32 // failed attempts recorded since it opened
	dead  bool   // the record is a dead letter's, sent back for delivery
}

// recover replays the outbox stream and the dead-letter stream together, in
// log order, and rebuilds the dead-letter queue and the metrics. It
// returns the actions not yet done, oldest first (to be read with
// openReader), and the outbox stream position to follow on from.
func (d *Dispatcher) recover(ctx context.Context) ([]openAction, uint64, error) {
	// The figures the log holds are rebuilt from it, not added again.
	d.m.mu.Lock()
	d.m.rules = make(map[ruleKey]*RuleStats)
	d.m.mu.Unlock()
	d.m.delivered.Store(0)
	d.m.deadLettered.Store(0)
	pending := make(map[string]openAction)
	dead := make(map[string]deadRef)
	left := make(map[string]leftWork)
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
			out := make([]openAction, 0, len(pending))
			for _, o := range pending {
				out = append(out, o)
			}
			clear(pending)
			d.left = left
			slices.SortFunc(out, func(x, y openAction) int { return cmp.Compare(x.seq, y.seq) })
			d.mu.Lock()
			d.mu.dead = dead
			d.mu.recovered = true
			d.mu.Unlock()
			if acts.next > 0 || dlq.next > 0 {
				d.readPos.Store(head + 1)
			}
			return out, acts.next, nil
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
			// Only the id is kept: the action is decoded when it is read
			// again to be delivered.
			id, ok := engine.IDFromJSON(e.Data)
			if !ok {
				var a engine.Action
				if err := a.UnmarshalJSON(e.Data); err != nil {
					d.log.Error("dispatch: skipping an action record that does not decode", "id", e.ID, "err", err)
					continue
				}
				id = a.ID
			}
			// A copy of the id: it shares the record's bytes.
			pending[strings.Clone(id)] = openAction{seq: head, pos: rec.StreamPosition}
		case DeliveredType:
			var ds Deliveries
			if err := ds.UnmarshalJSON(e.Data); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			for _, r := range ds.Deliveries {
				delete(pending, r.ActionID)
				delete(left, r.ActionID)
				d.fold(e.Type, &engine.Action{ID: r.ActionID, Action: r.Action, Choreography: r.Choreography, RuleID: r.RuleID}, msDuration(r.DurationMS))
			}
		case AttemptType:
			var r Attempt
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			d.fold(e.Type, &engine.Action{ID: r.ActionID, Action: r.Action, Choreography: r.Choreography, RuleID: r.RuleID}, 0)
			if o, ok := pending[r.ActionID]; ok && r.Attempt > 0 {
				// The next Run goes on counting, so that restarts do
				// not give an action MaxAttempts afresh each time.
				o.tried = max(o.tried, uint32(min(r.Attempt, math.MaxUint32)))
				pending[r.ActionID] = o
				// The next attempt at that agent follows the work this
				// one left running there.
				if w, ok := left[r.ActionID]; ok || r.Task != "" {
					w.failed(r.Agent, r.Task)
					left[r.ActionID] = w
				}
			}
		case DeadLetterType:
			var dl DeadLetter
			if err := json.Unmarshal(e.Data, &dl); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			delete(pending, dl.ActionID)
			delete(left, dl.ActionID)
			dead[dl.ActionID] = refOf(&dl, rec.StreamPosition)
			d.m.deadLettered.Add(1)
			d.m.mu.Lock()
			d.m.rule(&dl.Action).DeadLettered++
			d.m.mu.Unlock()
		case RetryType, DiscardType:
			var r Ref
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return nil, 0, fmt.Errorf("dispatch: record %d (%s) does not decode: %w", head, e.Type, err)
			}
			if ref, ok := dead[r.ActionID]; ok {
				delete(dead, r.ActionID)
				if e.Type == RetryType {
					pending[r.ActionID] = openAction{seq: head, pos: ref.pos, dead: true}
				}
			}
		}
	}
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// posReader reads the records of one stream at ascending positions,
// reading up to recoverBatch records ahead at a time.
type posReader struct {
	st     store.Store
	stream string
	buf    []store.Record // from buf[0].StreamPosition on
}

// at returns the record at stream position pos, at or after the last
// one asked for; upto, the last position the caller will ask for, bounds
// the read ahead (0: no bound but recoverBatch). A record missing from its
// place is an error that wraps errNoRecord.
func (r *posReader) at(ctx context.Context, pos, upto uint64) (*store.Record, error) {
	for len(r.buf) > 0 && r.buf[0].StreamPosition < pos {
		r.buf[0] = store.Record{}
		r.buf = r.buf[1:]
	}
	if len(r.buf) == 0 || r.buf[0].StreamPosition != pos {
		n := recoverBatch
		if upto >= pos {
			n = int(min(upto-pos+1, recoverBatch))
		}
		var err error
		if r.buf, err = r.st.ReadStream(ctx, r.stream, pos, n); err != nil {
			return nil, fmt.Errorf("dispatch: reading %s at %d: %w", r.stream, pos, err)
		}
		if len(r.buf) == 0 || r.buf[0].StreamPosition != pos {
			return nil, fmt.Errorf("%w: %s at %d", errNoRecord, r.stream, pos)
		}
	}
	return &r.buf[0], nil
}

// newOpenReader returns a reader of the open actions recovery found.
func newOpenReader(st store.Store, open []openAction) *openReader {
	return &openReader{st: st, open: open, acts: posReader{st: st, stream: live.ActionsStream}}
}

// openReader reads the open actions recovery found, in order, reading
// their records again from the outbox a batch at a time.
type openReader struct {
	st   store.Store
	open []openAction
	acts posReader           // over live.ActionsStream
	left map[string]leftWork // see Dispatcher.left
}

// next returns the next open action; ok is false when there are no more.
// An action record that no longer decodes is skipped (it was checked once
// already by recovery, which skipped it too).
func (r *openReader) next(ctx context.Context) (t task, ok bool, err error) {
	for len(r.open) > 0 {
		o := r.open[0]
		r.open = r.open[1:]
		if o.dead {
			dls, err := readDeadLetters(ctx, r.st, []uint64{o.pos})
			if err != nil {
				return task{}, false, err
			}
			return task{a: dls[0].Action, tried: int(o.tried), left: r.left[dls[0].Action.ID]}, true, nil
		}
		rec, err := r.acts.at(ctx, o.pos, 0)
		if err != nil {
			return task{}, false, err
		}
		if err := t.a.UnmarshalJSON(rec.Event.Data); err == nil {
			t.tried = int(o.tried)
			t.left = r.left[t.a.ID]
			return t, true, nil
		}
	}
	return task{}, false, nil
}
