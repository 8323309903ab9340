package view

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// model is what the view must answer, kept the plain way: every action
// ever added, in order, with its status.
type model struct {
	capacity int
	order    []string // ids, oldest first
	acts     map[string]*Action
}

func (m *model) kept() []string { return m.order[max(0, len(m.order)-m.capacity):] }

func (m *model) get(id string) (Action, bool) {
	if !slices.Contains(m.kept(), id) {
		return Action{}, false
	}
	return *m.acts[id], true
}

func (m *model) list(f Filter) []Action {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out := []Action{}
	kept := m.kept()
	for i := len(kept) - 1; i >= 0 && len(out) < f.Limit; i-- {
		a := m.acts[kept[i]]
		if (f.Correlation == "" || a.CorrelationID == f.Correlation) && (f.Status == "" || a.Status == f.Status) {
			out = append(out, *a)
		}
	}
	return out
}

// TestActionsModel folds random histories into views, small enough to
// evict, and holds every answer to the model's; with collide every id and
// every correlation has the same hash, so the view's spill map and its
// shared correlation chains answer everything.
func TestActionsModel(t *testing.T) {
	for _, collide := range []bool{false, true} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("collide=%v/seed=%d", collide, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 7))
				capacity := 1 + r.IntN(12)
				v := NewActions(nil, capacity)
				v.collide = collide
				m := &model{capacity: capacity, acts: map[string]*Action{}}
				base := time.Unix(1_700_000_000, 0)
				var pos uint64
				fold := func(typ string, data []byte) time.Time {
					at := base.Add(time.Duration(pos) * time.Millisecond)
					e := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("r", pos), Source: dispatch.Source, Type: typ, Data: data}
					v.fold(store.Record{Stream: live.ActionsStream, GlobalPosition: pos, Recorded: at, Event: e})
					pos++
					return at
				}
				marshal := func(x any) []byte {
					b, err := json.Marshal(x)
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
				ids := func() string { return fmt.Sprint("a", r.IntN(3*capacity)) }
				for range 200 {
					id := ids()
					a := m.acts[id]
					if a != nil && !slices.Contains(m.kept(), id) {
						a = nil // evicted: the view knows it no more
					}
					switch op := r.IntN(6); {
					case op <= 1:
						act := engine.Action{ID: id, Action: "ship", TargetCapability: "shipping", Choreography: "c", RuleID: "r",
							RuleKind: engine.KindPattern, CorrelationID: fmt.Sprint("o", r.IntN(4)), TriggerEventIDs: []string{"e" + id},
							Time: base}
						data := live.ActionEvent(&act).Data
						if r.IntN(4) == 0 { // not in the engine's own layout: keys in another order
							var m map[string]any
							if err := json.Unmarshal(data, &m); err != nil {
								t.Fatal(err)
							}
							data = marshal(m)
							if _, _, fast := engine.KeysFromJSON(data); fast {
								t.Fatalf("%s takes the fast path", data)
							}
						}
						at := fold(live.ActionEventType, data)
						if a == nil {
							if old := slices.Index(m.order, id); old >= 0 {
								m.order = slices.Delete(m.order, old, old+1)
							}
							m.order = append(m.order, id)
							m.acts[id] = &Action{Action: act, Status: StatusPending, DecidedAt: at, Position: pos - 1, UpdatedAt: at}
						}
					case op == 2:
						d := dispatch.Delivered{ActionID: id, Agent: fmt.Sprint("agent-", r.IntN(2)), Attempts: 1 + r.IntN(3), DurationMS: float64(r.IntN(100))}
						for range r.IntN(3) {
							d.Results = append(d.Results, fmt.Sprint("res-", r.IntN(1000)))
						}
						at := fold(dispatch.DeliveredType, marshal(dispatch.Deliveries{Deliveries: []dispatch.Delivered{d}}))
						if a != nil {
							a.Status, a.Agent, a.Attempts, a.Results, a.DurationMS, a.UpdatedAt, a.Reason = StatusDelivered, d.Agent, d.Attempts, d.Results, d.DurationMS, at, ""
						}
					case op == 3:
						n := 1 + r.IntN(4)
						at := fold(dispatch.AttemptType, marshal(dispatch.Attempt{ActionID: id, Attempt: n, Agent: "agent-x", Error: "boom"}))
						if a != nil {
							a.Attempts = max(a.Attempts, n)
							a.Agent, a.LastError, a.UpdatedAt = "agent-x", "boom", at
						}
					case op == 4:
						dl := dispatch.DeadLetter{ActionID: id, Reason: dispatch.ReasonNoAgent, Attempts: 3, LastError: "none"}
						at := fold(dispatch.DeadLetterType, marshal(dl))
						if a != nil {
							a.Status, a.Reason, a.Attempts, a.LastError, a.UpdatedAt = StatusDeadLettered, dl.Reason, dl.Attempts, dl.LastError, at
						}
					default:
						typ := []string{dispatch.RetryType, dispatch.DiscardType}[r.IntN(2)]
						at := fold(typ, marshal(dispatch.Ref{ActionID: id}))
						if a != nil {
							a.Status, a.UpdatedAt = StatusPending, at
							if typ == dispatch.DiscardType {
								a.Status = StatusDiscarded
							}
						}
					}
					checkAgainst(t, v, m)
				}
			})
		}
	}
}

