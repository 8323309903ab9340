package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

func TestDeliversWithMessageAndResults(t *testing.T) {
	r := newRig(t, nil, fast())
	rc := &recorder{res: func(d *dispatch.Delivery) []*event.Event {
		return []*event.Event{{Type: "inventory_checked", Data: []byte(`{"in_stock":true}`)}}
	}}
	r.agent("inventory-1", "inventory_management", 0.1, rc.handle)
	a := r.action("a1", "inventory_management", 2)
	r.start()
	waitFor(t, "delivery record", func() bool { return len(deliveries(t, r.st)) == 1 })

	msgs := rc.messages()
	if len(msgs) != 1 {
		t.Fatalf("agent got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.MessageID != a.ID || m.Action != a.Action || m.RecipientID != "inventory-1" || m.SenderID != dispatch.DefaultSenderID ||
		m.CorrelationID != a.CorrelationID || m.Priority != dispatch.PriorityHigh || m.Hops != 3 || m.Attempt != 1 ||
		!slices.Equal(m.CapabilitiesRequired, []string{"inventory_management"}) {
		t.Fatalf("message = %+v", m)
	}
	if m.Payload.Pattern != a.RuleID || m.Payload.ChoreographyContext.PatternID != a.RuleID ||
		!m.Payload.ChoreographyContext.TriggeredAt.Equal(a.Time) || !strings.Contains(string(m.Payload.TriggerEvent), `"id":"trig-a1"`) {
		t.Fatalf("payload = %+v (trigger %s)", m.Payload, m.Payload.TriggerEvent)
	}

	res := records(t, r.st, a.CorrelationID, "inventory_checked")
	if len(res) != 1 {
		t.Fatalf("%d result events in the correlation's stream", len(res))
	}
	e := res[0]
	if e.ID != a.ID+"/0" || e.CausationID != a.ID || e.CorrelationID != a.CorrelationID || e.Hops != 3 || e.Source != "agents/inventory-1" {
		t.Fatalf("result event = %+v", e)
	}
	del := deliveries(t, r.st)[0]
	if del.ActionID != a.ID || del.Agent != "inventory-1" || del.Attempts != 1 || !slices.Equal(del.Results, []string{e.ID}) {
		t.Fatalf("delivered record = %+v", del)
	}
	m2 := r.d.Metrics()
	if m2.Delivered != 1 || m2.Attempts != 1 || m2.Results != 1 || len(m2.Rules) != 1 || m2.Rules[0].Delivered != 1 {
		t.Fatalf("metrics = %+v", m2)
	}
}

func TestRetriesThenDelivers(t *testing.T) {
	r := newRig(t, nil, fast())
	rc := &recorder{fail: func(n int) error {
		if n < 3 {
			return fmt.Errorf("flap %d", n)
		}
		return nil
	}}
	r.agent("flappy", "payments", 0, rc.handle)
	a := r.action("a1", "payments", 0)
	r.start()
	waitFor(t, "delivery", func() bool { return len(deliveries(t, r.st)) == 1 })
	atts := records(t, r.st, live.ActionsStream, dispatch.AttemptType)
	if len(atts) != 2 {
		t.Fatalf("%d failed-attempt records, want 2", len(atts))
	}
	for i, e := range atts {
		at := decode[dispatch.Attempt](t, e)
		if at.ActionID != a.ID || at.Attempt != i+1 || at.Error != fmt.Sprintf("flap %d", i+1) || at.Agent != "flappy" {
			t.Fatalf("attempt %d = %+v", i, at)
		}
	}
	for i, m := range rc.messages() {
		if m.MessageID != a.ID || m.Attempt != i+1 {
			t.Fatalf("attempt %d carried key %s attempt %d", i+1, m.MessageID, m.Attempt)
		}
	}
	if del := deliveries(t, r.st)[0]; del.Attempts != 3 {
		t.Fatalf("delivered after %d attempts, want 3", del.Attempts)
	}
}

func TestDeadLetterAndRetry(t *testing.T) {
	cfg := fast()
	cfg.MaxAttempts = 3
	r := newRig(t, nil, cfg)
	var healthy atomic.Bool
	rc := &recorder{fail: func(int) error {
		if healthy.Load() {
			return nil
		}
		return errors.New("agent down")
	}}
	r.agent("shipper", "shipping", 0, rc.handle)
	a := r.action("a1", "shipping", 0)
	r.start()
	waitFor(t, "dead letter", func() bool { return len(deadLetters(t, r.d)) == 1 })
	dl := deadLetters(t, r.d)[0]
	if dl.ActionID != a.ID || dl.Reason != dispatch.ReasonMaxAttempts || dl.Attempts != 3 || dl.LastError != "agent down" || dl.Agent != "shipper" || dl.Action.Action != a.Action {
		t.Fatalf("dead letter = %+v", dl)
	}
	if n := len(records(t, r.st, dispatch.DeadLetterStream, dispatch.DeadLetterType)); n != 1 {
		t.Fatalf("%d dead-letter records", n)
	}
	if err := r.d.Retry(context.Background(), "nope"); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("Retry(unknown) = %v", err)
	}

	healthy.Store(true)
	if err := r.d.Retry(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after retry", func() bool { return len(deliveries(t, r.st)) == 1 })
	if n := len(deadLetters(t, r.d)); n != 0 {
		t.Fatalf("%d dead letters after a successful retry", n)
	}
	msgs := rc.messages()
	if len(msgs) != 4 || msgs[3].MessageID != a.ID {
		t.Fatalf("agent got %d messages; the retry must carry the same key", len(msgs))
	}
}

func TestDiscardAndRecoverQueue(t *testing.T) {
	dir := t.TempDir()
	st, err := pebble.Open(dir, &pebble.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fast()
	cfg.MaxAttempts = 1
	r := newRig(t, st, cfg)
	r.agent("a", "cap", 0, func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		return dispatch.Result{}, dispatch.Permanent(errors.New("not my job"))
	})
	r.action("x1", "cap", 0)
	r.action("x2", "cap", 0)
	r.start()
	waitFor(t, "two dead letters", func() bool { return len(deadLetters(t, r.d)) == 2 })
	for _, dl := range deadLetters(t, r.d) {
		if dl.Reason != dispatch.ReasonRejected || dl.Attempts != 1 || dl.LastError != "not my job" {
			t.Fatalf("dead letter = %+v", dl)
		}
	}
	if err := r.d.Discard(context.Background(), "x1"); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Discard(context.Background(), "x1"); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("second Discard = %v", err)
	}
	r.stop()
	st.Close()

	// A new dispatcher over the reopened log has the same queue and
	// delivers nothing again.
	st2, err := pebble.Open(dir, &pebble.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	r2 := newRig(t, st2, cfg)
	var calls atomic.Int64
	r2.in.Handle("a", func(context.Context, *dispatch.Delivery) (dispatch.Result, error) {
		calls.Add(1)
		return dispatch.Result{}, nil
	})
	r2.start()
	waitFor(t, "recovered queue", func() bool { return len(deadLetters(t, r2.d)) == 1 })
	if dl := deadLetters(t, r2.d)[0]; dl.ActionID != "x2" || dl.Reason != dispatch.ReasonRejected {
		t.Fatalf("recovered dead letter = %+v", dl)
	}
	if m := r2.d.Metrics(); len(m.Rules) != 1 || m.Rules[0].DeadLettered != 2 {
		t.Fatalf("recovered metrics = %+v", m)
	}
	if err := r2.d.Retry(context.Background(), "x2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retried delivery", func() bool { return calls.Load() == 1 })
	waitFor(t, "delivery record", func() bool { return len(deliveries(t, st2)) == 1 })
	r2.stop()
	if calls.Load() != 1 {
		t.Fatalf("%d deliveries, want only the retried one", calls.Load())
	}
}

func TestNoAgentAndLoop(t *testing.T) {
	r := newRig(t, nil, fast())
	r.agent("x", "other", 0, (&recorder{}).handle)
	r.action("lonely", "nobody_has_it", 0)
	r.action("loopy", "other", dispatch.DefaultMaxHops)
	r.start()
	waitFor(t, "two dead letters", func() bool { return len(deadLetters(t, r.d)) == 2 })
	reasons := map[string]string{}
	for _, dl := range deadLetters(t, r.d) {
		reasons[dl.ActionID] = dl.Reason
	}
	if reasons["lonely"] != dispatch.ReasonNoAgent || reasons["loopy"] != dispatch.ReasonLoop {
		t.Fatalf("reasons = %v", reasons)
	}
}

func TestWaitsForAnAgentToRegister(t *testing.T) {
	cfg := fast()
	cfg.AgentWait = 10 * time.Second
	cfg.AgentPoll = time.Hour // only the registry's change may wake it
	r := newRig(t, nil, cfg)
	r.action("a1", "late", 0)
	r.start()
	waitFor(t, "the action to wait", func() bool { return r.d.Metrics().Waiting == 1 })
	rc := &recorder{}
	r.agent("late-agent", "late", 0, rc.handle)
	waitFor(t, "delivery", func() bool { return len(rc.messages()) == 1 })
}

func TestBreakerOpensAndOthersTakeOver(t *testing.T) {
	cfg := fast()
	cfg.BreakerFailures = 2
	cfg.BreakerOpen = 300 * time.Millisecond
	cfg.MaxAttempts = 10
	cfg.MaxPerAgent = 1 // one attempt at a time: the count before the breaker opens is exact
	r := newRig(t, nil, cfg)
	var broken atomic.Bool
	broken.Store(true)
	bad := &recorder{fail: func(int) error {
		if broken.Load() {
			return errors.New("503")
		}
		return nil
	}}
	good := &recorder{}
	r.agent("bad", "cap", 0.0, bad.handle) // least loaded: tried first
	r.agent("good", "cap", 0.5, good.handle)
	for i := range 20 {
		r.action(fmt.Sprint("a", i), "cap", 0)
	}
	r.start()
	waitFor(t, "20 deliveries", func() bool { return r.d.Metrics().Delivered == 20 })
	if got := len(bad.messages()); got != 2 {
		t.Fatalf("the failing agent got %d attempts; its breaker should open after 2", got)
	}
	if r.d.BreakerState("bad") != "open" || r.d.Metrics().BreakerOpened != 1 {
		t.Fatalf("breaker %s, opened %d times", r.d.BreakerState("bad"), r.d.Metrics().BreakerOpened)
	}
	// Once the agent recovers, a trial after BreakerOpen closes the breaker.
	broken.Store(false)
	time.Sleep(cfg.BreakerOpen + 50*time.Millisecond)
	r.action("after", "cap", 0)
	waitFor(t, "delivery after recovery", func() bool { return r.d.Metrics().Delivered == 21 })
	if s := r.d.BreakerState("bad"); s != "closed" {
		t.Fatalf("breaker %s after a successful trial", s)
	}
}

func TestDeadlineAndBoundedInFlight(t *testing.T) {
	cfg := fast()
	cfg.Timeout = 50 * time.Millisecond
	cfg.MaxAttempts = 2
	cfg.MaxPerAgent = 2
	cfg.AgentWait = 10 * time.Second
	r := newRig(t, nil, cfg)
	var inside, most atomic.Int64
	release := make(chan struct{})
	r.agent("slow", "cap", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		n := inside.Add(1)
		defer inside.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if d.Action.ID == "too-slow" {
			<-ctx.Done()
			return dispatch.Result{}, ctx.Err()
		}
		select {
		case <-release:
		case <-ctx.Done():
			return dispatch.Result{}, ctx.Err()
		}
		return dispatch.Result{}, nil
	})
	r.action("too-slow", "cap", 0)
	r.start()
	waitFor(t, "deadline dead letter", func() bool { return len(deadLetters(t, r.d)) == 1 })
	if dl := deadLetters(t, r.d)[0]; dl.Reason != dispatch.ReasonMaxAttempts || !strings.Contains(dl.LastError, "deadline") {
		t.Fatalf("dead letter = %+v", dl)
	}

	// With long deadlines, a slow agent holds at most MaxPerAgent actions.
	r.stop()
	cfg.Timeout = 10 * time.Second
	r2 := newRig(t, r.st, cfg)
	r2.in = r.in
	r2.d, _ = dispatch.New(r.st, r.reg, map[string]dispatch.Transport{"inproc": r.in}, cfg)
	for i := range 10 {
		r2.action(fmt.Sprint("b", i), "cap", 0)
	}
	r2.start()
	waitFor(t, "two in flight", func() bool { return inside.Load() == 2 })
	time.Sleep(20 * time.Millisecond)
	if most.Load() != 2 {
		t.Fatalf("%d deliveries at once, bound is 2", most.Load())
	}
	close(release)
	waitFor(t, "all delivered", func() bool { return r2.d.Metrics().Delivered == 10 })
	if most.Load() != 2 {
		t.Fatalf("%d deliveries at once, bound is 2", most.Load())
	}
}

func TestStopMidDeliveryRedeliversWithSameKey(t *testing.T) {
	dir := t.TempDir()
	st, err := pebble.Open(dir, &pebble.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := fast()
	cfg.Drain = 20 * time.Millisecond // shorter than the hanging attempt
	r := newRig(t, st, cfg)
	entered := make(chan struct{}, 1)
	var keys []string
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	r.agent("a", "cap", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		<-mu
		keys = append(keys, d.Message.MessageID)
		mu <- struct{}{}
		if d.Action.ID == "hang" {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return dispatch.Result{}, ctx.Err()
		}
		return dispatch.Result{}, nil
	})
	r.action("first", "cap", 0)
	r.action("hang", "cap", 0)
	r.start()
	<-entered
	waitFor(t, "first delivered", func() bool { return len(deliveries(t, st)) == 1 })
	r.stop() // interrupts "hang": no outcome is recorded for it

	if n := len(records(t, st, live.ActionsStream, dispatch.AttemptType)); n != 0 {
		t.Fatalf("an interrupted attempt left %d attempt records", n)
	}
	r2 := newRig(t, st, fast())
	r2.reg = r.reg
	got := make(chan string, 4)
	r2.in.Handle("a", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		got <- d.Message.MessageID
		return dispatch.Result{}, nil
	})
	r2.start()
	waitFor(t, "redelivery", func() bool { return len(deliveries(t, st)) == 2 })
	r2.stop()
	close(got)
	var again []string
	for k := range got {
		again = append(again, k)
	}
	if !slices.Equal(again, []string{"hang"}) {
		t.Fatalf("after restart delivered %v, want only [hang] again", again)
	}
	if !slices.Contains(keys, "hang") {
		t.Fatal("the first run never sent hang")
	}
	_ = store.Any
}

