package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// manyEvents is an agent answering with n events.
func manyEvents(n int) dispatch.Handler {
	return func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		evs := make([]*event.Event, n)
		for i := range evs {
			evs[i] = &event.Event{Type: "step_done", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		}
		return dispatch.Result{Events: evs}, nil
	}
}

func TestResultsOverTheStoreBatchLimit(t *testing.T) {
	st := mem.New(store.Options{MaxBatch: 5})
	t.Cleanup(func() { st.Close() }) // after the rig's cleanup stops the dispatcher
	r := newRig(t, st, fast())
	r.agent("a", "cap", 0, manyEvents(12))
	a := r.action("x", "cap", 0)
	r.start()
	waitFor(t, "the delivery record", func() bool { return len(deliveries(t, st)) == 1 })
	if n := len(records(t, st, a.CorrelationID, "step_done")); n != 12 {
		t.Fatalf("%d result events, want 12", n)
	}
	if n := len(deliveries(t, st)[0].Results); n != 12 {
		t.Fatalf("delivery lists %d results", n)
	}
}

func TestManyLargeDeliveriesStayUnderTheEventLimit(t *testing.T) {
	r := newRig(t, nil, fast())
	r.agent("a", "cap", 0, manyEvents(1000))
	for i := range 40 { // 40 × 1000 result ids: far over 1 MiB in one record
		r.action(fmt.Sprint("x", i), "cap", 0)
	}
	r.start()
	waitFor(t, "40 delivery records", func() bool { return len(deliveries(t, r.st)) == 40 })
}

// failingStore fails every append to the streams in fail.
type failingStore struct {
	store.Store
	fail map[string]bool
}

func (f *failingStore) Append(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) ([]store.Position, error) {
	if f.fail[stream] {
		return nil, errors.New("disk on fire")
	}
	return f.Store.Append(ctx, stream, exp, evs)
}

func TestStopsWhenTheLogCannotTakeOutcomes(t *testing.T) {
	inner := mem.New(store.Options{})
	t.Cleanup(func() { inner.Close() })
	fs := &failingStore{Store: inner, fail: map[string]bool{}}
	r := newRig(t, fs, fast())
	r.agent("a", "cap", 0, (&recorder{}).handle)
	r.action("x", "cap", 0)
	fs.fail["$actions"] = true // the outbox holds the action; outcomes cannot be written
	r.start()
	time.Sleep(50 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with a log refusing outcomes")
	}
}

func TestRetryBeforeRecoveryAndWithAnEndedContext(t *testing.T) {
	cfg := fast()
	cfg.MaxAttempts = 1
	r := newRig(t, nil, cfg)
	if err := r.d.Retry(context.Background(), "x"); !errors.Is(err, dispatch.ErrRecovering) {
		t.Fatalf("Retry before Run = %v, want ErrRecovering", err)
	}
	fail := true
	rc := &recorder{fail: func(int) error {
		if fail {
			return errors.New("down")
		}
		return nil
	}}
	r.agent("a", "cap", 0, rc.handle)
	r.action("x", "cap", 0)
	r.start()
	waitFor(t, "a dead letter", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 1 })
	fail = false
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller has gone: the retry must still happen
	if err := r.d.Retry(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retried delivery", func() bool { return len(deliveries(t, r.st)) == 1 })
}

// TestResultsNotWrittenLeaveTheActionOpen: when an agent's events cannot
// be appended before Run stops, the action is not recorded delivered, and
// the next Run delivers it again and writes them.
func TestResultsNotWrittenLeaveTheActionOpen(t *testing.T) {
	inner := mem.New(store.Options{})
	t.Cleanup(func() { inner.Close() })
	fs := &failingStore{Store: inner, fail: map[string]bool{}}
	r := newRig(t, fs, fast())
	rc := &recorder{res: func(d *dispatch.Delivery) []*event.Event {
		return []*event.Event{{Type: "step_done", Data: []byte(`{}`)}}
	}}
	r.agent("a", "cap", 0, rc.handle)
	r.action("x", "cap", 0)
	fs.fail["order-x"] = true // the stream of the results
	r.start()
	waitFor(t, "the delivery", func() bool { return len(rc.messages()) == 1 })
	time.Sleep(20 * time.Millisecond) // the recorder retries the results meanwhile
	r.stop()
	if got := deliveries(t, inner); len(got) != 0 {
		t.Fatalf("recorded %d deliveries without their results", len(got))
	}

	fs.fail = nil // Run has returned: nothing reads the map now
	r2 := newRig(t, fs, fast())
	r2.agent("a", "cap", 0, rc.handle)
	r2.start()
	waitFor(t, "the delivery record", func() bool { return len(deliveries(t, inner)) == 1 })
	if n := len(records(t, inner, "order-x", "step_done")); n != 1 {
		t.Fatalf("%d result events, want 1", n)
	}
	if m := rc.messages(); len(m) != 2 || m[0].MessageID != m[1].MessageID {
		t.Fatalf("deliveries %v: want the same action twice", m)
	}
}

// breakableStore fails every append, as a store that must be reopened
// does, once broken is set.
type breakableStore struct {
	store.Store
	broken atomic.Bool
}

func (b *breakableStore) Append(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) ([]store.Position, error) {
	if b.broken.Load() {
		return nil, fmt.Errorf("writing to the log: %w", store.ErrBroken)
	}
	return b.Store.Append(ctx, stream, exp, evs)
}

