package agent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func TestDiscoverFilters(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	r := open(t, mem.New(store.Options{}), agent.Config{Now: clk.Now})

	// Registered at t0, so stale once the clock passes t0+90s unless they
	// send heartbeats.
	stale := profile("stale", 0.0, "pay", "ship")
	mustRegister(t, r, stale)
	clk.Advance(60 * time.Second)
	for _, p := range []agent.Profile{
		profile("idle", 0.0, "pay", "ship"),
		profile("half", 0.5, "pay", "ship", "refund"),
		profile("limit", 0.8, "pay", "ship"),       // at MaxLoad: offered
		profile("overloaded", 0.81, "pay", "ship"), // over MaxLoad
		profile("pay-only", 0.1, "pay"),
		func() agent.Profile { p := profile("busy", 0.1, "pay", "ship"); p.Status = agent.StatusBusy; return p }(),
		func() agent.Profile {
			p := profile("maint", 0.1, "pay", "ship")
			p.Status = agent.StatusMaintenance
			return p
		}(),
		func() agent.Profile {
			p := profile("offline", 0.1, "pay", "ship")
			p.Status = agent.StatusOffline
			return p
		}(),
	} {
		mustRegister(t, r, p)
	}
	clk.Advance(31 * time.Second) // t0+91s: "stale" is 91 s old, the rest 31 s

	for _, tc := range []struct {
		name string
		caps []string
		want []string
	}{
		{"all caps, least loaded first", []string{"pay", "ship"}, []string{"idle", "half", "limit"}},
		{"order of caps does not matter", []string{"ship", "pay"}, []string{"idle", "half", "limit"}},
		{"one cap", []string{"pay"}, []string{"idle", "pay-only", "half", "limit"}},
		{"rarest cap", []string{"refund", "pay"}, []string{"half"}},
		{"unknown cap", []string{"pay", "fly"}, nil},
		{"no caps means any", nil, []string{"idle", "pay-only", "half", "limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(r.Discover(tc.caps))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Discover(%v) = %v, want %v", tc.caps, got, tc.want)
			}
			p, ok := r.Pick(tc.caps)
			if ok != (len(tc.want) > 0) || ok && p.ID != tc.want[0] {
				t.Fatalf("Pick(%v) = %s, %v; want %v", tc.caps, p.ID, ok, tc.want)
			}
		})
	}

	// A heartbeat makes "stale" live again, with its new load; overloaded
	// agents come back when their load drops; a status change applies.
	if _, err := r.Heartbeat(ctx, "stale", agent.Heartbeat{Load: ptr(0.3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Heartbeat(ctx, "overloaded", agent.Heartbeat{Load: ptr(0.2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Heartbeat(ctx, "busy", agent.Heartbeat{Status: agent.StatusActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Heartbeat(ctx, "idle", agent.Heartbeat{Status: agent.StatusOffline}); err != nil {
		t.Fatal(err)
	}
	want := []string{"busy", "overloaded", "stale", "half", "limit"}
	if got := ids(r.Discover([]string{"pay", "ship"})); !slices.Equal(got, want) {
		t.Fatalf("after heartbeats: Discover = %v, want %v", got, want)
	}

	// With the clock far ahead, nobody is live.
	clk.Advance(time.Hour)
	if got := r.Discover([]string{"pay"}); got != nil {
		t.Fatalf("an hour later: Discover = %v, want none", ids(got))
	}
	if _, ok := r.Pick([]string{"pay"}); ok {
		t.Fatal("an hour later: Pick found an agent")
	}
}

func TestDiscoverConfig(t *testing.T) {
	clk := newClock()
	r := open(t, mem.New(store.Options{}), agent.Config{Now: clk.Now, LiveWindow: 10 * time.Second, MaxLoad: 0.5})
	mustRegister(t, r, profile("a", 0.5, "x"))
	mustRegister(t, r, profile("b", 0.6, "x"))
	if got := ids(r.Discover([]string{"x"})); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Discover with MaxLoad 0.5 = %v, want [a]", got)
	}
	clk.Advance(11 * time.Second)
	if got := r.Discover([]string{"x"}); got != nil {
		t.Fatalf("Discover 11 s after registration with LiveWindow 10 s = %v, want none", ids(got))
	}
}

func TestDiscoverRoundRobin(t *testing.T) {
	r := open(t, mem.New(store.Options{}), agent.Config{})
	for _, p := range []agent.Profile{
		profile("c", 0.2, "x"),
		profile("a", 0.2, "x"),
		profile("b", 0.2, "x"),
		profile("z", 0.6, "x"),
	} {
		mustRegister(t, r, p)
	}
	var firsts []string
	for range 6 {
		got := ids(r.Discover([]string{"x"}))
		if len(got) != 4 || got[3] != "z" || !slices.Equal(sorted(got[:3]), []string{"a", "b", "c"}) {
			t.Fatalf("Discover = %v, want a, b, c in some order, then z", got)
		}
		firsts = append(firsts, got[0])
	}
	if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(firsts, want) {
		t.Fatalf("first places over 6 calls = %v, want %v", firsts, want)
	}

	// Pick shares the rotation, and a less loaded agent always wins.
	var picks []string
	for range 3 {
		p, _ := r.Pick([]string{"x"})
		picks = append(picks, p.ID)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(picks, want) {
		t.Fatalf("Pick over 3 calls = %v, want %v", picks, want)
	}
	mustRegister(t, r, profile("low", 0.1, "x"))
	for range 3 {
		if p, _ := r.Pick([]string{"x"}); p.ID != "low" {
			t.Fatalf("Pick = %s, want the least loaded", p.ID)
		}
	}
}

func TestAppendDiscoverKeepsDst(t *testing.T) {
	r := open(t, mem.New(store.Options{}), agent.Config{})
	mustRegister(t, r, profile("a", 0.1, "x"))
	dst := []agent.Profile{{ID: "prefix"}}
	got := r.AppendDiscover(dst, []string{"x"})
	if !slices.Equal(ids(got), []string{"prefix", "a"}) {
		t.Fatalf("AppendDiscover = %v", ids(got))
	}
	if got := r.AppendDiscover(dst[:1], []string{"none"}); len(got) != 1 {
		t.Fatalf("AppendDiscover with no match = %v, want dst unchanged", ids(got))
	}
}

func TestAppendDiscoverAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	r := open(t, mem.New(store.Options{}), agent.Config{})
	for _, id := range []string{"a", "b", "c", "d"} {
		mustRegister(t, r, profile(id, 0.1, "x", "y"))
	}
	caps := []string{"x", "y"}
	dst := make([]agent.Profile, 0, 8)
	r.AppendDiscover(dst, caps) // warm the scratch pool
	allocs := testing.AllocsPerRun(100, func() {
		dst = r.AppendDiscover(dst[:0], caps)
		r.Pick(caps)
	})
	if allocs > 0 {
		t.Fatalf("AppendDiscover and Pick allocate %v times per call, want 0", allocs)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
