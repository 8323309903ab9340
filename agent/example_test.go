package agent_test

import (
	"context"
	"fmt"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func ExampleRegistry_Discover() {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	r, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		panic(err)
	}
	for _, p := range []agent.Profile{
		{ID: "inventory-1", Capabilities: []string{"inventory_management"}, Endpoint: "http://127.0.0.1:8081/actions", Load: 0.6},
		{ID: "inventory-2", Capabilities: []string{"inventory_management"}, Endpoint: "http://127.0.0.1:8082/actions", Load: 0.2},
		{ID: "inventory-3", Capabilities: []string{"inventory_management"}, Endpoint: "http://127.0.0.1:8083/actions", Load: 0.9},
		{ID: "payments", Capabilities: []string{"payment_processing"}, Endpoint: "http://127.0.0.1:8084/actions"},
	} {
		if _, err := r.Register(ctx, p); err != nil {
			panic(err)
		}
	}
	for _, p := range r.Discover([]string{"inventory_management"}) {
		fmt.Println(p.ID, p.Load)
	}
	// Output:
	// inventory-2 0.2
	// inventory-1 0.6
}

func ExampleRegistry_Changed() {
	ctx := context.Background()
	st := mem.New(store.Options{})
	defer st.Close()
	r, _ := agent.Open(ctx, st, agent.Config{})

	// Meanwhile, an agent registers.
	registered := make(chan error, 1)
	go func() {
		_, err := r.Register(ctx, agent.Profile{ID: "shipper", Capabilities: []string{"shipping"}, Endpoint: "http://127.0.0.1:8085/"})
		registered <- err
	}()

	// A dispatcher with no agent for a capability waits for a change.
	for {
		changed := r.Changed()
		if p, ok := r.Pick([]string{"shipping"}); ok {
			fmt.Println("picked", p.ID)
			break
		}
		<-changed
	}
	if err := <-registered; err != nil {
		panic(err)
	}
	// Output: picked shipper
}