func TestStopDrainsAttemptsInProgress(t *testing.T) {
	r := newRig(t, nil, fast())
	entered, release := make(chan struct{}), make(chan struct{})
	r.agent("a", "cap", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		close(entered)
		<-release
		return dispatch.Result{}, nil
	})
	r.action("x", "cap", 0)
	r.start()
	<-entered
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("Run returned while an attempt was in progress")
	default:
	}
	close(release)
	<-stopped
	if n := len(deliveries(t, r.st)); n != 1 {
		t.Fatalf("%d delivery records after a graceful stop, want 1", n)
	}
}

func TestOutboxLagShowsBackpressure(t *testing.T) {
	cfg := fast()
	cfg.MaxInFlight = 1
	cfg.Timeout = 10 * time.Second
	r := newRig(t, nil, cfg)
	release := make(chan struct{})
	r.agent("slow", "cap", 0, func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return dispatch.Result{}, nil
	})
	r.start()
	for i := range 20 {
		r.action(fmt.Sprint("a", i), "cap", 0)
	}
	// Actions found at start wait in Queued; actions appended later wait
	// in the log, which OutboxLag counts in records.
	waitFor(t, "the backlog to show", func() bool { m := r.d.Metrics(); return m.OutboxLag > 10 || m.Queued > 5 })
	close(release)
	waitFor(t, "all delivered and the outbox caught up", func() bool {
		m := r.d.Metrics()
		return m.Delivered == 20 && m.OutboxLag == 0 && m.Queued == 0
	})
}

