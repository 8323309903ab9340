// Package client is the Go client of choreo's HTTP API (package server):
// publish events, read the log and follow it live, and drive the rest of the
// API: agents, choreographies, actions, dead letters, correlations, metrics.
//
//	c, err := client.New("http://localhost:7070")
//	...
//	pos, err := c.Publish(ctx, &event.Event{SpecVersion: "1.0", Source: "shop", Type: "order_received"})
//	...
//	for rec, err := range c.Subscribe(ctx, 0, client.Filter{Types: []string{"order_received"}}) {
//		...
//	}
//
// Errors the API reports come back as *Error, with the HTTP status and the
// stable code; errors.Is matches them against the sentinels of package
// store (store.ErrWrongVersion, store.ErrNotFound, …) and event.ErrInvalid,
// so code written against a store.Store reads the same.
//
// A Client is safe for concurrent use and keeps connections alive between
// calls. Call Close when done with it.
package client
