package live_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// runAsync runs r in a goroutine and returns the channel Run's error
// comes on, and a cancel for its context.
func runAsync(t testing.TB, r *live.Runner) (<-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		r.Close()
	})
	return errc, cancel
}

// wantReturn waits for Run's error and checks it is nil.
func wantReturn(t testing.TB, errc <-chan error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("%s: got Run error %v, want nil", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Run did not return", what)
	}
}

// marker appends a system record, standing for a deployment record, and
// returns its global position.
func marker(t testing.TB, st store.Store, id string) uint64 {
	t.Helper()
	e := &event.Event{SpecVersion: "1.0", ID: id, Source: "test", Type: "test.marker"}
	pos, err := st.Append(context.Background(), "$markers", store.Any, []*event.Event{e})
	if err != nil {
		t.Fatal(err)
	}
	return pos[0].Global
}

// actionsOf returns the action records of the log: the causation id of
// each by its id.
func actionsOf(t testing.TB, st store.Store) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, r := range readStream(t, st, live.ActionsStream) {
		out[r.Event.ID] = r.Event.CausationID
	}
	return out
}

// TestEmitFrom: the engine folds every record, but only the actions of
// records from EmitFrom on are appended; an absence started before it
// and due after it fires.
func TestEmitFrom(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			evs := shopEvents()
			appendEvents(t, st, evs[:2]...) // positions 0 and 1
			from := head(t, st)
			appendEvents(t, st, evs[2]) // position 2
			clock := newFakeClock(t0.Add(2 * time.Minute))
			eng := newEngine(t, shop(t))
			r, err := live.New(st, eng, live.Config{Clock: clock, EmitFrom: from})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			start(t, r)
			waitFor(t, "the runner to catch up", caughtUp(r))
			want := []string{shopID(engine.KindPattern, "fulfil", "e3")}
			if got := ids(readStream(t, st, live.ActionsStream)); !slices.Equal(got, want) {
				t.Fatalf("got actions %v, want only %v", got, want)
			}
			if got := r.ActionsDropped(); got != 3 {
				t.Errorf("got %d actions dropped, want 3 (review and inventory of e1, inventory of e2)", got)
			}
			if m := r.Metrics(); m.EventsProcessed != 3 || m.ActionsAppended != 1 {
				t.Errorf("got %d events processed and %d actions appended, want 3 and 1", m.EventsProcessed, m.ActionsAppended)
			}

			// The absence of e1's payment, started before EmitFrom, fires
			// on a clock event after it: the state came from history.
			clock.Advance(time.Hour)
			unpaid := shopID(choreography.KindAbsence, "unpaid", "e1")
			waitFor(t, "the absence", func() bool { return len(readStream(t, st, live.ActionsStream)) == 2 })
			waitFor(t, "the runner to settle", caughtUp(r))
			if got := ids(readStream(t, st, live.ActionsStream)); got[1] != unpaid {
				t.Errorf("got actions %v, want the absence %s second", got, unpaid)
			}
			em := r.EngineMetrics()
			if em.EventsProcessed != 3 || em.TimerEvents != 1 || em.Actions != 5 {
				t.Errorf("got engine metrics %d events, %d timer events, %d actions; want 3, 1, 5",
					em.EventsProcessed, em.TimerEvents, em.Actions)
			}
			if len(em.Rules) != 4 || em.Rules[2].RuleID != "fulfil" || em.Rules[2].Triggers != 1 {
				t.Errorf("got rule metrics %+v, want 4 rules with fulfil triggered once", em.Rules)
			}
		})
	}
}