// TestBrokenStoreEndsRun: once the store can record no outcome, Run ends
// with the store's error instead of delivering the rest of the outbox
// unrecorded, and the next Run, over a working store, delivers what was
// not recorded again under the same keys.
func TestBrokenStoreEndsRun(t *testing.T) {
	inner := mem.New(store.Options{})
	t.Cleanup(func() { inner.Close() })
	bs := &breakableStore{Store: inner}
	cfg := fast()
	cfg.MaxInFlight = 4
	r := newRig(t, bs, cfg)
	const n = 400
	var delivered atomic.Int64
	rc := &recorder{res: func(*dispatch.Delivery) []*event.Event {
		if delivered.Add(1) == 10 {
			bs.broken.Store(true)
		}
		return nil
	}}
	r.agent("a", "cap", 0, rc.handle)
	for i := range n {
		r.action(fmt.Sprint("x", i), "cap", 0)
	}
	r.start()
	select {
	case err := <-r.done:
		r.cancel = nil
		if !errors.Is(err, store.ErrBroken) {
			t.Fatalf("Run = %v, want an error matching store.ErrBroken", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on with a broken store")
	}
	// Run stops at the first record it cannot append: the attempts then
	// in progress may finish, but no new one starts.
	t.Logf("%d of %d delivered before Run ended", delivered.Load(), n)
	if got := delivered.Load(); got >= n/2 {
		t.Fatalf("%d of %d actions delivered with nothing recorded", got, n)
	}

	bs.broken.Store(false)
	r2 := newRig(t, bs, cfg)
	r2.agent("a", "cap", 0, rc.handle)
	r2.start()
	waitFor(t, "every action recorded delivered", func() bool { return len(deliveries(t, inner)) >= n })
	seen := map[string]int{}
	for _, m := range rc.messages() {
		seen[m.MessageID]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct keys delivered, want %d", len(seen), n)
	}
}

// TestManyOrLongResultIDsStayRecordable: an agent that gives back more
// events, or longer ids, than one delivery record could list has all its
// events appended, and its delivery recorded with the ids that fit and a
// count of the rest, instead of a record the log would refuse.
func TestManyOrLongResultIDsStayRecordable(t *testing.T) {
	long := func(n, size int, fill string) dispatch.Handler {
		return func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
			evs := make([]*event.Event, n)
			for i := range evs {
				id := fmt.Sprintf("%s/%d/", d.Action.ID, i)
				evs[i] = &event.Event{ID: id + strings.Repeat(fill, size-len(id)), Type: "step_done", Data: []byte(`{}`)}
			}
			return dispatch.Result{Events: evs}, nil
		}
	}
	for _, tc := range []struct {
		name       string
		n, idBytes int
		fill       string
	}{
		{"many", 3000, 100, "x"},    // 300 KB of ids
		{"long", 1500, 500, "x"},    // 750 KB of ids, each as long as an id may be
		{"escaped", 1500, 500, "<"}, // each id six times as long in JSON
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil, fast())
			r.agent("a", "cap", 0, long(tc.n, tc.idBytes, tc.fill))
			a := r.action("x", "cap", 0)
			r.start()
			waitFor(t, "the delivery record", func() bool { return len(deliveries(t, r.st)) == 1 })
			if got := len(records(t, r.st, a.CorrelationID, "step_done")); got != tc.n {
				t.Fatalf("%d result events in the log, want %d", got, tc.n)
			}
			dl := deliveries(t, r.st)[0]
			if len(dl.Results)+dl.ResultsOmitted != tc.n || dl.ResultsOmitted == 0 {
				t.Fatalf("record lists %d ids and omits %d; want %d in all, some omitted", len(dl.Results), dl.ResultsOmitted, tc.n)
			}
			if recs := records(t, r.st, live.ActionsStream, dispatch.DeliveredType); len(recs[0].Data) > 64<<10+1024 {
				t.Fatalf("delivery record of %d bytes", len(recs[0].Data))
			}
		})
	}
}

// TestResultsOfAnActionWithNoCorrelation: a global threshold's action has
// no correlation, which cannot name a stream; an action whose correlation
// names a system stream must not let its agent write there (an agent could
// forge the dispatcher's records). Their agents' events go to a stream
// named by the action's id.
func TestResultsOfAnActionWithNoCorrelation(t *testing.T) {
	for _, corr := range []string{"", live.ActionsStream, dispatch.DeadLetterStream} {
		t.Run(fmt.Sprintf("%q", corr), func(t *testing.T) {
			r := newRig(t, nil, fast())
			rc := &recorder{res: func(*dispatch.Delivery) []*event.Event {
				return []*event.Event{{Type: dispatch.DeliveredType, Data: []byte(`{"deliveries":[{"action_id":"victim"}]}`)}}
			}}
			r.agent("a", "cap", 0, rc.handle)
			a := engine.Action{ID: "global-1", Action: "alert", TargetCapability: "cap", Priority: 5, Choreography: "shop",
				RuleID: "too-many", RuleKind: "threshold_pattern", CorrelationID: corr, Time: t0}
			if _, err := r.st.Append(context.Background(), live.ActionsStream, store.Any, []*event.Event{live.ActionEvent(&a)}); err != nil {
				t.Fatal(err)
			}
			r.start()
			waitFor(t, "the delivery record", func() bool { return len(deliveries(t, r.st)) >= 1 })
			got := records(t, r.st, a.ID, dispatch.DeliveredType)
			if len(got) != 1 || got[0].CausationID != a.ID {
				t.Fatalf("stream %s holds %v, want the agent's event", a.ID, got)
			}
			for _, d := range deliveries(t, r.st) {
				if d.ActionID != a.ID {
					t.Fatalf("the outbox holds a delivery of %q", d.ActionID)
				}
			}
		})
	}
}

