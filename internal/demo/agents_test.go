package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// startAgents starts the demo's agents, without a server, for plan.
func startAgents(t *testing.T, plan *Plan, secret []byte) map[string]*simAgent {
	t.Helper()
	w := &world{plan: plan, receipts: &receipts{}}
	var wg sync.WaitGroup
	byID := map[string]*simAgent{}
	for _, a := range newAgents(w) {
		if err := a.start(w, secret, &wg); err != nil {
			t.Fatal(err)
		}
		byID[a.id] = a
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, a := range byID {
			a.stop(ctx)
		}
		wg.Wait()
	})
	return byID
}

// deliveries numbers the actions of delivery, so that the agents'
// deduplication does not answer one test case with another's response.
var deliveries atomic.Int64

// delivery builds the delivery of action to p for the order corr, as the
// dispatcher would, triggered by an event of type trigType with data.
// Attempts after the first are of the previous action.
func delivery(p agent.Profile, action, corr string, attempt int, trigType string, data map[string]any) *dispatch.Delivery {
	n := deliveries.Load()
	if attempt <= 1 {
		n = deliveries.Add(1)
	}
	b, _ := json.Marshal(data)
	trig := &event.Event{SpecVersion: event.SpecVersion, ID: "trig-" + action, Source: "test", Type: trigType,
		Time: time.Now().UTC(), DataContentType: "application/json", Data: b, CorrelationID: corr}
	a := &engine.Action{ID: fmt.Sprintf("act-%d", n), Action: action, CorrelationID: corr, TriggerEventIDs: []string{trig.ID}, Time: trig.Time}
	return &dispatch.Delivery{
		Action: a, Trigger: trig, Agent: p, Attempt: attempt,
		Message: dispatch.Message{
			MessageID: a.ID, SenderID: "choreo", RecipientID: p.ID, Action: action,
			Payload:       dispatch.Payload{TriggerEvent: trig.AppendJSON(nil), Pattern: "test"},
			CorrelationID: corr, Timestamp: time.Now().UTC(), Attempt: attempt,
		},
	}
}

func eventData(t *testing.T, e *event.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("event %s: data %s: %v", e.Type, e.Data, err)
	}
	return m
}

// TestWebhookAgents delivers actions to the webhook agents with the real,
// signing webhook transport, and checks the events they answer with.
func TestWebhookAgents(t *testing.T) {
	plan := &Plan{byID: map[string]*Order{}, Orders: []Order{
		{ID: "o-plain", Kind: KindNormal, Lines: []Line{{SKU: "A", Quantity: 2, Price: 10}}, Value: 20, Customer: "ada"},
		{ID: "o-short", Kind: KindShortage, Lines: []Line{{SKU: "B", Quantity: 1, Price: 5}}, Value: 5, Shortage: 2},
		{ID: "o-retry", Kind: KindRetry, PaymentFailures: 2, Value: 30},
		{ID: "o-hiccup", Kind: KindHiccup, GatewayHiccup: true, Value: 40},
	}}
	for i := range plan.Orders {
		plan.byID[plan.Orders[i].ID] = &plan.Orders[i]
	}
	secret := []byte("demo-secret")
	agents := startAgents(t, plan, secret)
	tr, err := webhook.New(webhook.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name, agent, action, corr string
		attempt                   int
		trigType                  string
		trigData                  map[string]any
		wantType                  string
		want                      map[string]any
		wantErr                   string // "retryable" or "permanent"
	}{
		{name: "in stock", agent: "inventory", action: "check_inventory", corr: "o-plain", trigType: "order_received",
			wantType: "inventory_confirmed", want: map[string]any{"items_available": true, "items": 2.0}},
		{name: "shortage", agent: "inventory", action: "check_inventory", corr: "o-short", trigType: "order_received",
			wantType: "inventory_shortage", want: map[string]any{"shortage_quantity": 2.0, "sku": "B"}},
		{name: "unplanned order", agent: "inventory", action: "check_inventory", corr: "o-mine", trigType: "order_received",
			trigData: map[string]any{"items": 3}, wantType: "inventory_confirmed", want: map[string]any{"items": 3.0}},
		{name: "restock", agent: "suppliers", action: "notify_suppliers", corr: "o-short", trigType: "inventory_shortage",
			trigData: map[string]any{"shortage_quantity": 2}, wantType: "inventory_confirmed", want: map[string]any{"items_available": true, "restocked": true, "restocked_quantity": 2.0}},
		{name: "paid", agent: "payments", action: "process_payment", corr: "o-plain", trigType: "inventory_confirmed",
			wantType: "payment_successful", want: map[string]any{"payment_status": "confirmed", "amount": 20.0}},
		{name: "declined", agent: "payments", action: "process_payment", corr: "o-retry", trigType: "inventory_confirmed",
			wantType: "payment_failed", want: map[string]any{"retry_count": 0.0}},
		{name: "declined again", agent: "payments", action: "retry_payment", corr: "o-retry", trigType: "payment_failed",
			trigData: map[string]any{"retry_count": 0}, wantType: "payment_failed", want: map[string]any{"retry_count": 1.0}},
		{name: "accepted at last", agent: "payments", action: "retry_payment", corr: "o-retry", trigType: "payment_failed",
			trigData: map[string]any{"retry_count": 1}, wantType: "payment_successful"},
		{name: "gateway hiccup", agent: "payments", action: "process_payment", corr: "o-hiccup", attempt: 1, trigType: "inventory_confirmed",
			wantErr: "retryable"},
		{name: "after the hiccup", agent: "payments", action: "process_payment", corr: "o-hiccup", attempt: 2, trigType: "inventory_confirmed",
			wantType: "payment_successful"},
		{name: "packed", agent: "fulfillment", action: "initiate_fulfillment", corr: "o-plain", trigType: "payment_successful",
			wantType: "fulfillment_complete", want: map[string]any{"items_packed": true}},
		{name: "shipped", agent: "shipping", action: "schedule_shipping", corr: "o-plain", trigType: "fulfillment_complete",
			wantType: "shipping_complete", want: map[string]any{"tracking_number": trackingNumber("o-plain")}},
		{name: "express", agent: "shipping", action: "expedite_shipping", corr: "o-plain", trigType: "fulfillment_complete",
			wantType: "shipping_expedited", want: map[string]any{"service": "express"}},
		{name: "told", agent: "notifications", action: "send_tracking_notification", corr: "o-plain", trigType: "shipping_complete",
			trigData: map[string]any{"tracking_number": "PX1"}, wantType: "customer_notified", want: map[string]any{"tracking_number": "PX1"}},
		{name: "closed", agent: "orders", action: "close_order", corr: "o-plain", trigType: "delivery_confirmed", wantType: "order_closed"},
		{name: "cancelled", agent: "orders", action: "cancel_order", corr: "o-retry", trigType: "payment_failed", wantType: "order_cancelled"},
		{name: "returned", agent: "orders", action: "process_return", corr: "o-plain", trigType: "order_status_changed", wantType: "return_processed"},
		{name: "unknown action", agent: "orders", action: "paint_fence", corr: "o-plain", trigType: "x", wantErr: "permanent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := agents[tc.agent]
			attempt := max(tc.attempt, 1)
			d := delivery(a.profile(), tc.action, tc.corr, attempt, tc.trigType, tc.trigData)
			res, err := tr.Deliver(ctx, d)
			switch tc.wantErr {
			case "retryable":
				if err == nil || dispatch.IsPermanent(err) {
					t.Fatalf("Deliver: %v; want a retryable error", err)
				}
				return
			case "permanent":
				if !dispatch.IsPermanent(err) {
					t.Fatalf("Deliver: %v; want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if len(res.Events) != 1 || res.Events[0].Type != tc.wantType {
				t.Fatalf("events %v, want one %s", res.Events, tc.wantType)
			}
			got := eventData(t, res.Events[0])
			if got["order_id"] != tc.corr {
				t.Errorf("order_id %v, want %s", got["order_id"], tc.corr)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v (data %v)", k, got[k], v, got)
				}
			}
		})
	}

	// A delivery not signed with the agents' key is refused.
	other, err := webhook.New(webhook.Config{Secret: []byte("wrong")})
	if err != nil {
		t.Fatal(err)
	}
	var se *webhook.StatusError
	if _, err := other.Deliver(ctx, delivery(agents["inventory"].profile(), "check_inventory", "o-plain", 1, "order_received", nil)); !errors.As(err, &se) || se.StatusCode != 401 {
		t.Errorf("badly signed delivery: %v; want a 401", err)
	}
	if n := agents["payments"].received.Load(); n != 6 {
		t.Errorf("payments received %d requests, want 6", n)
	}
}

