package live_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/workload"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
)

// The shop's events: a high-value order left unpaid, a small order paid.
func shopEvents() []*event.Event {
	return []*event.Event{
		ev("e1", "order_received", "order-1", 0, `{"order_value": 1500}`),
		ev("e2", "order_received", "order-2", time.Minute, `{"order_value": 50}`),
		ev("e3", "payment_successful", "order-2", 2*time.Minute, `{"amount": 50}`),
	}
}

func shopID(kind, rule string, triggers ...string) string {
	return engine.ActionID("shop", kind, rule, triggers)
}

// The actions of shopEvents before any timer fires, in log order.
var shopWant = []struct{ id, action, corr, cause string }{
	{shopID(engine.KindPattern, "review", "e1"), "request_manual_review", "order-1", "e1"},
	{shopID(engine.KindPattern, "inventory", "e1"), "check_inventory", "order-1", "e1"},
	{shopID(engine.KindPattern, "inventory", "e2"), "check_inventory", "order-2", "e2"},
	{shopID(engine.KindPattern, "fulfil", "e3"), "initiate_fulfillment", "order-2", "e3"},
}

func TestActionsInOrder(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			evs := shopEvents()
			appendEvents(t, st, evs[:2]...) // before the runner starts
			r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			start(t, r)
			appendEvents(t, st, evs[2]) // while it runs
			waitFor(t, "4 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == len(shopWant) })
			waitFor(t, "the runner to catch up", caughtUp(r))

			got := readStream(t, st, live.ActionsStream)
			wantActions := fold(t, st, shop(t))
			if len(got) != len(shopWant) || len(wantActions) != len(shopWant) {
				t.Fatalf("got %d action records, the fold %d; want %d", len(got), len(wantActions), len(shopWant))
			}
			for i, w := range shopWant {
				e := got[i].Event
				a := &wantActions[i]
				if e.ID != w.id || a.ID != w.id {
					t.Errorf("action %d: got id %s (fold %s), want %s", i, e.ID, a.ID, w.id)
				}
				if e.Type != live.ActionEventType || e.Source != live.ActionSource {
					t.Errorf("action %d: got type %q source %q, want %q %q", i, e.Type, e.Source, live.ActionEventType, live.ActionSource)
				}
				if e.CausationID != w.cause || e.CorrelationID != w.corr || e.Hops != 0 {
					t.Errorf("action %d: got causation %q correlation %q hops %d, want %q %q 0",
						i, e.CausationID, e.CorrelationID, e.Hops, w.cause, w.corr)
				}
				if !e.Time.Equal(a.Time) {
					t.Errorf("action %d: got time %s, want %s", i, e.Time, a.Time)
				}
				if want := a.AppendJSON(nil); !bytes.Equal(e.Data, want) {
					t.Errorf("action %d: got data %s, want %s", i, e.Data, want)
				}
				var dec engine.Action
				if err := dec.UnmarshalJSON(e.Data); err != nil || dec.Action != w.action {
					t.Errorf("action %d: got action %q (%v), want %q", i, dec.Action, err, w.action)
				}
			}
			if n := len(readStream(t, st, live.TimersStream)); n != 0 {
				t.Errorf("got %d clock events before any timer was due, want 0", n)
			}
			m := r.Metrics()
			if m.EventsProcessed != 3 || m.ActionsAppended != 4 || m.TimersAppended != 0 || m.EventsSkipped != 4 {
				t.Errorf("got metrics %+v, want 3 events processed, 4 skipped, 4 actions, 0 timers", m)
			}
		})
	}
}

func TestRestartAddsNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			st := b.open(t, dir)
			appendEvents(t, st, shopEvents()...)
			clock := newFakeClock(t0)
			r1, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			start(t, r1)
			waitFor(t, "4 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == 4 })
			clock.Advance(time.Hour) // the absence of order-1 fires
			waitFor(t, "5 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == 5 })
			waitFor(t, "the first runner to catch up", caughtUp(r1))
			if err := r1.Close(); err != nil {
				t.Fatal(err)
			}
			before := ids(readStream(t, st, live.ActionsStream))
			h := head(t, st)
			if b.durable {
				st.Close()
				st = b.open(t, dir)
			}
			defer st.Close()

			r2, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			start(t, r2)
			waitFor(t, "the second runner to catch up", func() bool { return r2.Metrics().Position >= h })
			waitFor(t, "the second runner to settle", caughtUp(r2))
			if got := head(t, st); got != h {
				t.Errorf("got head %d after the restart, want %d: the replay wrote to the log", got, h)
			}
			if got := ids(readStream(t, st, live.ActionsStream)); !slices.Equal(got, before) {
				t.Errorf("got actions %v after the restart, want %v", got, before)
			}
			m := r2.Metrics()
			if m.ActionsAppended != 5 || m.TimersAppended != 0 {
				t.Errorf("got %d actions (repeats) and %d clock events appended by the replay, want 5 and 0", m.ActionsAppended, m.TimersAppended)
			}
		})
	}
}