// TestStopAt: the runner processes the records before the stop, appends
// their actions and returns nil; every later Run returns nil at once.
func TestStopAt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			evs := shopEvents()
			appendEvents(t, st, evs[:2]...)
			stop := head(t, st)
			appendEvents(t, st, evs[2])

			// Set before Run.
			r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			r.StopAt(stop + 5) // a higher stop later changes nothing
			r.StopAt(stop)
			r.StopAt(stop + 1)
			errc, _ := runAsync(t, r)
			wantReturn(t, errc, "stop before Run")
			want := []string{
				shopID(engine.KindPattern, "review", "e1"),
				shopID(engine.KindPattern, "inventory", "e1"),
				shopID(engine.KindPattern, "inventory", "e2"),
			}
			if got := ids(readStream(t, st, live.ActionsStream)); !slices.Equal(got, want) {
				t.Fatalf("got actions %v, want %v", got, want)
			}
			if m := r.Metrics(); m.Position != stop || m.EventsProcessed != 2 {
				t.Errorf("got position %d after %d events, want %d after 2", m.Position, m.EventsProcessed, stop)
			}
			if em := r.EngineMetrics(); em.EventsProcessed != 2 {
				t.Errorf("got %d events in the engine metrics, want 2", em.EventsProcessed)
			}
			if err := r.Run(context.Background()); err != nil {
				t.Errorf("got %v from Run past the stop, want nil", err)
			}

			// Set while Run waits for records, ahead of the log: it stops
			// before the record at the stop, whatever comes after.
			r2, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			errc2, _ := runAsync(t, r2)
			waitFor(t, "the runner to catch up", caughtUp(r2))
			h := head(t, st)
			r2.StopAt(h + 1)
			appendEvents(t, st,
				ev("e4", "order_received", "order-4", 3*time.Minute, `{"order_value": 5}`), // at h: processed
				ev("e5", "order_received", "order-5", 4*time.Minute, `{"order_value": 5}`), // at h+1: not
			)
			wantReturn(t, errc2, "stop ahead of the log")
			got := actionsOf(t, st)
			if _, ok := got[shopID(engine.KindPattern, "inventory", "e4")]; !ok {
				t.Errorf("the action of e4, before the stop, is missing from %v", got)
			}
			if _, ok := got[shopID(engine.KindPattern, "inventory", "e5")]; ok {
				t.Errorf("the action of e5, at the stop, was appended")
			}
			if m := r2.Metrics(); m.Position != h+1 {
				t.Errorf("got position %d, want the stop %d", m.Position, h+1)
			}

			// Set when the runner is already past it: Run returns at once.
			r3, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			errc3, _ := runAsync(t, r3)
			waitFor(t, "the runner to catch up", caughtUp(r3))
			r3.StopAt(1)
			wantReturn(t, errc3, "stop behind the runner")
		})
	}
}

// TestHandover runs two versions of a choreography as a deployment does:
// the first stops at a record, the second emits from the record after it.
// An absence started before the handover and due after it fires once, from
// the second, on the clock event the second appends.
func TestHandover(t *testing.T) {
	unpaid1 := shopID(choreography.KindAbsence, "unpaid", "e1")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			evs := shopEvents()
			clock := newFakeClock(t0.Add(2 * time.Minute))
			old, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			errOld, _ := runAsync(t, old)
			appendEvents(t, st, evs[:2]...)
			waitFor(t, "the first to catch up", caughtUp(old))

			at := marker(t, st, "handover")
			old.StopAt(at)
			wantReturn(t, errOld, "the first")
			next, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock, EmitFrom: at + 1})
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			start(t, next)
			appendEvents(t, st, evs[2])
			waitFor(t, "the second to catch up", func() bool {
				return caughtUp(next)() && next.Metrics().EventsProcessed == 3
			})
			clock.Advance(time.Hour)
			waitFor(t, "the absence", func() bool {
				_, ok := actionsOf(t, st)[unpaid1]
				return ok
			})
			waitFor(t, "the second to settle", caughtUp(next))

			// Each action of the fold is there once, from one runner or
			// the other.
			got := ids(readStream(t, st, live.ActionsStream))
			if want := actionIDs(fold(t, st, shop(t))); !slices.Equal(got, want) {
				t.Errorf("got actions %v, want those of the fold %v", got, want)
			}
			if m := old.Metrics(); m.ActionsAppended != 3 || m.TimersAppended != 0 {
				t.Errorf("the first appended %d actions and %d clock events, want 3 and 0", m.ActionsAppended, m.TimersAppended)
			}
			if m := next.Metrics(); m.ActionsAppended != 2 || next.ActionsDropped() != 3 {
				t.Errorf("the second appended %d actions and dropped %d, want 2 and 3", m.ActionsAppended, next.ActionsDropped())
			}
		})
	}
}

