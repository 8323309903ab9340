package loadgen

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack is a choreo server over HTTP on 127.0.0.1 with an in-memory log,
// the engine running the bench's choreography, the agent registry and the
// dispatcher with the webhook transport.
type stack struct {
	url   string
	store store.Store
	reg   *agent.Registry
}

// newStack starts a stack whose API takes at most maxBatch events per
// request (zero: the default). Everything stops at the end of the test.
func newStack(t *testing.T, maxBatch int) *stack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mem.New(store.Options{})
	ch, err := choreography.Parse("bench.yaml", []byte(Choreography("", "")))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runner, err := live.New(st, eng, live.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := agent.Open(ctx, st, agent.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := webhook.New(webhook.Config{})
	if err != nil {
		t.Fatal(err)
	}
	disp, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolWebhook: wh}, dispatch.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api, err := server.New(server.Config{Store: st, Logger: log, MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(server.Services{Agents: reg, Dispatcher: disp})
	ts := httptest.NewServer(api.Handler())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{runner.Run, disp.Run, reg.Run} {
		wg.Go(func() {
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stack: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		api.Close()
		ts.Close()
		cancel()
		wg.Wait()
		wh.Close()
		st.Close()
	})
	return &stack{url: ts.URL, store: st, reg: reg}
}

// count returns how many events of type typ the log holds.
func (s *stack) count(t *testing.T, typ string) int {
	t.Helper()
	n := 0
	for from := uint64(0); ; {
		recs, err := s.store.ReadAll(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return n
		}
		for _, r := range recs {
			if r.Event.Type == typ {
				n++
			}
		}
		from = recs[len(recs)-1].GlobalPosition + 1
	}
}

// checkLatency fails t unless l has count samples, all positive and in
// order.
func checkLatency(t *testing.T, name string, l Latency, count uint64) {
	t.Helper()
	if l.Count != count {
		t.Errorf("%s: %d samples, want %d", name, l.Count, count)
	}
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("%s: want 0 < min ≤ p50 ≤ p95 ≤ p99 ≤ p99.9 ≤ max, got %+v", name, l)
	}
	if l.Mean < l.Min || l.Mean > l.Max {
		t.Errorf("%s: mean %v outside [min, max]", name, l.Mean)
	}
}
