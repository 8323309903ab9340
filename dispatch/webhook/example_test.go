package webhook_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// An agent written in Go serves Handler; the dispatcher reaches it with a
// Transport sharing its secret.
func Example() {
	secret := []byte("shared secret")

	// The agent: it charges the card and says so.
	agentSrv := httptest.NewServer(webhook.Handler(webhook.HandlerConfig{Secret: secret, Dedup: true},
		func(ctx context.Context, m *dispatch.Message) ([]*event.Event, error) {
			fmt.Printf("agent: %s for %s (attempt %d)\n", m.Action, m.CorrelationID, m.Attempt)
			return []*event.Event{{Type: "payment_processed", Data: []byte(`{"status":"charged"}`)}}, nil
		}))
	defer agentSrv.Close()

	// The dispatcher's side.
	tr, err := webhook.New(webhook.Config{Secret: secret})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer tr.Close()
	a := &engine.Action{ID: "0194c3a0-0000-8000-8000-000000000001", Action: "process_payment", CorrelationID: "order-1"}
	d := &dispatch.Delivery{
		Action:  a,
		Agent:   agent.Profile{ID: "payments", Endpoint: agentSrv.URL},
		Attempt: 1,
		Message: dispatch.Message{MessageID: a.ID, Action: a.Action, CorrelationID: a.CorrelationID, Attempt: 1},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 { // the second delivery is answered from the agent's memory
		res, err := tr.Deliver(ctx, d)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, e := range res.Events {
			fmt.Printf("dispatcher: got %s %s\n", e.Type, e.Data)
		}
	}
	// Output:
	// agent: process_payment for order-1 (attempt 1)
	// dispatcher: got payment_processed {"status":"charged"}
	// dispatcher: got payment_processed {"status":"charged"}
}
