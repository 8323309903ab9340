package live_test

import (
	"context"
	"fmt"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func Example() {
	ch, err := choreography.Parse("shop", []byte(`
name: shop
patterns:
  - event_type: order_received
    action: check_inventory
    target_capability: inventory_management
  - event_type: payment_successful
    action: initiate_fulfillment
    target_capability: order_fulfillment
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	eng, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := mem.New(store.Options{})
	defer st.Close()
	r, err := live.New(st, eng, live.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { r.Close(); <-done }()

	// Agents publish; the runner logs its decisions in $actions.
	for _, e := range []*event.Event{
		{SpecVersion: "1.0", ID: "evt-1", Source: "agents/storefront", Type: "order_received", CorrelationID: "order-42"},
		{SpecVersion: "1.0", ID: "evt-2", Source: "agents/payments", Type: "payment_successful", CorrelationID: "order-42"},
	} {
		if _, err := st.Append(ctx, e.CorrelationID, store.Any, []*event.Event{e}); err != nil {
			fmt.Println(err)
			return
		}
	}

	// A dispatcher takes them from the log, in order.
	o := live.NewOutbox(st, 0)
	defer o.Close()
	for range 2 {
		e, err := o.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Position, e.Action.Action, e.Action.TargetCapability, e.Action.CorrelationID, e.Action.TriggerEventIDs)
	}
	// Output:
	// 0 check_inventory inventory_management order-42 [evt-1]
	// 1 initiate_fulfillment order_fulfillment order-42 [evt-2]
}