// TestBrokenStoreAbandonsAttemptsAtOnce: when the store breaks, Run does
// not wait out Config.Drain for the attempts in progress, whose outcomes
// could not be recorded either.
func TestBrokenStoreAbandonsAttemptsAtOnce(t *testing.T) {
	inner := mem.New(store.Options{})
	t.Cleanup(func() { inner.Close() })
	bs := &breakableStore{Store: inner}
	cfg := fast()
	cfg.MaxInFlight = 4
	cfg.Drain = time.Minute
	cfg.Timeout = time.Minute
	r := newRig(t, bs, cfg)
	var calls atomic.Int64
	r.agent("a", "cap", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		if calls.Add(1) == 1 {
			bs.broken.Store(true)
			return dispatch.Result{}, nil // its record cannot be appended
		}
		<-ctx.Done() // a slow agent
		return dispatch.Result{}, ctx.Err()
	})
	for i := range 8 {
		r.action(fmt.Sprint("x", i), "cap", 0)
	}
	r.start()
	select {
	case err := <-r.done:
		r.cancel = nil
		if !errors.Is(err, store.ErrBroken) {
			t.Fatalf("Run = %v, want store.ErrBroken", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for the attempts in progress")
	}
}

// TestRecordsOfAnActionWithAnOldCorrelation: an action whose correlation
// id, from an event logged before correlation ids were bounded, is no
// longer valid on an event still gets its attempt and dead-letter records
// into the log.
func TestRecordsOfAnActionWithAnOldCorrelation(t *testing.T) {
	cfg := fast()
	cfg.MaxAttempts = 1
	r := newRig(t, nil, cfg)
	r.agent("a", "cap", 0, (&recorder{fail: func(int) error { return errors.New("down") }}).handle)
	a := engine.Action{ID: "old-1", Action: "check", TargetCapability: "cap", Priority: 5, Choreography: "shop",
		RuleID: "r", RuleKind: engine.KindPattern, CorrelationID: "order\n1", Time: t0}
	ev := live.ActionEvent(&a)
	if _, err := r.st.Append(context.Background(), live.ActionsStream, store.Any, []*event.Event{ev}); err != nil {
		t.Fatal(err)
	}
	r.start()
	waitFor(t, "the dead letter", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 1 })
	if n := len(records(t, r.st, dispatch.DeadLetterStream, dispatch.DeadLetterType)); n != 1 {
		t.Fatalf("%d dead-letter records, want 1", n)
	}
	if n := len(records(t, r.st, live.ActionsStream, dispatch.AttemptType)); n != 1 {
		t.Fatalf("%d attempt records, want 1", n)
	}
}

// refusingDLQ refuses the dead-letter records of action "bad", as a store
// refuses an event it cannot take.
type refusingDLQ struct{ store.Store }

func (s refusingDLQ) Append(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) ([]store.Position, error) {
	for _, e := range evs {
		if stream == dispatch.DeadLetterStream && e.CausationID == "bad" {
			return nil, fmt.Errorf("%w: refused for the test", store.ErrBatchTooLarge)
		}
	}
	return s.Store.Append(ctx, stream, exp, evs)
}

// TestRefusedDeadLetterRecordIsNotQueued: a dead letter whose record the
// log refused is not in the queue (its action stays open in the log), and
// the queue still lists the others.
func TestRefusedDeadLetterRecordIsNotQueued(t *testing.T) {
	inner := mem.New(store.Options{})
	t.Cleanup(func() { inner.Close() })
	cfg := fast()
	cfg.MaxAttempts = 1
	cfg.RecordBatch = 1
	r := newRig(t, refusingDLQ{inner}, cfg)
	r.agent("a", "cap", 0, (&recorder{fail: func(int) error { return dispatch.Permanent(errors.New("no")) }}).handle)
	r.action("bad", "cap", 0)
	r.action("good", "cap", 0)
	r.start()
	waitFor(t, "the good dead letter", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 1 })
	time.Sleep(20 * time.Millisecond) // the bad one's outcome lands too
	dls := deadLetters(t, r.d)
	if len(dls) != 1 || dls[0].ActionID != "good" {
		t.Fatalf("queue %+v, want only good", dls)
	}
	if _, err := r.d.DeadLetter(context.Background(), "bad"); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("DeadLetter(bad) = %v, want ErrNotFound", err)
	}
}

// TestMissingCapabilityDoesNotStallOthers: actions for a capability no
// agent has wait for one outside the workers, so the actions behind them
// for a capability that has an agent are delivered at once; past
// Config.MaxParked they wait in the workers again. Either way the missing
// ones end as no_agent dead letters after AgentWait.
func TestMissingCapabilityDoesNotStallOthers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxParked int
		stalled   bool
	}{{"parked", 0, false}, {"past MaxParked", 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fast()
			cfg.MaxInFlight = 4
			cfg.MaxParked = tc.maxParked
			cfg.AgentWait = 1500 * time.Millisecond
			r := newRig(t, nil, cfg)
			rc := &recorder{}
			r.agent("b", "present", 0, rc.handle)
			for i := range 10 {
				r.action(fmt.Sprint("missing-", i), "missing", 0)
			}
			for i := range 5 {
				r.action(fmt.Sprint("present-", i), "present", 0)
			}
			start := time.Now()
			r.start()
			waitFor(t, "the present capability's actions", func() bool { return len(rc.messages()) == 5 })
			took := time.Since(start)
			if stalled := took >= cfg.AgentWait; stalled != tc.stalled {
				t.Fatalf("the present capability's actions took %v (AgentWait %v); want stalled = %v", took, cfg.AgentWait, tc.stalled)
			}
			waitFor(t, "10 dead letters", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 10 })
			for _, dl := range deadLetters(t, r.d) {
				if dl.Reason != dispatch.ReasonNoAgent {
					t.Fatalf("dead letter %s: reason %s, want no_agent", dl.ActionID, dl.Reason)
				}
			}
			if m := r.d.Metrics(); m.Parked != 0 || m.Waiting != 0 {
				t.Fatalf("after: %d parked, %d waiting", m.Parked, m.Waiting)
			}
		})
	}
}