// TestStopAtClockEvent: a clock event at or after the stop fires no timer
// of the runner, though one before it does.
func TestStopAtClockEvent(t *testing.T) {
	unpaid1 := shopID(choreography.KindAbsence, "unpaid", "e1")
	st := backends[0].open(t, "")
	defer st.Close()
	appendEvents(t, st, shopEvents()[0])
	clock := newFakeClock(t0)
	// Another runner appends the clock event; this one stops before it.
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	errc, _ := runAsync(t, r)
	waitFor(t, "the runner to catch up", caughtUp(r))
	h := head(t, st)
	r.StopAt(h)
	wantReturn(t, errc, "the runner")
	if _, err := st.Append(context.Background(), live.TimersStream, store.Any,
		[]*event.Event{live.TimerEvent(t0.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if _, ok := actionsOf(t, st)[unpaid1]; ok {
		t.Fatal("the absence fired before its clock event")
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("got %v from Run past the stop, want nil", err)
	}
	if _, ok := actionsOf(t, st)[unpaid1]; ok {
		t.Error("the runner fired the absence on a clock event at its stop")
	}

	// The same log, a runner stopping just after the clock event: fires.
	r2, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	r2.StopAt(h + 1)
	errc2, _ := runAsync(t, r2)
	wantReturn(t, errc2, "the second runner")
	if _, ok := actionsOf(t, st)[unpaid1]; !ok {
		t.Error("the absence did not fire on a clock event before the stop")
	}
}

// TestStopAtConcurrent calls StopAt from many goroutines while Run runs:
// the lowest position wins.
func TestStopAtConcurrent(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	errc, _ := runAsync(t, r)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { r.StopAt(uint64(100 + i)) })
	}
	wg.Wait()
	for i := range 110 {
		appendEvents(t, st, ev("x"+string(rune('a'+i%26))+string(rune('a'+i/26)), "noise", "n", time.Duration(i), ""))
	}
	wantReturn(t, errc, "the runner")
	if m := r.Metrics(); m.Position != 100 || m.EventsProcessed != 100 {
		t.Errorf("got position %d after %d events, want 100 and 100", m.Position, m.EventsProcessed)
	}
}

// gatedStore holds every AppendAsync until open is closed, as a log
// whose fsync hangs would.
type gatedStore struct {
	store.Store
	open chan struct{}
}

func (g *gatedStore) AppendAsync(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) store.Pending {
	p := &gatedPending{done: make(chan struct{})}
	go func() {
		<-g.open
		p.pos, p.err = g.Store.Append(context.Background(), stream, exp, evs)
		close(p.done)
	}()
	return p
}

type gatedPending struct {
	done chan struct{}
	pos  []store.Position
	err  error
}

func (p *gatedPending) Done() <-chan struct{} { return p.done }
func (p *gatedPending) Wait() ([]store.Position, error) {
	<-p.done
	return p.pos, p.err
}

// TestStopAtWaitsForAppends stops a runner whose appends are on their
// way, and then runs it again with a stop it has already reached: Run must
// not return nil before the actions it decided are in the log.
func TestStopAtWaitsForAppends(t *testing.T) {
	mem := backends[0].open(t, "")
	defer mem.Close()
	st := &gatedStore{Store: mem, open: make(chan struct{})}
	appendEvents(t, st, shopEvents()[:2]...)
	h := head(t, st)
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0), MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	waitFor(t, "both events processed", func() bool { return r.Metrics().EventsProcessed == 2 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("got Run error %v, want context.Canceled", err)
	}
	r.StopAt(h)
	errc, _ := runAsync(t, r)
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v with its actions still on their way", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(st.open)
	wantReturn(t, errc, "stop once the appends land")
	if got := len(readStream(t, st, live.ActionsStream)); got != 3 {
		t.Errorf("%d actions in the log, want 3", got)
	}
	if m := r.Metrics(); m.Position != h {
		t.Errorf("position %d, want %d", m.Position, h)
	}
}
