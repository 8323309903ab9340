package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/store"
)

// maxRecorded bounds the commit times the tracker keeps for the latency
// figures: a few per order of the largest plan.
const maxRecorded = 32 * MaxOrders

// tracker follows the log: it prints the flow and knows when each planned
// order has ended.
type tracker struct {
	plan  *Plan
	out   *printer // nil: print nothing
	start time.Time
	label func(agentID string) string

	allEnded chan struct{} // closed once every planned order has ended

	mu struct {
		sync.Mutex
		orders   map[string]*orderState
		ended    int
		actions  map[string]*actionState // by action id
		recorded map[string]time.Time    // user event id → when the log committed it
		decide   []time.Duration         // trigger event committed → action committed
	}
}

// actionState is what the tracker knows of one action.
type actionState struct {
	corr    string // its correlation
	pending bool   // decided, not yet delivered or dead-lettered
}

// orderState is what the tracker knows of one planned order.
type orderState struct {
	index     int
	events    int    // events of its correlation in the log
	last      string // the type of the latest
	closed    bool   // order_closed seen
	reviewed  bool   // the product review's A2A task ended
	cancelled bool   // order_cancelled seen
	pending   int    // its actions not yet delivered or dead-lettered
	outcome   string // set once it has ended
	endedAt   time.Time
}

func newTracker(plan *Plan, out *printer, start time.Time, label func(string) string) *tracker {
	t := &tracker{plan: plan, out: out, start: start, label: label, allEnded: make(chan struct{})}
	t.mu.orders = make(map[string]*orderState, len(plan.Orders))
	for i := range plan.Orders {
		t.mu.orders[plan.Orders[i].ID] = &orderState{index: i}
	}
	t.mu.actions = make(map[string]*actionState)
	t.mu.recorded = make(map[string]time.Time)
	if len(plan.Orders) == 0 {
		close(t.allEnded)
	}
	return t
}

// follow reads the log from global position from on until ctx ends or the
// subscription fails.
func (t *tracker) follow(ctx context.Context, cl *client.Client, from uint64) error {
	for rec, err := range cl.Subscribe(ctx, from, client.Filter{}) {
		if err != nil {
			return err
		}
		t.handle(&rec)
	}
	return ctx.Err()
}

// handle takes one record of the log.
func (t *tracker) handle(rec *store.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := rec.Event
	at := rec.Recorded
	corr := e.CorrelationID
	st := t.mu.orders[corr]
	line := flowLine{offset: at.Sub(t.start), corr: corr}
	if st != nil && t.out != nil && t.out.color {
		line.corrStyle = orderColors[st.index%len(orderColors)]
	}
	show := false

	switch {
	case rec.Stream == live.ActionsStream:
		switch e.Type {
		case live.ActionEventType:
			if _, seen := t.mu.actions[e.ID]; !seen && len(t.mu.actions) < maxRecorded {
				t.mu.actions[e.ID] = &actionState{corr: corr, pending: true}
				if st != nil {
					st.pending++
				}
			}
			if t0, ok := t.mu.recorded[e.CausationID]; ok && len(t.mu.decide) < maxRecorded {
				t.mu.decide = append(t.mu.decide, max(at.Sub(t0), 0))
			}
		case dispatch.AttemptType:
			var a dispatch.Attempt
			if json.Unmarshal(e.Data, &a) == nil {
				line = t.actionLine(line, a.ActionID)
				line.what, line.whatStyle = "↻ "+a.Action, ansiYellow
				line.detail = fmt.Sprintf("attempt %d failed: %s", a.Attempt, a.Error)
				line.who, show = t.label(a.Agent), true
			}
		case dispatch.DeliveredType:
			// One record holds the deliveries the dispatcher recorded
			// together: a line for each.
			var ds dispatch.Deliveries
			if json.Unmarshal(e.Data, &ds) == nil {
				for _, d := range ds.Deliveries {
					l := t.actionLine(line, d.ActionID)
					t.done(d.ActionID, at)
					if t.out == nil {
						continue
					}
					l.what, l.whatStyle = "✓ "+d.Action, ansiGreen
					l.detail = fmt.Sprintf("rule %s · %s", d.RuleID, millis(time.Duration(d.DurationMS*float64(time.Millisecond))))
					if d.Attempts > 1 {
						l.detail += fmt.Sprintf(" · attempt %d", d.Attempts)
					}
					l.who = t.label(d.Agent)
					t.out.flow(l)
				}
			}
		}
	case rec.Stream == dispatch.DeadLetterStream:
		switch e.Type {
		case dispatch.DeadLetterType:
			var dl dispatch.DeadLetter
			if json.Unmarshal(e.Data, &dl) == nil {
				line = t.actionLine(line, dl.ActionID)
				t.done(dl.ActionID, at)
				line.what, line.whatStyle = "✗ "+dl.Action.Action, ansiRed
				line.detail = "dead-lettered: " + dl.Reason
				if dl.LastError != "" {
					line.detail += ": " + dl.LastError
				}
				line.who, show = t.label(dl.Agent), true
			}
		case dispatch.RetryType:
			var r dispatch.Ref
			if json.Unmarshal(e.Data, &r) == nil {
				line = t.actionLine(line, r.ActionID)
				if a := t.mu.actions[r.ActionID]; a != nil && !a.pending {
					a.pending = true
					if o := t.mu.orders[a.corr]; o != nil {
						o.pending++
					}
				}
				line.what, line.whatStyle = "↻ dead letter retried", ansiYellow
				line.detail, show = r.ActionID, true
			}
		}
	case rec.Stream == agent.StreamAgents:
		line.corr, line.corrStyle = "", ""
		switch e.Type {
		case agent.EventRegistered:
			var p agent.Profile
			if json.Unmarshal(e.Data, &p) == nil {
				line.what, line.whatStyle = "agent registered", ansiMagenta
				line.detail = strings.Join(p.Capabilities, ", ") + " · " + p.Transport()
				line.who, show = t.label(p.ID), true
			}
		case agent.EventUnregistered:
			var p struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(e.Data, &p) == nil {
				line.what, line.whatStyle = "agent unregistered", ansiMagenta
				line.who, show = t.label(p.ID), true
			}
		}
	case strings.HasPrefix(rec.Stream, "$"):
		// Clock events and other system records: not part of the story.
	default:
		if len(t.mu.recorded) < maxRecorded {
			t.mu.recorded[e.ID] = at
		}
		line.what, line.whatStyle = e.Type, ansiBold
		line.detail = describe(e.Type, e.Data)
		line.who, show = t.source(e.Source), true
		if st != nil {
			st.events++
			st.last = e.Type
			switch e.Type {
			case "order_closed":
				st.closed = true
			case "order_cancelled":
				st.cancelled = true
			case "request_product_review" + a2a.CompletedSuffix, "request_product_review" + a2a.FailedSuffix:
				st.reviewed = true
			}
		}
	}

	if show && t.out != nil {
		t.out.flow(line)
	}
	if st != nil {
		t.settle(st, at)
	}
}

