package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/sony/gobreaker/v2"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// TestBreakerIgnoresAbandonedAttempts: an attempt abandoned as Run stops
// counts neither as a success nor as a failure of the agent, so it cannot
// close a half-open breaker nor open a closed one.
func TestBreakerIgnoresAbandonedAttempts(t *testing.T) {
	d := &Dispatcher{cfg: Config{BreakerFailures: 1, BreakerHalfOpen: 1, Logger: slog.New(slog.DiscardHandler)}.withDefaults()}
	d.log = d.cfg.Logger
	b := d.agent("a").breaker
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	done(errAbandoned)
	if c := b.Counts(); c.TotalSuccesses != 0 || c.TotalFailures != 0 || b.State() != gobreaker.StateClosed {
		t.Fatalf("after an abandoned attempt: counts %+v, state %v", c, b.State())
	}
	done, _ = b.Allow()
	done(errors.New("down")) // one failure opens it
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("state %v after a failure, want open", b.State())
	}
}

// TestSweepForgetsAgentsGone: the state of an agent that left the
// registry, with no attempt in progress, is forgotten; that of an agent
// still registered, or with an attempt in progress, is kept.
func TestSweepForgetsAgentsGone(t *testing.T) {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	reg, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(st, reg, nil, Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"stays", "gone", "busy"} {
		if _, err := reg.Register(ctx, agent.Profile{ID: id, Capabilities: []string{"c"}, Endpoint: id, Protocol: agent.ProtocolInProcess}); err != nil {
			t.Fatal(err)
		}
		d.agent(id)
	}
	d.agent("busy").slots <- struct{}{} // an attempt in progress
	for _, id := range []string{"gone", "busy"} {
		if err := reg.Unregister(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	d.sweepAgents()
	for id, kept := range map[string]bool{"stays": true, "gone": false, "busy": true} {
		if _, ok := d.agents.Load(id); ok != kept {
			t.Errorf("agent %s: kept = %v, want %v", id, ok, kept)
		}
	}
}