// TestA2AAgents registers nothing: it resolves the A2A agents' cards and
// delivers actions with the real A2A transport, which turns their tasks
// into <action>.completed and <action>.failed events.
func TestA2AAgents(t *testing.T) {
	plan := NewPlan(1, 16)
	var high *Order
	for i := range plan.Orders {
		if plan.Orders[i].Kind == KindHighValue {
			high = &plan.Orders[i]
			break
		}
	}
	agents := startAgents(t, plan, nil)
	tr, err := a2a.New(a2a.Config{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		agent, action, corr string
		wantType            string
		want                map[string]any // of the first artifact
	}{
		{"fraud-review", "request_manual_review", high.ID, "request_manual_review.completed", map[string]any{"decision": "approved"}},
		{"fraud-review", "flag_payment_fraud", high.ID, "flag_payment_fraud.completed", map[string]any{"flagged": true}},
		{"reviews", "request_product_review", high.ID, "request_product_review.completed", map[string]any{"rating": float64(high.Rating)}},
		{"reviews", "paint_fence", high.ID, "paint_fence.failed", nil},
	} {
		t.Run(tc.action, func(t *testing.T) {
			a := agents[tc.agent]
			p, err := tr.ResolveCard(ctx, a.base)
			if err != nil {
				t.Fatal(err)
			}
			if p.Protocol != agent.ProtocolA2A || len(p.Capabilities) != len(a.caps) || p.Capabilities[0] != a.caps[0] {
				t.Fatalf("profile from the card: %+v; want A2A with capabilities %v", p, a.caps)
			}
			res, err := tr.Deliver(ctx, delivery(p, tc.action, tc.corr, 1, "order_received", nil))
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if len(res.Events) != 1 || res.Events[0].Type != tc.wantType {
				t.Fatalf("events %v, want one %s", res.Events, tc.wantType)
			}
			if tc.want == nil {
				var f a2a.Failed
				if err := json.Unmarshal(res.Events[0].Data, &f); err != nil || f.State != "rejected" {
					t.Errorf("failed task: %+v, %v; want state rejected", f, err)
				}
				return
			}
			var c a2a.Completed
			if err := json.Unmarshal(res.Events[0].Data, &c); err != nil || len(c.Artifacts) != 1 || len(c.Text) != 1 {
				t.Fatalf("completed task: %s, %v; want one data artifact and one text", res.Events[0].Data, err)
			}
			for k, v := range tc.want {
				if c.Artifacts[0][k] != v {
					t.Errorf("%s = %#v, want %#v", k, c.Artifacts[0][k], v)
				}
			}
		})
	}
}