func checkAgainst(t *testing.T, v *Actions, m *model) {
	t.Helper()
	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
		}
	}
	for id := range m.acts {
		got, ok := v.Get(id)
		want, wok := m.get(id)
		if ok != wok {
			t.Fatalf("Get(%s): found %v, want %v", id, ok, wok)
		}
		same("Get("+id+")", got, want)
	}
	for _, f := range []Filter{{}, {Limit: 2}, {Status: StatusDelivered}, {Status: StatusPending, Limit: 1}} {
		same(fmt.Sprintf("List(%+v)", f), v.List(f), m.list(f))
		for c := range 5 {
			f.Correlation = fmt.Sprint("o", c)
			same(fmt.Sprintf("List(%+v)", f), v.List(f), m.list(f))
		}
	}
	// The indexes hold the kept actions and nothing else.
	kept := min(len(m.order), m.capacity)
	if n := len(v.byID) + len(v.spill); n != kept {
		t.Fatalf("the id indexes hold %d actions, want %d", n, kept)
	}
	if len(v.byCorr) > kept || len(v.ring) > m.capacity {
		t.Fatalf("%d correlations indexed and %d slots for %d actions kept (capacity %d)", len(v.byCorr), len(v.ring), kept, m.capacity)
	}
	want := map[string]int{StatusPending: 0, StatusDelivered: 0, StatusDeadLettered: 0, StatusDiscarded: 0}
	for _, a := range m.list(Filter{Limit: m.capacity}) {
		want[a.Status]++
	}
	same("Counts", v.Counts(), want)
}

// TestActionsFoldAllocs: once the view is full, keeping one more action
// reuses the slot and the buffer of the one it evicts.
func TestActionsFoldAllocs(t *testing.T) {
	const capacity = 64
	v := NewActions(nil, capacity)
	now := time.Now()
	recs := make([]store.Record, 4*capacity)
	for i := range recs {
		a := engine.Action{ID: fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i), Action: "ship", TargetCapability: "shipping",
			Choreography: "c", RuleID: "r", RuleKind: engine.KindPattern, CorrelationID: fmt.Sprint("order-", i%7),
			TriggerEventIDs: []string{"e"}, Time: now}
		recs[i] = store.Record{Stream: live.ActionsStream, GlobalPosition: uint64(i), Recorded: now, Event: live.ActionEvent(&a)}
	}
	for _, rec := range recs[:2*capacity] {
		v.fold(rec)
	}
	i := 2 * capacity
	allocs := testing.AllocsPerRun(2*capacity-1, func() {
		v.fold(recs[i])
		i++
	})
	if allocs != 0 {
		t.Errorf("folding an action into a full view allocates %v times", allocs)
	}
	got := v.List(Filter{Limit: capacity + 1})
	if len(got) != capacity {
		t.Fatalf("the view holds %d actions, want %d", len(got), capacity)
	}
	if got[0].Position != uint64(len(recs)-1) || got[capacity-1].Position != uint64(len(recs)-capacity) {
		t.Errorf("the view holds actions %d to %d, want %d to %d", got[capacity-1].Position, got[0].Position, len(recs)-capacity, len(recs)-1)
	}
}

// TestActionsForeignRecord: an action record that is not in the engine's
// layout is kept as recorded, whatever its re-encoding would give (here a
// time whose UTC year, -1, does not encode back), and a record with no
// time recorded gives zero times.
func TestActionsForeignRecord(t *testing.T) {
	v := NewActions(nil, 4)
	data := []byte(`{"id":"a1","action":"ship","target_capability":"shipping","correlation_id":"o1","trigger_event_ids":["e"],"time":"0000-01-01T00:30:00+01:00"}`)
	var want engine.Action
	if err := want.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	v.fold(store.Record{Stream: live.ActionsStream, Event: &event.Event{Type: live.ActionEventType, Data: data}})
	got, ok := v.Get("a1")
	if !ok || got.Action.Action != "ship" || got.TargetCapability != "shipping" || !got.Time.Equal(want.Time) || len(got.TriggerEventIDs) != 1 {
		t.Fatalf("Get(a1) = %v %+v, want the action as recorded: %+v", ok, got, want)
	}
	if !got.DecidedAt.IsZero() || !got.UpdatedAt.IsZero() {
		t.Errorf("times %v, %v; want zero, as recorded", got.DecidedAt, got.UpdatedAt)
	}
}
