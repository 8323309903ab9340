// Package loadgen is choreo's load generator: it publishes events to a
// choreo server over its HTTP API, at an offered rate or flat out, and
// measures what the server did with them. The command choreo bench is its
// front end.
//
// # Publishing
//
// Run opens Config.Connections keep-alive connections and publishes
// batches of Config.Batch events (a JSON array, one atomic append) or,
// with a batch of 1, single events in structured mode. Each event has a
// unique id and about Config.DataSize bytes of data. Every connection
// appends to a stream of its own, named after the run and the connection,
// which is also the events' correlation id.
//
// With Config.Rate zero the generator runs closed loop: each connection
// sends its next request as soon as the previous one is answered, and a
// request's latency runs from its send to the end of its response.
//
// With a positive Rate it runs open loop: requests are scheduled at fixed
// times (Batch/Rate seconds apart) whatever the server does, and taken by
// the first free connection. A request's latency runs from its scheduled
// time, not from when a connection got round to sending it, so time spent
// queued behind slow requests is counted. This avoids coordinated
// omission: a closed-loop generator that waits for a slow server before
// sending simply stops measuring during the stall. Requests scheduled
// before the end of Config.Duration that no connection had started by then
// are reported as unsent, a sign that the server, or the generator, could
// not keep up with the offered rate.
//
// The publish requests do not go through net/http, whose client costs
// about as much CPU per request as the server it drives: each connection
// is a lean HTTP/1.1 client of the package's own, which writes each
// request with one write and parses the response in place, with bounded
// head and body sizes. A request is never sent twice, except when the
// server closed an idle connection and nothing of the request had been
// written; an idle connection is checked for such a close before reuse.
// The other API requests (registering the agent) use net/http.
//
// An event counts as accepted only when its request was answered 201
// Created, which choreo gives once the events are in the log (and on disk,
// unless the server runs with --no-sync). Every other
// answer is counted by HTTP status and error code, and failures to get an
// answer by kind (status 0 with codes such as "timeout" or
// "connection_refused").
//
// # Dispatch
//
// With Config.Dispatch set, the generator is also the agent: it serves a
// webhook (dispatch/webhook.Handler, behind a lean HTTP/1.1 server of the
// package's own, which costs the shared machine about a fifth less CPU per
// action than net/http's) on a loopback listener, registers it
// through POST /v1/agents with Config.Capability, and for every action it
// receives reads the trigger event's id from
// payload.choreography_context.trigger_event_ids (or
// payload.trigger_event.id). The id carries the event's send time, so the
// event-to-dispatch latency, from the publish send time (the scheduled
// time in open loop) to the agent receiving the action, is measured in one
// process with its monotonic clock, without a table of events in flight.
// Once publishing ends it waits up to Config.Grace for the actions of every
// accepted event, then counts those that did not arrive. The server must
// run a choreography that maps Config.EventType to an action for
// Config.Capability: Choreography returns one.
//
// # Latency histograms
//
// Latencies are counted in a log-linear Histogram, in the manner of
// HdrHistogram: exact below 128 ns, within 0.8% above, in fixed memory
// whatever the number of samples. Quantiles are the upper end of the
// bucket they fall in, capped at the largest value recorded, so p50 ≤ p95
// ≤ p99 ≤ max always holds.
package loadgen
