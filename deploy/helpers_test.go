package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// shopV1 fulfils each payment and ships each order paid within the hour.
const shopV1 = `name: shop
patterns:
  - id: fulfil
    event_type: payment_successful
    action: initiate_fulfillment
    target_capability: order_fulfillment
sequences:
  - sequence_id: checkout
    events: [order_received, payment_successful]
    max_interval: 1h
    action: ship
    target_capability: shipping
`

// shopV2 changes the action of the pattern; the sequence is the same.
const shopV2 = `name: shop
patterns:
  - id: fulfil
    event_type: payment_successful
    action: fulfil_v2
    target_capability: order_fulfillment
sequences:
  - sequence_id: checkout
    events: [order_received, payment_successful]
    max_interval: 1h
    action: ship
    target_capability: shipping
`

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

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// config is the manager's config in tests: a clock that moves only when
// told, so that no timer fires by itself.
func config(clock *fakeClock) deploy.Config {
	return deploy.Config{RunnerConfig: live.Config{Clock: clock}, Logger: quiet}
}

// open opens a manager over st.
func open(t testing.TB, st store.Store, cfg deploy.Config) *deploy.Manager {
	t.Helper()
	m, err := deploy.Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// start runs m in a goroutine; the returned stop cancels it, waits for
// it, and checks it returned context.Canceled (or ErrClosed, when the
// manager was closed first).
func start(t testing.TB, m *deploy.Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) && !errors.Is(err, deploy.ErrClosed) {
				t.Errorf("Run: got %v, want context.Canceled or ErrClosed", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// deployOK deploys source as name and checks it is new.
func deployOK(t testing.TB, m *deploy.Manager, name, source string) deploy.Deployment {
	t.Helper()
	d, changed, err := m.Deploy(context.Background(), name, []byte(source))
	if err != nil {
		t.Fatalf("deploying %s: %v", name, err)
	}
	if !changed {
		t.Fatalf("deploying %s: got changed=false, want a new version", name)
	}
	return d
}

// ev makes a user event of type typ at t0+offset.
func ev(id, typ, corr string, offset time.Duration) *event.Event {
	return &event.Event{SpecVersion: "1.0", ID: id, Source: "agents/test", Type: typ,
		Time: t0.Add(offset), CorrelationID: corr}
}

// appendEvents appends each event to the stream of its correlation and
// returns the global position of the last.
func appendEvents(t testing.TB, st store.Store, evs ...*event.Event) uint64 {
	t.Helper()
	var last uint64
	for _, e := range evs {
		pos, err := st.Append(context.Background(), e.Correlation(), store.Any, []*event.Event{e})
		if err != nil {
			t.Fatalf("appending %s: %v", e.ID, err)
		}
		last = pos[0].Global
	}
	return last
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

// logged is an action in the log.
type logged struct {
	engine.Action
	pos uint64 // of its record
}

// key names an action by what caused it: "rule<-trigger ids".
func (a logged) key() string { return fmt.Sprintf("%s<-%v", a.RuleID, a.TriggerEventIDs) }

// actions returns the actions in the log, in log order.
func actions(t testing.TB, st store.Store) []logged {
	t.Helper()
	var out []logged
	for _, r := range readStream(t, st, live.ActionsStream) {
		var a engine.Action
		if err := json.Unmarshal(r.Event.Data, &a); err != nil {
			t.Fatalf("action record %s: %v", r.Event.ID, err)
		}
		out = append(out, logged{a, r.GlobalPosition})
	}
	return out
}

// byKey returns the actions by key, failing the test if one is there
// twice.
func byKey(t testing.TB, as []logged) map[string]logged {
	t.Helper()
	out := make(map[string]logged, len(as))
	for _, a := range as {
		if prev, ok := out[a.key()]; ok {
			t.Errorf("action %s twice: %s (%s) and %s (%s)", a.key(), prev.ID, prev.Action.Action, a.ID, a.Action.Action)
		}
		out[a.key()] = a
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

// settled reports whether m runs only current versions, each caught up
// with the whole log.
func settled(m *deploy.Manager) func() bool {
	return func() bool {
		for _, x := range m.Metrics() {
			if !x.Current || !x.Running || x.Runner.Lag != 0 {
				return false
			}
		}
		return true
	}
}

// fakeClock is a live.Clock that moves only when told.
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