// countingDirectory counts the discoveries made through it.
type countingDirectory struct {
	*agent.Registry
	discoveries atomic.Int64
}

func (c *countingDirectory) AppendDiscover(dst []agent.Profile, caps []string) []agent.Profile {
	c.discoveries.Add(1)
	return c.Registry.AppendDiscover(dst, caps)
}

// TestWaitingActionsSleepUntilTheirCapabilityChanges: actions waiting for
// an agent with a capability nobody has look again when an agent with it
// appears, and neither at every heartbeat of other agents nor at every
// AgentPoll.
func TestWaitingActionsSleepUntilTheirCapabilityChanges(t *testing.T) {
	cfg := fast()
	cfg.AgentWait = 20 * time.Second
	cfg.AgentPoll = 5 * time.Millisecond
	r := newRig(t, nil, cfg)
	dir := &countingDirectory{Registry: r.reg}
	r.redispatch(dir, cfg)
	rc := &recorder{}
	r.agent("other", "present", 0, rc.handle)
	const waiting = 50
	for i := range waiting {
		r.action(fmt.Sprint("missing-", i), "missing", 0)
	}
	r.start()
	waitFor(t, "the actions waiting", func() bool { return r.d.Metrics().Waiting == waiting })
	before := dir.discoveries.Load()
	ctx := context.Background()
	for range 20 {
		if _, err := r.reg.Heartbeat(ctx, "other", agent.Heartbeat{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Woken by every heartbeat, or polling, they would have looked
	// 1,000 times or more.
	if n := dir.discoveries.Load() - before; n > waiting {
		t.Fatalf("%d discoveries by %d waiting actions over 20 heartbeats of an agent without their capability", n, waiting)
	}
	start := time.Now()
	r.agent("late", "missing", 0, rc.handle)
	waitFor(t, "the waiting actions delivered", func() bool { return len(rc.messages()) == waiting })
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("delivered %v after their agent came", took)
	}
}

// TestOpenBreakerWaitDoesNotSpin: an action whose only agent has an open
// breaker waits for it, looking again about once per AgentPoll, and is
// dead-lettered as unavailable after AgentWait. (Giving back the slot it
// took to ask the breaker used to wake it at once, round and round.)
func TestOpenBreakerWaitDoesNotSpin(t *testing.T) {
	cfg := fast()
	cfg.AgentPoll = 50 * time.Millisecond
	cfg.AgentWait = 500 * time.Millisecond
	cfg.BreakerFailures, cfg.MaxAttempts = 1, 1
	r := newRig(t, nil, cfg)
	dir := &countingDirectory{Registry: r.reg}
	r.redispatch(dir, cfg)
	r.agent("a", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		return dispatch.Result{}, errors.New("down")
	})
	r.start()
	r.action("first", "cap", 0)
	waitFor(t, "the breaker open", func() bool { return r.d.BreakerState("a") == "open" })
	waitFor(t, "the first dead letter", func() bool { return len(deadLetters(t, r.d)) == 1 })
	before := dir.discoveries.Load()
	r.action("second", "cap", 0)
	waitFor(t, "the second dead letter", func() bool { return len(deadLetters(t, r.d)) == 2 })
	looks := dir.discoveries.Load() - before
	if max := 3 * int64(cfg.AgentWait/cfg.AgentPoll); looks > max {
		t.Fatalf("%d looks for an agent over AgentWait %v with AgentPoll %v; want at most %d", looks, cfg.AgentWait, cfg.AgentPoll, max)
	}
	for _, dl := range deadLetters(t, r.d) {
		if dl.ActionID == "second" && dl.Reason != dispatch.ReasonUnavailable {
			t.Fatalf("reason %s, want %s", dl.Reason, dispatch.ReasonUnavailable)
		}
	}
}

// TestRetryGoesToAnotherAgent: the attempt after a failure goes to another
// agent with the capability when there is one, though the one that failed
// is the least loaded.
func TestRetryGoesToAnotherAgent(t *testing.T) {
	r := newRig(t, nil, fast())
	var broken atomic.Int64
	r.agent("broken", "cap", 0.1, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		broken.Add(1)
		return dispatch.Result{}, errors.New("down")
	})
	rc := &recorder{}
	r.agent("healthy", "cap", 0.5, rc.handle)
	r.start()
	for i := range 3 {
		r.action(fmt.Sprint("act-", i), "cap", 0)
	}
	waitFor(t, "3 deliveries", func() bool { return len(rc.messages()) == 3 })
	for _, m := range rc.messages() {
		if m.Attempt != 2 {
			t.Fatalf("%s delivered at attempt %d, want 2 (the first at the broken agent)", m.MessageID, m.Attempt)
		}
	}
	if n := broken.Load(); n != 3 {
		t.Fatalf("the broken agent had %d attempts, want 3 (one per action)", n)
	}
	if dls := deadLetters(t, r.d); len(dls) != 0 {
		t.Fatalf("%d dead letters", len(dls))
	}
}