// TestCrashMidStream stops a runner while events are still arriving and
// starts again: the outbox holds exactly the actions of the whole log, in
// order, each once.
func TestCrashMidStream(t *testing.T) {
	ch, err := choreography.LoadFile(filepath.Join("..", "..", "examples", "ecommerce.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	evs := workload.Generate(workload.Config{Seed: 7, Orders: 300, Concurrency: 40})
	for _, b := range backends {
		for _, resume := range []bool{false, true} {
			name := b.name + "/new-runner"
			if resume {
				name = b.name + "/same-runner"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				st := b.open(t, dir)
				clock := newFakeClock(evs[0].Time) // no timer falls due
				r1, err := live.New(st, newEngine(t, ch), live.Config{Clock: clock, MaxBatch: 7})
				if err != nil {
					t.Fatal(err)
				}
				stop := start(t, r1)
				half := len(evs) / 2
				appendEvents(t, st, evs[:half]...)
				waitFor(t, "some actions", func() bool { return r1.Metrics().ActionsAppended >= 50 })
				if err := stop(); !errors.Is(err, context.Canceled) {
					t.Fatalf("got Run error %v, want context.Canceled", err)
				}
				stoppedAt := r1.Metrics().Position
				appendEvents(t, st, evs[half:]...)
				if stoppedAt >= head(t, st) {
					t.Fatalf("the runner stopped at %d, not before the end of the log (%d)", stoppedAt, head(t, st))
				}

				r2 := r1
				if !resume {
					r1.Close()
					if b.durable {
						st.Close()
						st = b.open(t, dir)
					}
					if r2, err = live.New(st, newEngine(t, ch), live.Config{Clock: clock}); err != nil {
						t.Fatal(err)
					}
				}
				defer st.Close()
				defer r2.Close()
				start(t, r2)
				h := head(t, st)
				waitFor(t, "the runner to reach the end", func() bool { return r2.Metrics().Position >= h })
				waitFor(t, "the runner to settle", caughtUp(r2))

				want := actionIDs(fold(t, st, ch))
				got := ids(readStream(t, st, live.ActionsStream))
				if len(want) < 100 {
					t.Fatalf("the workload gives only %d actions", len(want))
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %d actions, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
				}
				seen := make(map[string]bool, len(got))
				for _, id := range got {
					if seen[id] {
						t.Errorf("action %s is twice in %s", id, live.ActionsStream)
					}
					seen[id] = true
				}
			})
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestAbsenceFiresLive checks that an absence fires with no further event,
// by a clock event in $timers, and that a replay of that log repeats it.
func TestAbsenceFiresLive(t *testing.T) {
	unpaid1 := shopID(choreography.KindAbsence, "unpaid", "e1")
	unpaid9 := shopID(choreography.KindAbsence, "unpaid", "e9")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			st := b.open(t, dir)
			appendEvents(t, st, shopEvents()...)
			clock := newFakeClock(t0.Add(2 * time.Minute))
			r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			stop := start(t, r)
			waitFor(t, "4 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == 4 })
			waitFor(t, "the runner to catch up", caughtUp(r))

			clock.Advance(12*time.Minute + 59*time.Second) // a second short of the deadline
			time.Sleep(20 * time.Millisecond)
			if n := len(readStream(t, st, live.TimersStream)); n != 0 {
				t.Fatalf("got %d clock events before the deadline, want 0", n)
			}

			clock.Advance(time.Second)
			waitFor(t, "the absence", func() bool { return len(readStream(t, st, live.ActionsStream)) == 5 })
			timers := readStream(t, st, live.TimersStream)
			due := t0.Add(15 * time.Minute)
			if len(timers) != 1 {
				t.Fatalf("got %d clock events, want 1", len(timers))
			}
			if e := timers[0].Event; e.ID != live.TimerEventID(due) || e.Type != engine.TimerEventType || !e.Time.Equal(due) {
				t.Errorf("got clock event %s of type %s at %s, want %s of type %s at %s",
					e.ID, e.Type, e.Time, live.TimerEventID(due), engine.TimerEventType, due)
			}
			got := readStream(t, st, live.ActionsStream)[4].Event
			if got.ID != unpaid1 || got.CausationID != "e1" || !got.Time.Equal(due) {
				t.Errorf("got action %s caused by %s at %s, want %s caused by e1 at %s", got.ID, got.CausationID, got.Time, unpaid1, due)
			}

			// A late order, whose deadline is before the clock event already
			// processed: it needs a clock event of its own, just after.
			appendEvents(t, st, ev("e9", "order_received", "order-9", -10*time.Minute, `{"order_value": 5}`))
			waitFor(t, "the late absence", func() bool {
				recs := readStream(t, st, live.ActionsStream)
				return len(recs) == 7 && recs[6].Event.ID == unpaid9
			})
			waitFor(t, "the runner to settle", caughtUp(r))
			timers = readStream(t, st, live.TimersStream)
			if want := []string{live.TimerEventID(due), live.TimerEventID(due.Add(time.Nanosecond))}; !slices.Equal(ids(timers), want) {
				t.Errorf("got clock events %v, want %v", ids(timers), want)
			}
			if m := r.Metrics(); m.TimersAppended != 2 {
				t.Errorf("got %d clock events appended, want 2", m.TimersAppended)
			}
			stop()
			r.Close()

			// Replay: a fresh engine over the same log, the wall clock long
			// past every deadline, repeats the same actions and adds nothing.
			h := head(t, st)
			logged := ids(readStream(t, st, live.ActionsStream))
			if b.durable {
				st.Close()
				st = b.open(t, dir)
			}
			defer st.Close()
			if got, want := actionIDs(fold(t, st, shop(t))), logged; !slices.Equal(got, want) {
				t.Errorf("got %v from a fold of the log, want %v", got, want)
			}
			r2, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0.Add(24 * time.Hour))})
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			start(t, r2)
			waitFor(t, "the replay to reach the end", func() bool { return r2.Metrics().Position >= h })
			waitFor(t, "the replay to settle", caughtUp(r2))
			if got := head(t, st); got != h {
				t.Errorf("got head %d after the replay, want %d", got, h)
			}
			if got := ids(readStream(t, st, live.ActionsStream)); !slices.Equal(got, logged) {
				t.Errorf("got %v after the replay, want %v", got, logged)
			}
		})
	}
}