// getCounter is a store that counts its Get calls.
type getCounter struct {
	store.Store
	gets atomic.Int64
}

func (g *getCounter) Get(ctx context.Context, id string) (store.Record, error) {
	g.gets.Add(1)
	return g.Store.Get(ctx, id)
}

// TestTriggerFromOutbox: a dispatcher following the log takes an action's
// trigger event from the records its outbox passed on the way, without
// reading it from the log again; an action whose trigger it never passed
// still gets it from the log.
func TestTriggerFromOutbox(t *testing.T) {
	st := &getCounter{Store: mem.New(store.Options{})}
	t.Cleanup(func() { st.Close() }) // after the rig's dispatcher stops
	r := newRig(t, st, fast())
	rc := &recorder{}
	r.agent("a", "cap", 0, rc.handle)
	early := r.action("early", "cap", 0) // before Run: read while catching up
	r.start()
	waitFor(t, "the early action", func() bool { return len(rc.messages()) == 1 })
	if st.gets.Load() != 1 {
		t.Fatalf("%d reads of a trigger for the action found while catching up, want 1", st.gets.Load())
	}
	// Once the outbox has read past an event appended now, which only a
	// follower reads, it follows the log.
	if _, err := st.Append(context.Background(), "other", store.Any, []*event.Event{{SpecVersion: "1.0", ID: "mark",
		Source: "agents/test", Type: "noise"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outbox to follow the log", func() bool { return r.d.Metrics().OutboxLag == 0 })
	want := []string{early.ID}
	for i := range 5 {
		want = append(want, r.action(fmt.Sprint("a", i), "cap", 0).ID)
	}
	waitFor(t, "the followed actions", func() bool { return len(rc.messages()) == len(want) })
	var got []string
	for _, m := range rc.messages() {
		got = append(got, m.MessageID)
		if !strings.Contains(string(m.Payload.TriggerEvent), `"id":"trig-`+m.MessageID+`"`) {
			t.Errorf("%s came with trigger %s", m.MessageID, m.Payload.TriggerEvent)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if n := st.gets.Load(); n != 1 {
		t.Errorf("%d reads of triggers from the log, want 1 (the early action's)", n)
	}
}
