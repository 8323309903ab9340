package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// TestRecoverDeliversWhatIsLeftInOrder starts a dispatcher on an outbox of
// 3,000 actions, 2,000 of them recorded delivered in between: it delivers
// the other 1,000, each once, in log order.
func TestRecoverDeliversWhatIsLeftInOrder(t *testing.T) {
	cfg := fast()
	cfg.MaxInFlight = 1 // one worker: deliveries in the order handed out
	r := newRig(t, nil, cfg)
	rc := &recorder{}
	r.agent("a", "cap", 0, rc.handle)
	ctx := context.Background()
	var want []string
	const n, per = 3000, 300
	for start := 0; start < n; start += per {
		var evs []*event.Event
		var done dispatch.Deliveries
		for i := start; i < start+per; i++ {
			a := engine.Action{ID: fmt.Sprintf("act-%04d", i), Action: "do", TargetCapability: "cap", Choreography: "shop",
				RuleID: "r", RuleKind: engine.KindPattern, CorrelationID: "order-1", Time: t0}
			evs = append(evs, live.ActionEvent(&a))
			if i%3 == 2 {
				want = append(want, a.ID)
			} else {
				done.Deliveries = append(done.Deliveries, dispatch.Delivered{ActionID: a.ID, Action: "do", Choreography: "shop", RuleID: "r", Agent: "a", Attempts: 1})
			}
		}
		data, err := json.Marshal(done)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, &event.Event{SpecVersion: event.SpecVersion, ID: fmt.Sprintf("done-%d", start), Source: dispatch.Source,
			Type: dispatch.DeliveredType, Time: t0, DataContentType: "application/json", Data: data})
		if _, err := r.st.Append(ctx, live.ActionsStream, store.Any, evs); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	waitFor(t, "the open actions delivered", func() bool { return len(rc.messages()) >= len(want) })
	waitFor(t, "their delivery records", func() bool { return len(deliveries(t, r.st)) == n })
	r.stop()
	var got []string
	for _, m := range rc.messages() {
		got = append(got, m.MessageID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %d actions, want %d in log order; first got %v, want %v", len(got), len(want), got[:min(5, len(got))], want[:5])
	}
	if m := r.d.Metrics(); m.Delivered != n {
		t.Fatalf("Metrics().Delivered = %d, want %d", m.Delivered, n)
	}
}
