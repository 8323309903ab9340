package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backends opens each store kind; reopen returns a fresh handle on the
// same log (for pebble after closing the old one).
type backend struct {
	name string
	open func(t *testing.T) (st store.Store, reopen func() store.Store)
}

var backends = []backend{
	{"mem", func(t *testing.T) (store.Store, func() store.Store) {
		st := mem.New(store.Options{})
		t.Cleanup(func() { st.Close() })
		return st, func() store.Store { return st }
	}},
	{"pebble", func(t *testing.T) (store.Store, func() store.Store) {
		dir := t.TempDir()
		var cur store.Store
		open := func() store.Store {
			if cur != nil {
				if err := cur.Close(); err != nil {
					t.Fatal(err)
				}
			}
			st, err := pebble.Open(dir, &pebble.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			cur = st
			return st
		}
		t.Cleanup(func() {
			if cur != nil {
				cur.Close()
			}
		})
		return open(), open
	}},
}

func eachBackend(t *testing.T, f func(t *testing.T, st store.Store, reopen func() store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, reopen := b.open(t)
			f(t, st, reopen)
		})
	}
}

func open(t testing.TB, st store.Store, cfg agent.Config) *agent.Registry {
	t.Helper()
	r, err := agent.Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func profile(id string, load float64, caps ...string) agent.Profile {
	return agent.Profile{
		ID:           id,
		Name:         "Agent " + id,
		Capabilities: caps,
		Endpoint:     "http://127.0.0.1:9/" + id,
		Load:         load,
	}
}

func mustRegister(t testing.TB, r *agent.Registry, p agent.Profile) agent.Profile {
	t.Helper()
	got, err := r.Register(context.Background(), p)
	if err != nil {
		t.Fatalf("Register(%s): %v", p.ID, err)
	}
	return got
}

func ids(ps []agent.Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// waitClosed waits up to 5 s for ch to close.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