// TestTwoRunners runs two instances over one log: each action and each
// clock event is there once.
func TestTwoRunners(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			clock := newFakeClock(t0)
			var rs []*live.Runner
			for range 2 {
				r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock, MaxBatch: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				start(t, r)
				rs = append(rs, r)
			}
			appendEvents(t, st, shopEvents()...)
			waitFor(t, "4 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == 4 })
			waitFor(t, "both runners to catch up", caughtUp(rs...))
			clock.Advance(time.Hour)
			waitFor(t, "the absence", func() bool { return len(readStream(t, st, live.ActionsStream)) == 5 })
			waitFor(t, "both runners to settle", caughtUp(rs...))

			got := ids(readStream(t, st, live.ActionsStream))
			want := actionIDs(fold(t, st, shop(t)))
			if !slices.Equal(got, want) {
				t.Errorf("got actions %v, want %v", got, want)
			}
			if n := len(readStream(t, st, live.TimersStream)); n != 1 {
				t.Errorf("got %d clock events, want 1", n)
			}
			for i, r := range rs {
				if m := r.Metrics(); m.EventsProcessed != 4 {
					t.Errorf("runner %d: got %d events processed, want 4 (3 events and the clock event)", i, m.EventsProcessed)
				}
			}
		})
	}
}

