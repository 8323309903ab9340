package live_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

const shopYAML = `
name: shop
patterns:
  - id: review
    event_type: order_received
    condition: data.order_value > 1000
    action: request_manual_review
    target_capability: fraud_detection
    priority: 9
  - id: inventory
    event_type: order_received
    action: check_inventory
    target_capability: inventory_management
    priority: 8
  - id: fulfil
    event_type: payment_successful
    action: initiate_fulfillment
    target_capability: order_fulfillment
    priority: 6
complex_patterns:
  - id: unpaid
    type: absence
    event_type: order_received
    expected_event: payment_successful
    timeout: 15m
    action: cancel_unpaid_order
    target_capability: order_management
`

func shop(t testing.TB) *choreography.Choreography {
	t.Helper()
	ch, err := choreography.Parse("shop.yaml", []byte(shopYAML))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func newEngine(t testing.TB, chs ...*choreography.Choreography) *engine.Engine {
	t.Helper()
	e, err := engine.New(chs, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// backend is a store implementation the tests run against.
type backend struct {
	name    string
	durable bool // reopen gives back what was written
	open    func(t testing.TB, dir string) store.Store
}

var backends = []backend{
	{name: "mem", open: func(t testing.TB, _ string) store.Store { return mem.New(store.Options{}) }},
	{name: "pebble", durable: true, open: func(t testing.TB, dir string) store.Store {
		t.Helper()
		s, err := pebble.Open(dir, &pebble.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// ev makes a user event of type typ at t0+offset.
func ev(id, typ, corr string, offset time.Duration, data string) *event.Event {
	e := &event.Event{SpecVersion: "1.0", ID: id, Source: "agents/test", Type: typ,
		Time: t0.Add(offset), CorrelationID: corr}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

// appendEvents appends each event to the stream of its correlation.
func appendEvents(t testing.TB, st store.Store, evs ...*event.Event) {
	t.Helper()
	for _, e := range evs {
		if _, err := st.Append(context.Background(), e.Correlation(), store.Any, []*event.Event{e}); err != nil {
			t.Fatalf("appending %s: %v", e.ID, err)
		}
	}
}

// readStream returns every record of stream.
func readStream(t testing.TB, st store.Store, stream string) []store.Record {
	t.Helper()
	var out []store.Record
	for {
		recs, err := st.ReadStream(context.Background(), stream, uint64(len(out)), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

func ids(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Event.ID
	}
	return out
}

func head(t testing.TB, st store.Store) uint64 {
	t.Helper()
	h, err := st.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fold replays st's log through a fresh engine as a runner would (user
// events, and clock events of $timers) and returns the actions.
func fold(t testing.TB, st store.Store, chs ...*choreography.Choreography) []engine.Action {
	t.Helper()
	e := newEngine(t, chs...)
	var out []engine.Action
	for from := uint64(0); ; {
		recs, err := st.ReadAll(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			user := !strings.HasPrefix(r.Stream, "$") && r.Event.Type != engine.TimerEventType
			clock := r.Stream == live.TimersStream && r.Event.Type == engine.TimerEventType
			if !user && !clock {
				continue
			}
			out = e.AppendProcess(out, r.Event)
		}
		from += uint64(len(recs))
	}
}

func actionIDs(as []engine.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// start runs r in a goroutine; the returned stop cancels it and returns
// Run's error.
func start(t testing.TB, r *live.Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-errc
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, live.ErrClosed) {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// caughtUp reports whether every runner has processed the whole log, with
// the actions of every record in it.
func caughtUp(rs ...*live.Runner) func() bool {
	return func() bool {
		for _, r := range rs {
			if m := r.Metrics(); m.Lag != 0 {
				return false
			}
		}
		return true
	}
}

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	ch   chan time.Time
	done bool
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) live.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.done = true
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.done = true
		t.ch <- c.now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}
