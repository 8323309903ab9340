package deploy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func Example() {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	m, err := deploy.Open(ctx, st, deploy.Config{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() { stop(); <-done }()

	pay := func(id string) {
		e := &event.Event{SpecVersion: event.SpecVersion, ID: id, Source: "agents/shop",
			Type: "payment_successful", Time: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), CorrelationID: "order-1"}
		if _, err := st.Append(ctx, "order-1", store.Any, []*event.Event{e}); err != nil {
			fmt.Println(err)
		}
	}
	source := []byte(`name: shop
patterns:
  - id: fulfil
    event_type: payment_successful
    action: initiate_fulfillment
    target_capability: order_fulfillment
`)

	pay("before") // history: the deployment does not act on it
	d, changed, err := m.Deploy(ctx, "shop", source)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s version %d, %d rule, new: %t\n", d.Name, d.Version, d.Rules, changed)
	_, changed, _ = m.Deploy(ctx, "shop", source)
	fmt.Println("deployed again, new:", changed)

	pay("after")
	out := live.NewOutbox(st, 0)
	defer out.Close()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entry, err := out.Next(wait)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(entry.Action.Action, "for", entry.Action.TriggerEventIDs)
	// Output:
	// shop version 1, 1 rule, new: true
	// deployed again, new: false
	// initiate_fulfillment for [after]
}