// TestSystemClock runs the real clock in a synctest bubble.
func TestSystemClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := backends[0].open(t, "")
		defer st.Close()
		now := time.Now().UTC()
		appendEvents(t, st, &event.Event{SpecVersion: "1.0", ID: "e1", Source: "agents/test",
			Type: "order_received", Time: now, CorrelationID: "order-1", Data: []byte(`{"order_value": 5}`)})
		r, err := live.New(st, newEngine(t, shop(t)), live.Config{TimerDelay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()

		synctest.Wait()
		if got := len(readStream(t, st, live.ActionsStream)); got != 1 {
			t.Fatalf("got %d actions at once, want 1", got)
		}
		time.Sleep(15*time.Minute + 500*time.Millisecond)
		synctest.Wait()
		if got := len(readStream(t, st, live.TimersStream)); got != 0 {
			t.Errorf("got %d clock events within TimerDelay of the deadline, want 0", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		timers := readStream(t, st, live.TimersStream)
		if len(timers) != 1 || !timers[0].Event.Time.Equal(now.Add(15*time.Minute)) {
			t.Fatalf("got clock events %v, want one at the deadline", ids(timers))
		}
		acts := readStream(t, st, live.ActionsStream)
		if want := shopID(choreography.KindAbsence, "unpaid", "e1"); len(acts) != 2 || acts[1].Event.ID != want {
			t.Errorf("got actions %v, want the absence %s second", ids(acts), want)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("got Run error %v, want context.Canceled", err)
		}
		r.Close()
	})
}

func TestLifecycle(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()

	r, err := live.New(st, newEngine(t, shop(t)), live.Config{})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, shopEvents()[0])
	stop := start(t, r)
	waitFor(t, "Run to start", func() bool { return len(readStream(t, st, live.ActionsStream)) >= 2 })
	if err := r.Run(context.Background()); !errors.Is(err, live.ErrRunning) {
		t.Errorf("got %v from a second Run, want ErrRunning", err)
	}
	for range 2 {
		if err := r.Close(); err != nil {
			t.Errorf("got Close error %v, want nil", err)
		}
	}
	if err := stop(); !errors.Is(err, live.ErrClosed) {
		t.Errorf("got Run error %v after Close, want ErrClosed", err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, live.ErrClosed) {
		t.Errorf("got Run error %v after Close, want ErrClosed", err)
	}

	// The store closing under a runner ends Run with its error.
	st2 := backends[0].open(t, "")
	r2, err := live.New(st2, newEngine(t, shop(t)), live.Config{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	appendEvents(t, st2, shopEvents()[0])
	go func() { errc <- r2.Run(context.Background()) }()
	waitFor(t, "Run to start", func() bool { return len(readStream(t, st2, live.ActionsStream)) >= 2 })
	st2.Close()
	if err := <-errc; !errors.Is(err, store.ErrClosed) {
		t.Errorf("got Run error %v after the store closed, want store.ErrClosed", err)
	}
	if m := r2.Metrics(); m.Errors != 1 || m.LastError == "" {
		t.Errorf("got %d errors, last %q; want 1 and its message", m.Errors, m.LastError)
	}
	r2.Close()
}

func TestNewRefuses(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	eng := newEngine(t, shop(t))
	tests := []struct {
		name string
		st   store.Store
		eng  *engine.Engine
		cfg  live.Config
	}{
		{"nil store", nil, eng, live.Config{}},
		{"nil engine", st, nil, live.Config{}},
		{"negative delay", st, eng, live.Config{TimerDelay: -time.Second}},
		{"negative batch", st, eng, live.Config{MaxBatch: -1}},
		{"negative buffer", st, eng, live.Config{Buffer: -1}},
		{"negative retry", st, eng, live.Config{RetryDelay: -1}},
		{"negative max retry", st, eng, live.Config{MaxRetryDelay: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := live.New(tt.st, tt.eng, tt.cfg)
			if !errors.Is(err, live.ErrInvalidConfig) || r != nil {
				t.Errorf("got %v, %v; want nil, ErrInvalidConfig", r, err)
			}
		})
	}
}

// TestForeignRecords checks what the runner gives the engine: user events,
// and clock events only from $timers.
func TestForeignRecords(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	appendEvents(t, st, shopEvents()[0])
	// An agent's event of the clock's type, an hour on: it must not fire
	// the absence.
	forged := ev("forged", engine.TimerEventType, "order-1", time.Hour, "")
	appendEvents(t, st, forged)
	other := ev("audit-1", "audit.note", "x", 0, "")
	if _, err := st.Append(context.Background(), "$audit", store.Any, []*event.Event{other}); err != nil {
		t.Fatal(err)
	}
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start(t, r)
	waitFor(t, "2 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == 2 })
	waitFor(t, "the runner to catch up", caughtUp(r))
	if m := r.Metrics(); m.EventsProcessed != 1 || m.EventsSkipped != 4 {
		t.Errorf("got %d processed and %d skipped, want 1 and 4 (forged clock, $audit, 2 actions)", m.EventsProcessed, m.EventsSkipped)
	}
}

func TestTimerEvent(t *testing.T) {
	due := time.Date(2025, 1, 1, 12, 15, 0, 5, time.FixedZone("x", 3600))
	e := live.TimerEvent(due)
	if want := "choreo.timer:2025-01-01T11:15:00.000000005Z"; e.ID != want {
		t.Errorf("got id %s, want %s", e.ID, want)
	}
	if want := `{"due":"2025-01-01T11:15:00.000000005Z"}`; string(e.Data) != want {
		t.Errorf("got data %s, want %s", e.Data, want)
	}
	if err := e.Validate(event.Limits{}); err != nil {
		t.Errorf("got %v, want a valid event", err)
	}
	if !bytes.Equal(live.TimerEvent(due.UTC()).AppendBinary(nil), e.AppendBinary(nil)) {
		t.Errorf("the clock event depends on the zone of its time")
	}
}

func TestEventWithoutTimeTakesRecordedTime(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e := &event.Event{SpecVersion: "1.0", ID: "timeless", Source: "agents/test", Type: "order_received", CorrelationID: "o-1", Data: []byte(`{"order_value":5}`)}
	appendEvents(t, st, e)
	rec, err := st.Get(ctx, "timeless")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(readStream(t, st, live.ActionsStream)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no action")
		}
		time.Sleep(time.Millisecond)
	}
	var a engine.Action
	if err := a.UnmarshalJSON(readStream(t, st, live.ActionsStream)[0].Event.Data); err != nil {
		t.Fatal(err)
	}
	if !a.Time.Equal(rec.Recorded) {
		t.Fatalf("action time %v, want the record's time %v", a.Time, rec.Recorded)
	}
}

// TestPipelinedAppends runs the runner over a synced Pebble log while
// producers append, with batches of 3 actions so that many appends are on
// their way at once. Whenever the runner reports a position, the actions
// of every record before it must be in the log; at the end they are all
// there, once each, in the order of the fold.
func TestPipelinedAppends(t *testing.T) {
	ch, err := choreography.LoadFile(filepath.Join("..", "..", "examples", "ecommerce.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	evs := workload.Generate(workload.Config{Seed: 3, Orders: 200, Concurrency: 50})
	st, err := pebble.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := live.New(st, newEngine(t, ch), live.Config{Clock: newFakeClock(evs[0].Time), MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	start(t, r)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(evs); i += 5 {
			batch := evs[i:min(i+5, len(evs))]
			if _, err := st.Append(context.Background(), "orders", store.Any, batch); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	checks := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-time.After(5 * time.Millisecond):
		}
		pos := r.Metrics().Position
		logged := map[string]bool{}
		for _, id := range ids(readStream(t, st, live.ActionsStream)) {
			logged[id] = true
		}
		for _, a := range foldUpTo(t, st, ch, pos) {
			if !logged[a.ID] {
				t.Fatalf("position %d reported, but action %s of a record before it is not in the log", pos, a.ID)
			}
		}
		checks++
	}
	h := head(t, st)
	waitFor(t, "the runner to reach the end", func() bool { return r.Metrics().Position >= h })
	want := actionIDs(fold(t, st, ch))
	got := ids(readStream(t, st, live.ActionsStream))
	if !slices.Equal(got, want) {
		t.Fatalf("got %d actions, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	t.Logf("%d actions, position checked %d times", len(got), checks)
}

// foldUpTo is fold over the records before global position end.
func foldUpTo(t testing.TB, st store.Store, ch *choreography.Choreography, end uint64) []engine.Action {
	t.Helper()
	e := newEngine(t, ch)
	var out []engine.Action
	for from := uint64(0); from < end; {
		recs, err := st.ReadAll(context.Background(), from, int(min(1000, end-from)))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			if ev, _, ok := live.EngineInput(&rec); ok {
				out = e.AppendProcess(out, ev)
			}
		}
		from += uint64(len(recs))
	}
	return out
}
