package dispatch_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fast is a Config with short waits for tests.
func fast() dispatch.Config {
	return dispatch.Config{
		Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 2 * time.Second,
		AgentWait: 200 * time.Millisecond, AgentPoll: 10 * time.Millisecond,
		BreakerOpen: time.Hour, Logger: slog.New(slog.DiscardHandler),
	}
}

// rig is a store, a registry and an in-process transport, with a
// dispatcher running over them.
type rig struct {
	t   *testing.T
	st  store.Store
	reg *agent.Registry
	in  *dispatch.InProcess
	d   *dispatch.Dispatcher

	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, st store.Store, cfg dispatch.Config) *rig {
	t.Helper()
	if st == nil {
		st = mem.New(store.Options{})
		t.Cleanup(func() { st.Close() })
	}
	reg, err := agent.Open(context.Background(), st, agent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, st: st, reg: reg, in: dispatch.NewInProcess()}
	r.redispatch(reg, cfg)
	t.Cleanup(r.stop)
	return r
}

// redispatch replaces the rig's dispatcher, not running, with one over
// the same store and transport that finds agents in dir.
func (r *rig) redispatch(dir dispatch.Directory, cfg dispatch.Config) {
	r.t.Helper()
	d, err := dispatch.New(r.st, dir, map[string]dispatch.Transport{agent.ProtocolInProcess: r.in}, cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.d = d
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.d.Run(ctx) }()
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil && err != context.Canceled {
		r.t.Errorf("Run: %v", err)
	}
	r.cancel = nil
}

// agent registers an in-process agent with capability capab served by h.
func (r *rig) agent(id, capab string, load float64, h dispatch.Handler) {
	r.t.Helper()
	r.in.Handle(id, h)
	if _, err := r.reg.Register(context.Background(), agent.Profile{ID: id, Capabilities: []string{capab},
		Endpoint: id, Protocol: agent.ProtocolInProcess, Load: load}); err != nil {
		r.t.Fatal(err)
	}
}

// action appends an action for capability capab to the outbox, after its
// trigger event.
func (r *rig) action(id, capab string, hops int) engine.Action {
	r.t.Helper()
	trig := &event.Event{SpecVersion: "1.0", ID: "trig-" + id, Source: "agents/test", Type: "order_received",
		Time: t0, CorrelationID: "order-" + id, Hops: hops, Data: json.RawMessage(`{"order_value":42}`)}
	ctx := context.Background()
	if _, err := r.st.Append(ctx, trig.CorrelationID, store.Any, []*event.Event{trig}); err != nil {
		r.t.Fatal(err)
	}
	a := engine.Action{ID: id, Action: "do_" + capab, TargetCapability: capab, Priority: 8, Choreography: "shop",
		RuleID: "rule-" + capab, RuleKind: engine.KindPattern, CorrelationID: trig.CorrelationID,
		TriggerEventIDs: []string{trig.ID}, Time: t0, Hops: hops}
	if _, err := r.st.Append(ctx, live.ActionsStream, store.Any, []*event.Event{live.ActionEvent(&a)}); err != nil {
		r.t.Fatal(err)
	}
	return a
}

// records returns the events of stream with type typ.
func records(t *testing.T, st store.Store, stream, typ string) []*event.Event {
	t.Helper()
	var out []*event.Event
	for from := uint64(0); ; {
		recs, err := st.ReadStream(context.Background(), stream, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			if typ == "" || r.Event.Type == typ {
				out = append(out, r.Event)
			}
		}
		from = recs[len(recs)-1].StreamPosition + 1
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder is an in-process agent that records what it receives.
type recorder struct {
	mu   sync.Mutex
	got  []dispatch.Message
	fail func(n int) error // the error of the n-th delivery (1-based); nil = succeed
	res  func(d *dispatch.Delivery) []*event.Event
}

func (rc *recorder) handle(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
	rc.mu.Lock()
	rc.got = append(rc.got, d.Message)
	n := len(rc.got)
	rc.mu.Unlock()
	if rc.fail != nil {
		if err := rc.fail(n); err != nil {
			return dispatch.Result{}, err
		}
	}
	if rc.res != nil {
		return dispatch.Result{Events: rc.res(d)}, nil
	}
	return dispatch.Result{}, nil
}

func (rc *recorder) messages() []dispatch.Message {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]dispatch.Message(nil), rc.got...)
}

func decode[T any](t *testing.T, e *event.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("decoding %s: %v", e.Type, err)
	}
	return v
}

// deliveries returns every delivery recorded in the outbox stream.
func deliveries(t *testing.T, st store.Store) []dispatch.Delivered {
	t.Helper()
	var out []dispatch.Delivered
	for _, e := range records(t, st, live.ActionsStream, dispatch.DeliveredType) {
		out = append(out, decode[dispatch.Deliveries](t, e).Deliveries...)
	}
	return out
}

// deadLetters returns d's dead-letter queue.
func deadLetters(t *testing.T, d *dispatch.Dispatcher) []dispatch.DeadLetter {
	t.Helper()
	dls, err := d.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dls
}