// TestRefusedResultsStillDeliver: an answer whose events could not be
// taken (Result.Refused) is a delivery, counted in ResultsRefused, not a
// failed attempt: another attempt would get the same answer.
func TestRefusedResultsStillDeliver(t *testing.T) {
	r := newRig(t, nil, fast())
	var calls atomic.Int64
	r.agent("a", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		calls.Add(1)
		return dispatch.Result{Refused: errors.New("event 0: type: required")}, nil
	})
	r.start()
	r.action("act", "cap", 0)
	waitFor(t, "the delivery", func() bool { return r.d.Metrics().Delivered == 1 })
	if m := r.d.Metrics(); m.ResultsRefused != 1 || m.FailedAttempts != 0 || calls.Load() != 1 {
		t.Fatalf("%d refused, %d failed attempts, %d calls; want 1, 0, 1", m.ResultsRefused, m.FailedAttempts, calls.Load())
	}
}

// TestSlowAgentIsBackpressure: a healthy agent slower than the actions
// coming for it makes them wait, outside the workers, as long as it takes
// — none is dead-lettered — and the actions of another capability go
// ahead of them.
func TestSlowAgentIsBackpressure(t *testing.T) {
	cfg := fast()
	cfg.MaxPerAgent = 2
	cfg.MaxInFlight = 4
	cfg.AgentWait = 150 * time.Millisecond // far less than the slow agent's queue takes
	r := newRig(t, nil, cfg)
	r.agent("slow", "slowcap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		time.Sleep(40 * time.Millisecond)
		return dispatch.Result{}, nil
	})
	rc := &recorder{}
	r.agent("quick", "quickcap", 0, rc.handle)
	const slow = 16 // 8 rounds of 2 at 40 ms: 320 ms, twice AgentWait
	for i := range slow {
		r.action(fmt.Sprintf("slow-%02d", i), "slowcap", 0)
	}
	r.action("quick", "quickcap", 0)
	start := time.Now()
	r.start()
	waitFor(t, "the quick action", func() bool { return len(rc.messages()) == 1 })
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("the quick action waited %v behind the slow agent's queue", took)
	}
	waitFor(t, "the slow actions", func() bool { return r.d.Metrics().Delivered == slow+1 })
	if dls := deadLetters(t, r.d); len(dls) != 0 {
		t.Fatalf("%d dead letters (first: %s, %s); a busy agent is backpressure", len(dls), dls[0].Reason, dls[0].LastError)
	}
}

// TestFreedSlotWakesOneWaiter: of the actions queued for a busy agent,
// each freed slot wakes one, not all of them.
func TestFreedSlotWakesOneWaiter(t *testing.T) {
	cfg := fast()
	cfg.MaxPerAgent = 2
	cfg.AgentWait = 20 * time.Second
	r := newRig(t, nil, cfg)
	dir := &countingDirectory{Registry: r.reg}
	r.redispatch(dir, cfg)
	r.agent("busy", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		time.Sleep(time.Millisecond)
		return dispatch.Result{}, nil
	})
	const n = 300
	for i := range n {
		r.action(fmt.Sprint("act-", i), "cap", 0)
	}
	r.start()
	waitFor(t, "the deliveries", func() bool { return r.d.Metrics().Delivered == n })
	// Each action looks when it comes, when it starts to wait, and when
	// a slot is freed for it, give or take a wake-up passed on; woken
	// all at every freed slot, they would look some n*n/4 times.
	looks := dir.discoveries.Load()
	if looks > 5*n {
		t.Fatalf("%d looks for an agent to deliver %d actions through 2 slots", looks, n)
	}
	t.Logf("%d looks for %d actions", looks, n)
}

// TestRetryAfterDeadlineReturnsToTheAgent: after an attempt that ran out
// of time the next goes to the best agent even if it is the same one,
// which may be working on the action still and can resume it.
func TestRetryAfterDeadlineReturnsToTheAgent(t *testing.T) {
	cfg := fast()
	cfg.Timeout = 50 * time.Millisecond
	r := newRig(t, nil, cfg)
	var calls atomic.Int64
	r.agent("slow", "cap", 0.1, func(ctx context.Context, _ *dispatch.Delivery) (dispatch.Result, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done()
			return dispatch.Result{}, ctx.Err()
		}
		return dispatch.Result{}, nil
	})
	rc := &recorder{}
	r.agent("other", "cap", 0.5, rc.handle)
	r.start()
	r.action("act", "cap", 0)
	waitFor(t, "the delivery", func() bool { return r.d.Metrics().Delivered == 1 })
	if n := calls.Load(); n != 2 || len(rc.messages()) != 0 {
		t.Fatalf("the timed-out agent had %d attempts and the other %d; want 2 and 0", n, len(rc.messages()))
	}
}

