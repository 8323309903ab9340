package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func TestRegisterHeartbeatUnregister(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		ctx := context.Background()
		clk := newClock()
		r := open(t, st, agent.Config{Now: clk.Now})

		in := profile("inventory-1", 0.25, "inventory_management", "stock", "stock")
		in.Metadata = map[string]json.RawMessage{"region": json.RawMessage(`"eu"`)}
		got := mustRegister(t, r, in)
		want := in
		want.Capabilities = []string{"inventory_management", "stock"} // repeats dropped
		want.Status = agent.StatusActive                              // empty means active
		want.LastHeartbeat = t0
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Register = %+v, want %+v", got, want)
		}
		if g, ok := r.Get("inventory-1"); !ok || !reflect.DeepEqual(g, want) {
			t.Fatalf("Get = %+v, %v; want %+v", g, ok, want)
		}
		if l := r.List(); len(l) != 1 || l[0].ID != "inventory-1" {
			t.Fatalf("List = %v", ids(l))
		}

		clk.Advance(10 * time.Second)
		hb, err := r.Heartbeat(ctx, "inventory-1", agent.Heartbeat{Load: ptr(0.5), Status: agent.StatusBusy})
		if err != nil {
			t.Fatal(err)
		}
		if hb.Load != 0.5 || hb.Status != agent.StatusBusy || !hb.LastHeartbeat.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("Heartbeat = load %v status %q at %v", hb.Load, hb.Status, hb.LastHeartbeat)
		}
		// An empty heartbeat keeps load and status.
		clk.Advance(10 * time.Second)
		hb, err = r.Heartbeat(ctx, "inventory-1", agent.Heartbeat{})
		if err != nil {
			t.Fatal(err)
		}
		if hb.Load != 0.5 || hb.Status != agent.StatusBusy || !hb.LastHeartbeat.Equal(t0.Add(20*time.Second)) {
			t.Fatalf("empty Heartbeat = load %v status %q at %v", hb.Load, hb.Status, hb.LastHeartbeat)
		}

		if err := r.Unregister(ctx, "inventory-1"); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Get("inventory-1"); ok {
			t.Fatal("Get after Unregister found the agent")
		}
		for name, err := range map[string]error{
			"Unregister": r.Unregister(ctx, "inventory-1"),
			"Heartbeat":  second(r.Heartbeat(ctx, "inventory-1", agent.Heartbeat{})),
		} {
			if !errors.Is(err, agent.ErrNotFound) || agent.Code(err) != agent.CodeNotFound {
				t.Errorf("%s of unknown agent = %v (code %q), want not_found", name, err, agent.Code(err))
			}
		}

		// The log holds the registration and the removal, not the heartbeats.
		recs, err := st.ReadStream(ctx, agent.StreamAgents, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, rec := range recs {
			types = append(types, rec.Event.Type)
			if rec.Event.Source != agent.EventSource || rec.Event.Subject != "inventory-1" {
				t.Errorf("record source %q subject %q", rec.Event.Source, rec.Event.Subject)
			}
		}
		if want := []string{agent.EventRegistered, agent.EventUnregistered}; !slices.Equal(types, want) {
			t.Fatalf("records %v, want %v", types, want)
		}
		var logged agent.Profile
		if err := json.Unmarshal(recs[0].Event.Data, &logged); err != nil || !reflect.DeepEqual(logged, want) {
			t.Fatalf("registration record = %+v (%v), want %+v", logged, err, want)
		}
		if string(recs[1].Event.Data) != `{"id":"inventory-1"}` {
			t.Fatalf("removal record data %s", recs[1].Event.Data)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func TestRestartRestores(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, reopen func() store.Store) {
		ctx := context.Background()
		clk := newClock()
		cfg := agent.Config{Now: clk.Now}
		r := open(t, st, cfg)

		mustRegister(t, r, profile("a", 0.1, "x"))
		mustRegister(t, r, profile("b", 0.2, "x"))
		clk.Advance(time.Minute)
		mustRegister(t, r, profile("c", 0.3, "x", "y"))
		if err := r.Unregister(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		// Replaced registration: new capabilities and endpoint.
		a2 := profile("a", 0.4, "y", "z")
		a2.Protocol = agent.ProtocolInProcess
		a2.Endpoint = "handler-a"
		mustRegister(t, r, a2)
		// A heartbeat is not logged: after a restart it is forgotten.
		clk.Advance(30 * time.Second)
		if _, err := r.Heartbeat(ctx, "c", agent.Heartbeat{Load: ptr(0.9)}); err != nil {
			t.Fatal(err)
		}
		before := r.List()

		st = reopen()
		r2 := open(t, st, cfg)
		after := r2.List()
		if got, want := ids(after), []string{"a", "c"}; !slices.Equal(got, want) {
			t.Fatalf("after restart: agents %v, want %v", got, want)
		}
		if !reflect.DeepEqual(after[0], before[0]) {
			t.Errorf("after restart: a = %+v, want %+v", after[0], before[0])
		}
		c := after[1]
		if c.Load != 0.3 || !c.LastHeartbeat.Equal(t0.Add(time.Minute)) || !slices.Equal(c.Capabilities, []string{"x", "y"}) {
			t.Errorf("after restart: c = load %v heartbeat %v caps %v; want the registration's 0.3 at %v", c.Load, c.LastHeartbeat, c.Capabilities, t0.Add(time.Minute))
		}
		// The capability index is rebuilt: only a and c, by their latest caps.
		if got := ids(r2.Discover([]string{"y"})); !slices.Equal(got, []string{"c", "a"}) {
			t.Errorf("Discover(y) after restart = %v, want [c a]", got)
		}
		if got := r2.Discover([]string{"x", "z"}); len(got) != 0 {
			t.Errorf("Discover(x, z) after restart = %v, want none", ids(got))
		}
		// c registered at t0+1m and its later heartbeat is forgotten: it goes
		// stale 90 s after its registration, a (registered at t0+2m) later.
		clk.Advance(time.Second) // t0+2m31s
		if r2.Live(c) {
			t.Error("c is live 91 s after its registration record")
		}
		if !r2.Live(after[0]) {
			t.Error("a is not live 31 s after its registration record")
		}
	})
}

func TestRestoreSkipsBadRecords(t *testing.T) {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	r := open(t, st, agent.Config{})
	mustRegister(t, r, profile("good", 0, "x"))
	bad := []*event.Event{
		{SpecVersion: "1.0", Source: "elsewhere", Type: agent.EventRegistered, Data: json.RawMessage(`{"id":"no caps","endpoint":"http://h"}`)},
		{SpecVersion: "1.0", Source: "elsewhere", Type: agent.EventRegistered, Data: json.RawMessage(`[1,2]`)},
		{SpecVersion: "1.0", Source: "elsewhere", Type: agent.EventUnregistered, Data: json.RawMessage(`{}`)},
		{SpecVersion: "1.0", Source: "elsewhere", Type: "choreo.agent.future"},
	}
	if _, err := st.Append(ctx, agent.StreamAgents, store.Any, bad); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	r2 := open(t, st, agent.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if got := ids(r2.List()); !slices.Equal(got, []string{"good"}) {
		t.Fatalf("agents %v, want [good]", got)
	}
	if n := strings.Count(logs.String(), "skipping agent registry record"); n != 3 {
		t.Fatalf("%d warnings of skipped records, want 3:\n%s", n, logs.String())
	}
}

func TestRegisterReplacesIndex(t *testing.T) {
	r := open(t, mem.New(store.Options{}), agent.Config{})
	mustRegister(t, r, profile("a", 0, "old", "both"))
	mustRegister(t, r, profile("a", 0, "new", "both"))
	for caps, want := range map[string][]string{"old": nil, "new": {"a"}, "both": {"a"}} {
		if got := ids(r.Discover([]string{caps})); !slices.Equal(got, want) {
			t.Errorf("Discover(%s) = %v, want %v", caps, got, want)
		}
	}
	if n := r.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
}

func TestMaxAgents(t *testing.T) {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	r := open(t, st, agent.Config{MaxAgents: 2})
	mustRegister(t, r, profile("a", 0, "x"))
	mustRegister(t, r, profile("b", 0, "x"))
	_, err := r.Register(ctx, profile("c", 0, "x"))
	if !errors.Is(err, agent.ErrTooMany) || agent.Code(err) != agent.CodeTooMany || errors.Is(err, agent.ErrInvalid) {
		t.Fatalf("third Register with MaxAgents 2 = %v (code %q), want ErrTooMany", err, agent.Code(err))
	}
	// Replacing a registration is no new agent; a removal makes room.
	mustRegister(t, r, profile("b", 0.5, "y"))
	if err := r.Unregister(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, profile("c", 0, "x"))
	// A lower limit at Open still restores every agent.
	if n := open(t, st, agent.Config{MaxAgents: 1}).Len(); n != 2 {
		t.Fatalf("restored %d agents, want 2", n)
	}
}

func TestSnapshots(t *testing.T) {
	r := open(t, mem.New(store.Options{}), agent.Config{})
	in := profile("a", 0, "x", "y")
	in.Metadata = map[string]json.RawMessage{"k": json.RawMessage(`1`)}
	got := mustRegister(t, r, in)

	// Neither the caller's profile nor any returned one aliases the registry.
	in.Capabilities[0] = "changed"
	in.Metadata["k"][0] = '2'
	got.Capabilities[1] = "changed"
	g, _ := r.Get("a")
	g.Capabilities[0] = "changed"
	g.Metadata["k"] = json.RawMessage(`3`)
	l := r.List()
	l[0].Capabilities[0] = "changed"

	cur, _ := r.Get("a")
	if !slices.Equal(cur.Capabilities, []string{"x", "y"}) || string(cur.Metadata["k"]) != "1" {
		t.Fatalf("registry changed through a returned profile: %+v", cur)
	}

	// A Discover result keeps its values when the registration is replaced.
	d := r.Discover([]string{"x"})
	mustRegister(t, r, profile("a", 0, "x", "z"))
	if !slices.Equal(d[0].Capabilities, []string{"x", "y"}) {
		t.Fatalf("earlier Discover result changed to %v", d[0].Capabilities)
	}
}

func TestRegisterFailsWithLog(t *testing.T) {
	ctx := context.Background()
	st := mem.New(store.Options{})
	r := open(t, st, agent.Config{})
	mustRegister(t, r, profile("a", 0, "x"))
	st.Close()

	_, err := r.Register(ctx, profile("b", 0, "x"))
	if !errors.Is(err, store.ErrClosed) || agent.Code(err) != store.CodeClosed {
		t.Fatalf("Register on a closed log = %v (code %q), want store.ErrClosed", err, agent.Code(err))
	}
	if err := r.Unregister(ctx, "a"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Unregister on a closed log = %v, want store.ErrClosed", err)
	}
	if got := ids(r.List()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("registry changed although the log refused: %v", got)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Heartbeat(cctx, "a", agent.Heartbeat{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Heartbeat with a cancelled context = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := agent.Open(ctx, nil, agent.Config{}); !errors.Is(err, agent.ErrInvalidConfig) {
		t.Errorf("Open(nil store) = %v, want ErrInvalidConfig", err)
	}
	st := mem.New(store.Options{})
	if _, err := agent.Open(ctx, st, agent.Config{MaxLoad: 2}); !errors.Is(err, agent.ErrInvalidConfig) {
		t.Errorf("Open(MaxLoad 2) = %v, want ErrInvalidConfig", err)
	}
	st.Close()
	if _, err := agent.Open(ctx, st, agent.Config{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Open(closed store) = %v, want store.ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  agent.Config
		ok   bool
	}{
		{"zero", agent.Config{}, true},
		{"all set", agent.Config{LiveWindow: time.Second, MaxLoad: 1, CardInterval: time.Second, CardTimeout: time.Second}, true},
		{"negative LiveWindow", agent.Config{LiveWindow: -1}, false},
		{"negative CardInterval", agent.Config{CardInterval: -1}, false},
		{"negative CardTimeout", agent.Config{CardTimeout: -1}, false},
		{"negative MaxAgents", agent.Config{MaxAgents: -1}, false},
		{"negative MaxLoad", agent.Config{MaxLoad: -0.1}, false},
		{"MaxLoad above 1", agent.Config{MaxLoad: 1.01}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, agent.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestChangedWakes(t *testing.T) {
	ctx := context.Background()
	r := open(t, mem.New(store.Options{}), agent.Config{})
	steps := []struct {
		name string
		do   func() error
	}{
		{"register", func() error { _, err := r.Register(ctx, profile("a", 0, "x")); return err }},
		{"heartbeat", func() error { _, err := r.Heartbeat(ctx, "a", agent.Heartbeat{Load: ptr(0.1)}); return err }},
		{"unregister", func() error { return r.Unregister(ctx, "a") }},
	}
	for _, s := range steps {
		ch := r.Changed()
		select {
		case <-ch:
			t.Fatalf("before %s: Changed already closed", s.name)
		default:
		}
		woke := make(chan struct{})
		go func() { <-ch; close(woke) }()
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, woke, "Changed after "+s.name)
	}
	// A refused call changes nothing and wakes no one.
	ch := r.Changed()
	if _, err := r.Heartbeat(ctx, "a", agent.Heartbeat{}); err == nil {
		t.Fatal("heartbeat of an unregistered agent succeeded")
	}
	select {
	case <-ch:
		t.Fatal("Changed closed by a refused heartbeat")
	default:
	}
}

// TestChangedForConcernsTheCapability: ChangedFor(c) is closed by the
// changes to agents that have c, or had it, and by no other.
func TestChangedForConcernsTheCapability(t *testing.T) {
	ctx := context.Background()
	r := open(t, mem.New(store.Options{}), agent.Config{})
	mustRegister(t, r, profile("y", 0, "y"))
	steps := []struct {
		name  string
		wakes bool
		do    func() error
	}{
		{"another's registration", false, func() error { _, err := r.Register(ctx, profile("z", 0, "y")); return err }},
		{"another's heartbeat", false, func() error { _, err := r.Heartbeat(ctx, "y", agent.Heartbeat{}); return err }},
		{"registration", true, func() error { _, err := r.Register(ctx, profile("a", 0, "x", "y")); return err }},
		{"heartbeat", true, func() error { _, err := r.Heartbeat(ctx, "a", agent.Heartbeat{Load: ptr(0.1)}); return err }},
		{"losing it", true, func() error { _, err := r.Register(ctx, profile("a", 0, "y")); return err }},
		{"heartbeat without it", false, func() error { _, err := r.Heartbeat(ctx, "a", agent.Heartbeat{}); return err }},
		{"gaining it", true, func() error { _, err := r.Register(ctx, profile("a", 0, "x")); return err }},
		{"unregistration", true, func() error { return r.Unregister(ctx, "a") }},
		{"another's unregistration", false, func() error { return r.Unregister(ctx, "y") }},
	}
	for _, s := range steps {
		ch := r.ChangedFor("x")
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		select {
		case <-ch:
			if !s.wakes {
				t.Fatalf("ChangedFor(x) closed by %s", s.name)
			}
		default:
			if s.wakes {
				t.Fatalf("ChangedFor(x) still open after %s", s.name)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	r := open(t, st, agent.Config{})
	const workers, n = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				id := fmt.Sprintf("w%d-%d", w, i%5)
				if _, err := r.Register(ctx, profile(id, float64(i%10)/10, "x", fmt.Sprintf("c%d", i%3))); err != nil {
					t.Error(err)
					return
				}
				if _, err := r.Heartbeat(ctx, id, agent.Heartbeat{Load: ptr(0.3)}); err != nil {
					t.Error(err)
					return
				}
				for _, p := range r.Discover([]string{"x"}) {
					if p.Load > agent.DefaultMaxLoad || !p.HasAll([]string{"x"}) {
						t.Errorf("Discover offered %+v", p)
					}
				}
				r.Pick([]string{"x", "c1"})
				if i%7 == 0 {
					if err := r.Unregister(ctx, id); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()

	// The log replays to the same agents with the same capabilities.
	r2 := open(t, st, agent.Config{})
	a, b := r.List(), r2.List()
	if !slices.Equal(ids(a), ids(b)) {
		t.Fatalf("replayed agents %v, want %v", ids(b), ids(a))
	}
	for i := range a {
		if !slices.Equal(a[i].Capabilities, b[i].Capabilities) {
			t.Errorf("%s: replayed capabilities %v, want %v", a[i].ID, b[i].Capabilities, a[i].Capabilities)
		}
	}
}
