package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func Example() {
	// A server over an in-memory log, for the example.
	log := mem.New(store.Options{})
	defer log.Close()
	srv, err := server.New(server.Config{Store: log})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	ctx := context.Background()
	c, err := client.New(ts.URL)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	pos, err := c.Publish(ctx, &event.Event{
		SpecVersion: event.SpecVersion, ID: "evt-1", Source: "agent/shop", Type: "order_received",
		CorrelationID: "order-42", Data: json.RawMessage(`{"total":129.95}`),
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s landed in %s at %d\n", pos[0].ID, pos[0].Stream, pos[0].StreamPosition)

	// A conditional append that loses the race.
	_, err = c.Publish(ctx, &event.Event{SpecVersion: event.SpecVersion, Source: "agent/shop", Type: "order_cancelled"},
		client.WithStream("order-42"), client.WithExpectedVersion(store.NoStream))
	fmt.Println(err)

	for rec, err := range c.Subscribe(ctx, 0, client.Filter{Types: []string{"order_received"}}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.GlobalPosition, rec.Event.Type, string(rec.Event.Data))
		break
	}
	// Output:
	// evt-1 landed in order-42 at 0
	// choreo: 409 wrong_expected_version: expected_version: wrong expected version for stream "order-42": expected no-stream, actual 0
	// 0 order_received {"total":129.95}
}