// TestAttemptsCountAcrossRestarts: the failed attempts recorded by one
// Run count in the next, so a dispatcher that restarts does not give an
// action MaxAttempts afresh each time; the attempt numbers go on.
func TestAttemptsCountAcrossRestarts(t *testing.T) {
	cfg := fast()
	cfg.MaxAttempts = 3
	cfg.Backoff, cfg.MaxBackoff = 400*time.Millisecond, 400*time.Millisecond
	r := newRig(t, nil, cfg)
	var attempts []int
	var mu sync.Mutex
	r.agent("a", "cap", 0, func(_ context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		mu.Lock()
		attempts = append(attempts, d.Attempt)
		mu.Unlock()
		return dispatch.Result{}, errors.New("down")
	})
	r.action("act", "cap", 0)
	r.start()
	waitFor(t, "two failed attempts", func() bool { return r.d.Metrics().FailedAttempts == 2 })
	r.stop() // before the third: the backoff is 200 to 400 ms

	r.redispatch(r.reg, cfg)
	r.start()
	waitFor(t, "the dead letter", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 1 })
	dl := deadLetters(t, r.d)[0]
	mu.Lock()
	defer mu.Unlock()
	if dl.Reason != dispatch.ReasonMaxAttempts || dl.Attempts != 3 || fmt.Sprint(attempts) != "[1 2 3]" {
		t.Fatalf("dead letter %s after %d attempts; the agent saw attempts %v; want max_attempts after 3, [1 2 3]", dl.Reason, dl.Attempts, attempts)
	}
}

// TestAttemptsAtTheMaximumDeadLetterAtOnce: an action whose recorded
// attempts already reach MaxAttempts (a restart with a lower maximum, or
// one between the last attempt's record and the dead letter) is
// dead-lettered without another attempt.
func TestAttemptsAtTheMaximumDeadLetterAtOnce(t *testing.T) {
	cfg := fast()
	cfg.MaxAttempts = 5
	cfg.Backoff, cfg.MaxBackoff = 400*time.Millisecond, 400*time.Millisecond
	r := newRig(t, nil, cfg)
	var calls atomic.Int64
	r.agent("a", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		calls.Add(1)
		return dispatch.Result{}, errors.New("down")
	})
	r.action("act", "cap", 0)
	r.start()
	waitFor(t, "two failed attempts", func() bool { return r.d.Metrics().FailedAttempts == 2 })
	r.stop()
	cfg.MaxAttempts = 2
	r.redispatch(r.reg, cfg)
	r.start()
	waitFor(t, "the dead letter", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 1 })
	if dl := deadLetters(t, r.d)[0]; dl.Reason != dispatch.ReasonMaxAttempts || dl.Attempts != 2 || calls.Load() != 2 {
		t.Fatalf("dead letter %s after %d attempts, %d calls; want max_attempts after 2, 2 calls", dl.Reason, dl.Attempts, calls.Load())
	}
}

// TestGaugesCountAttemptsAndParked: InFlight counts the attempts in
// progress, wherever they run, and Parked the actions still waiting for
// an agent, not those being delivered.
func TestGaugesCountAttemptsAndParked(t *testing.T) {
	cfg := fast()
	cfg.MaxPerAgent = 2
	cfg.AgentWait = 20 * time.Second
	r := newRig(t, nil, cfg)
	gate := make(chan struct{})
	r.agent("a", "cap", 0, func(ctx context.Context, _ *dispatch.Delivery) (dispatch.Result, error) {
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return dispatch.Result{}, nil
	})
	for i := range 5 {
		r.action(fmt.Sprint("act-", i), "cap", 0)
	}
	r.start()
	waitFor(t, "2 attempts and 3 parked", func() bool {
		m := r.d.Metrics()
		return m.InFlight == 2 && m.Parked == 3 && m.Waiting == 3
	})
	gate <- struct{}{} // one attempt ends; a parked action takes its slot
	waitFor(t, "2 attempts and 2 parked", func() bool {
		m := r.d.Metrics()
		return m.Delivered == 1 && m.InFlight == 2 && m.Parked == 2
	})
	close(gate)
	waitFor(t, "all delivered", func() bool { return r.d.Metrics().Delivered == 5 })
	if m := r.d.Metrics(); m.InFlight != 0 || m.Parked != 0 || m.Waiting != 0 {
		t.Fatalf("after: %d in flight, %d parked, %d waiting", m.InFlight, m.Parked, m.Waiting)
	}
}

// TestFreedSlotWakesForCapabilitiesGainedMeanwhile: an agent that gains a
// capability while its slots are held wakes, when one frees, the actions
// waiting for the new capability too.
func TestFreedSlotWakesForCapabilitiesGainedMeanwhile(t *testing.T) {
	cfg := fast()
	cfg.MaxPerAgent = 1
	cfg.AgentWait = 5 * time.Second
	r := newRig(t, nil, cfg)
	gate := make(chan struct{})
	var delivered atomic.Int64
	r.agent("p", "x", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		if d.Action.TargetCapability == "x" {
			<-gate
		}
		delivered.Add(1)
		return dispatch.Result{}, nil
	})
	r.action("x-1", "x", 0)
	r.start()
	waitFor(t, "the x attempt", func() bool { return r.d.Metrics().InFlight == 1 })
	if _, err := r.reg.Register(context.Background(), agent.Profile{ID: "p", Capabilities: []string{"x", "y"},
		Endpoint: "p", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	r.action("y-1", "y", 0)
	waitFor(t, "the y action waiting", func() bool { return r.d.Metrics().Waiting == 1 })
	start := time.Now()
	close(gate)
	waitFor(t, "both delivered", func() bool { return delivered.Load() == 2 })
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the y action was delivered %v after the slot freed", took)
	}
}