// done marks action id as no longer pending, and settles its order.
func (t *tracker) done(id string, at time.Time) {
	a := t.mu.actions[id]
	if a == nil || !a.pending {
		return
	}
	a.pending = false
	if o := t.mu.orders[a.corr]; o != nil {
		o.pending--
		t.settle(o, at)
	}
}

// actionLine returns l set for the correlation of action id: a
// dispatcher's record may hold deliveries of several correlations.
func (t *tracker) actionLine(l flowLine, id string) flowLine {
	a := t.mu.actions[id]
	if a == nil {
		return l
	}
	l.corr, l.corrStyle = a.corr, ""
	if o := t.mu.orders[a.corr]; o != nil && t.out != nil && t.out.color {
		l.corrStyle = orderColors[o.index%len(orderColors)]
	}
	return l
}

// settle ends st's order once it is in a final state with no action of it
// still pending: cancelled, or closed and reviewed.
func (t *tracker) settle(st *orderState, at time.Time) {
	if st.outcome != "" || st.pending > 0 {
		return
	}
	switch {
	case st.cancelled:
		st.outcome = OutcomeCancelled
	case st.closed && st.reviewed:
		st.outcome = OutcomeDelivered
	default:
		return
	}
	st.endedAt = at
	t.mu.ended++
	if t.mu.ended == len(t.plan.Orders) {
		close(t.allEnded)
	}
}

// source names who published an event: the agent's label for events the
// dispatcher appended for an agent ("agents/<id>"), else the source.
func (t *tracker) source(src string) string {
	if id, ok := strings.CutPrefix(src, "agents/"); ok {
		return t.label(id)
	}
	return src
}

// orders returns what became of each planned order, in plan order, and
// when the last one ended (zero while some have not).
func (t *tracker) orders() ([]OrderReport, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]OrderReport, len(t.plan.Orders))
	var last time.Time
	all := true
	for i := range t.plan.Orders {
		o := &t.plan.Orders[i]
		st := t.mu.orders[o.ID]
		out[i] = OrderReport{ID: o.ID, Kind: o.Kind, Expected: o.Outcome(), Outcome: st.outcome, Events: st.events, Last: st.last, Pending: st.pending}
		if st.outcome == "" {
			all = false
		} else if st.endedAt.After(last) {
			last = st.endedAt
		}
	}
	if !all {
		return out, time.Time{}
	}
	return out, last
}

// latencies returns the decision latencies and, joined with the agents'
// receipts, the event-to-agent latencies.
func (t *tracker) latencies(rs []receipt) (decide, receive []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	decide = append([]time.Duration(nil), t.mu.decide...)
	for _, r := range rs {
		if t0, ok := t.mu.recorded[r.trigger]; ok {
			receive = append(receive, max(r.at.Sub(t0), 0))
		}
	}
	return decide, receive
}
