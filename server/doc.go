// Package server is choreo's HTTP API: a thin adapter over a store.Store
// that lets agents publish events, read the log and follow it live.
//
// Routes of this package:
//
//	POST /v1/events            publish one event or an atomic batch (CloudEvents HTTP binding)
//	GET  /v1/events            read the log from a global position
//	GET  /v1/events/{id}       read one event by id
//	GET  /v1/streams/{stream}  read one stream from a stream position
//	GET  /v1/subscribe         follow the log as server-sent events
//	GET  /healthz              the process is alive
//	GET  /readyz               the server can take work
//
// Every error is a JSON document with a stable code:
//
//	{"error":{"code":"wrong_expected_version","message":"…","field":"expected_version"}}
//
// The codes are those of package store (store.Code) and package event
// (event.Error), plus the Code constants of this package; docs/api.md
// lists them with their HTTP statuses.
//
// Build a Server with New, serve its Handler, and mount further routes
// with Handle. Call Close before shutting the http.Server down: it ends
// the subscription streams, which would otherwise hold the shutdown.
package server