// TestWorkLeftRunningIsFollowed: an attempt that ends while the agent
// still has the work (dispatch.InProgress) is recorded with the work's
// name, and the next attempt goes to that agent, though another would be
// chosen by load, naming the work in Delivery.Task; in the same Run, and
// in the next Run after a restart.
func TestWorkLeftRunningIsFollowed(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprint("restart=", restart), func(t *testing.T) {
			cfg := fast()
			// Long enough for the other agent, or the restart, to come
			// before the retry.
			cfg.Backoff, cfg.MaxBackoff = 300*time.Millisecond, 300*time.Millisecond
			if restart {
				cfg.Backoff, cfg.MaxBackoff = time.Minute, time.Minute
			}
			r := newRig(t, nil, cfg)
			type call struct {
				attempt int
				task    string
			}
			var mu sync.Mutex
			var calls []call
			r.agent("a", "cap", 0.5, func(_ context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, call{d.Attempt, d.Task})
				if d.Task == "" {
					return dispatch.Result{}, &dispatch.InProgress{Task: "task-7", Err: errors.New("still working")}
				}
				return dispatch.Result{}, nil
			})
			var other atomic.Int64
			otherAgent := func() {
				r.agent("b", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
					other.Add(1)
					return dispatch.Result{}, nil
				})
			}
			r.action("act", "cap", 0)
			r.start()
			waitFor(t, "the first attempt", func() bool { return r.d.Metrics().FailedAttempts == 1 })
			if !restart {
				otherAgent() // less loaded: chosen first, but for the work left at a
			} else {
				r.stop()
				otherAgent() // less loaded: chosen first, but for the work left at a
				r.redispatch(r.reg, cfg)
				r.start()
			}
			waitFor(t, "the delivery", func() bool { return r.d.Metrics().Delivered == 1 })
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(calls) != "[{1 } {2 task-7}]" || other.Load() != 0 {
				t.Fatalf("agent a got %v, agent b %d; want [{1 } {2 task-7}] and none", calls, other.Load())
			}
			atts := records(t, r.st, live.ActionsStream, dispatch.AttemptType)
			if len(atts) != 1 || decode[dispatch.Attempt](t, atts[0]).Task != "task-7" {
				t.Fatalf("attempt records %d, want one naming task-7", len(atts))
			}
		})
	}
}

