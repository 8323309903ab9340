package engine_test

import (
	"fmt"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

func Example() {
	ch, err := choreography.Parse("shop", []byte(`
name: shop
patterns:
  - event_type: order_received
    condition: data.order_value > 1000
    action: request_manual_review
    target_capability: fraud_detection
    priority: 9
  - event_type: order_received
    action: check_inventory
    target_capability: inventory_management
    priority: 8
complex_patterns:
  - type: absence
    event_type: order_received
    expected_event: payment_successful
    timeout: 15m
    action: cancel_unpaid_order
    target_capability: order_management
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	order := &event.Event{
		SpecVersion: "1.0", ID: "evt-1", Source: "agents/storefront", Type: "order_received",
		Time: start, CorrelationID: "order-42", Data: []byte(`{"order_value": 1500}`),
	}
	for _, a := range e.Process(order) {
		fmt.Println(a.Action, a.TargetCapability, a.Priority, a.CorrelationID, a.TriggerEventIDs)
	}
	// No payment within 15 minutes: advancing the clock fires the absence.
	for _, a := range e.Advance(start.Add(time.Hour)) {
		fmt.Println(a.Action, a.CorrelationID, a.Time.Format(time.TimeOnly))
	}
	// Output:
	// request_manual_review fraud_detection 9 order-42 [evt-1]
	// check_inventory inventory_management 8 order-42 [evt-1]
	// cancel_unpaid_order order-42 12:15:00
}
