package dispatch_test

import (
	"context"
	"fmt"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// Example embeds choreo in a Go program: the log, the engine deciding on
// it, the registry and the dispatcher, and an agent that is a Go function.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := mem.New(store.Options{}) // or pebble.Open(dir, nil) for a durable log
	defer st.Close()

	ch, err := choreography.Parse("shop.yaml", []byte(`
name: shop
patterns:
  - event_type: order_received
    action: check_inventory
    target_capability: inventory_management
`))
	if err != nil {
		panic(err)
	}
	eng, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
	if err != nil {
		panic(err)
	}
	runner, err := live.New(st, eng, live.Config{})
	if err != nil {
		panic(err)
	}
	reg, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		panic(err)
	}

	// The agent: reserves stock and says so with an event.
	done := make(chan string, 1)
	in := dispatch.NewInProcess()
	in.Handle("stock", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		done <- fmt.Sprintf("%s for %s, triggered by %s", d.Message.Action, d.Message.CorrelationID, d.Trigger.ID)
		return dispatch.Result{Events: []*event.Event{{Type: "inventory_confirmed", Data: []byte(`{"items_available":true}`)}}}, nil
	})
	if _, err := reg.Register(ctx, agent.Profile{ID: "stock", Capabilities: []string{"inventory_management"},
		Endpoint: "stock", Protocol: agent.ProtocolInProcess}); err != nil {
		panic(err)
	}
	d, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolInProcess: in}, dispatch.Config{})
	if err != nil {
		panic(err)
	}
	go runner.Run(ctx)
	go d.Run(ctx)
	defer d.Close()
	defer runner.Close()

	order := &event.Event{SpecVersion: "1.0", ID: "order-1-received", Source: "shop", Type: "order_received", CorrelationID: "order-1"}
	if _, err := st.Append(ctx, "order-1", store.Any, []*event.Event{order}); err != nil {
		panic(err)
	}
	fmt.Println(<-done)

	// The agent's event is in the order's stream, caused by the action.
	for {
		recs, _ := st.ReadStream(ctx, "order-1", 1, 1)
		if len(recs) == 1 {
			fmt.Println(recs[0].Event.Type, "hops", recs[0].Event.Hops)
			return
		}
		time.Sleep(time.Millisecond)
	}
	// Output:
	// check_inventory for order-1, triggered by order-1-received
	// inventory_confirmed hops 1
}