// TestWorkCutOffAtStopIsFollowed: an attempt cut off by a stop, past the
// drain, while the agent still has the work is recorded with the work's
// name, and the next Run's attempt at that agent follows it.
func TestWorkCutOffAtStopIsFollowed(t *testing.T) {
	cfg := fast()
	cfg.Drain = 50 * time.Millisecond
	r := newRig(t, nil, cfg)
	var mu sync.Mutex
	var calls []string
	started := make(chan struct{}, 1)
	r.agent("a", "cap", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		mu.Lock()
		calls = append(calls, fmt.Sprint(d.Attempt, ":", d.Task))
		mu.Unlock()
		if d.Task != "" {
			return dispatch.Result{}, nil
		}
		started <- struct{}{}
		<-ctx.Done()
		return dispatch.Result{}, &dispatch.InProgress{Task: "task-9", Err: ctx.Err()}
	})
	r.action("act", "cap", 0)
	r.start()
	<-started
	r.stop()
	r.redispatch(r.reg, cfg)
	r.start()
	waitFor(t, "the delivery", func() bool { return r.d.Metrics().Delivered == 1 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != "[1: 2:task-9]" {
		t.Fatalf("the agent got %v; want [1: 2:task-9]", calls)
	}
}

// TestWorkLeftRunningIsCanceled: when an action is given up on, the work
// its attempts left running is canceled at every agent that has some —
// as the attempts left it in this Run, and as recovery rebuilds it from
// the log after a restart — and the dead letter lists each, with the
// error of a cancel that failed.
func TestWorkLeftRunningIsCanceled(t *testing.T) {
	t.Run("two agents", func(t *testing.T) {
		cfg := fast()
		cfg.MaxAttempts = 2
		cfg.Backoff, cfg.MaxBackoff = 200*time.Millisecond, 200*time.Millisecond // time to unregister a
		r := newRig(t, nil, cfg)
		var mu sync.Mutex
		var canceled []string
		for _, id := range []string{"a", "b"} {
			load := 0.0
			if id == "b" {
				load = 0.5 // a first
			}
			r.agent(id, "cap", load, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
				return dispatch.Result{}, &dispatch.InProgress{Task: "task-" + id, Err: errors.New("still working")}
			})
			r.in.HandleCancel(id, func(_ context.Context, action, task string) error {
				mu.Lock()
				defer mu.Unlock()
				canceled = append(canceled, id+":"+action+":"+task)
				return nil
			})
		}
		r.action("act", "cap", 0)
		r.start()
		waitFor(t, "the first attempt", func() bool { return r.d.Metrics().FailedAttempts == 1 })
		if err := r.reg.Unregister(context.Background(), "a"); err != nil { // the next attempt goes to b
			t.Fatal(err)
		}
		waitFor(t, "the dead letter", func() bool { return r.d.Metrics().DeadLetters == 1 })
		dls, err := r.d.DeadLetters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := dls[0].Tasks
		if len(got) != 2 || got[0].Agent != "a" || got[0].Task != "task-a" || !strings.Contains(got[0].CancelError, "no longer registered") ||
			got[1] != (dispatch.LeftTask{Agent: "b", Task: "task-b"}) {
			t.Fatalf("dead letter tasks %+v; want a's, whose cancel failed, and b's", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(canceled) != "[b:act:task-b]" {
			t.Fatalf("canceled %v, want [b:act:task-b]", canceled)
		}
		if m := r.d.Metrics(); m.TasksCanceled != 1 || m.TaskCancelErrors != 1 {
			t.Fatalf("tasks canceled %d, cancel errors %d; want 1 and 1", m.TasksCanceled, m.TaskCancelErrors)
		}
	})
	t.Run("delivered by another agent", func(t *testing.T) {
		cfg := fast()
		cfg.Backoff, cfg.MaxBackoff = 200*time.Millisecond, 200*time.Millisecond // time for a to report in busy
		r := newRig(t, nil, cfg)
		canceled := make(chan string, 2)
		r.agent("a", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
			return dispatch.Result{}, &dispatch.InProgress{Task: "task-a", Err: errors.New("still working")}
		})
		r.in.HandleCancel("a", func(_ context.Context, action, task string) error {
			canceled <- action + ":" + task
			return nil
		})
		r.agent("b", "cap", 0.5, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
			return dispatch.Result{}, nil
		})
		r.action("act", "cap", 0)
		r.start()
		waitFor(t, "the first attempt", func() bool { return r.d.Metrics().FailedAttempts == 1 })
		busy := 0.95 // over the load at which an agent is offered actions: the retry goes to b
		if _, err := r.reg.Heartbeat(context.Background(), "a", agent.Heartbeat{Load: &busy}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the delivery", func() bool { return r.d.Metrics().Delivered == 1 })
		select {
		case got := <-canceled:
			if got != "act:task-a" {
				t.Fatalf("canceled %s, want act:task-a", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the work left at a was not canceled once b had delivered the action")
		}
		if m := r.d.Metrics(); m.TasksCanceled != 1 || m.DeadLettered != 0 {
			t.Fatalf("tasks canceled %d, dead-lettered %d", m.TasksCanceled, m.DeadLettered)
		}
	})
	t.Run("delivered anew at an agent with work left", func(t *testing.T) {
		// a leaves task-a, then b leaves task-b, then a, though it has
		// task-a, is sent the action anew (the next attempt follows b's
		// work, and b is busy) and delivers it: task-a and task-b are
		// both done for nothing.
		cfg := fast()
		cfg.Backoff, cfg.MaxBackoff = 200*time.Millisecond, 200*time.Millisecond
		r := newRig(t, nil, cfg)
		canceled := make(chan string, 4)
		calls := map[string]int{}
		var mu sync.Mutex
		for _, id := range []string{"a", "b"} {
			r.agent(id, "cap", 0, func(_ context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
				mu.Lock()
				defer mu.Unlock()
				if calls[id]++; calls[id] == 1 {
					return dispatch.Result{}, &dispatch.InProgress{Task: "task-" + id, Err: errors.New("still working")}
				}
				if d.Task != "" {
					return dispatch.Result{}, fmt.Errorf("%s was asked to follow %s", id, d.Task)
				}
				return dispatch.Result{}, nil
			})
			r.in.HandleCancel(id, func(_ context.Context, action, task string) error {
				canceled <- id + ":" + task
				return nil
			})
		}
		load := func(id string, l float64) {
			if _, err := r.reg.Heartbeat(context.Background(), id, agent.Heartbeat{Load: &l}); err != nil {
				t.Fatal(err)
			}
		}
		load("b", 0.5) // a first
		r.action("act", "cap", 0)
		r.start()
		waitFor(t, "the first attempt", func() bool { return r.d.Metrics().FailedAttempts == 1 })
		load("a", 0.95)
		waitFor(t, "the second attempt", func() bool { return r.d.Metrics().FailedAttempts == 2 })
		load("b", 0.95)
		load("a", 0)
		waitFor(t, "the delivery", func() bool { return r.d.Metrics().Delivered == 1 })
		var got []string
		for len(got) < 2 {
			select {
			case c := <-canceled:
				got = append(got, c)
			case <-time.After(5 * time.Second):
				t.Fatalf("canceled %v after the delivery, want a's task-a and b's task-b", got)
			}
		}
		slices.Sort(got)
		if fmt.Sprint(got) != "[a:task-a b:task-b]" {
			t.Fatalf("canceled %v, want a's task-a and b's task-b", got)
		}
	})
	t.Run("after a restart", func(t *testing.T) {
		cfg := fast()
		cfg.Backoff, cfg.MaxBackoff = time.Minute, time.Minute
		r := newRig(t, nil, cfg)
		canceled := make(chan string, 2)
		r.agent("a", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
			return dispatch.Result{}, &dispatch.InProgress{Task: "task-7", Err: errors.New("still working")}
		})
		r.in.HandleCancel("a", func(_ context.Context, action, task string) error {
			canceled <- action + ":" + task
			return nil
		})
		r.action("act", "cap", 0)
		r.start()
		waitFor(t, "the first attempt", func() bool { return r.d.Metrics().FailedAttempts == 1 })
		r.stop()
		cfg.MaxAttempts = 1 // the recorded attempt was the last: given up on at start
		r.redispatch(r.reg, cfg)
		r.start()
		waitFor(t, "the dead letter", func() bool { return r.d.Metrics().DeadLetters == 1 })
		if got := <-canceled; got != "act:task-7" {
			t.Fatalf("canceled %s, want act:task-7", got)
		}
		dls, err := r.d.DeadLetters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := dls[0].Tasks; len(got) != 1 || got[0] != (dispatch.LeftTask{Agent: "a", Task: "task-7"}) {
			t.Fatalf("dead letter tasks %+v", got)
		}
	})
}
