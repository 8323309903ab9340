// Package demo is the scenario behind `choreo demo`: a simulated shop whose
// agents take part in the example e-commerce choreography
// (examples/ecommerce.yaml) through a real choreo server.
//
// Start runs nine agents on random loopback ports and registers them with
// the server over its HTTP API. Seven take actions as webhooks (inventory,
// payments, suppliers, fulfillment, shipping, notifications and the order
// desk) and answer with the next events in their responses; two speak A2A
// (fraud review and product reviews), are registered by the URL of their
// agent card, and complete tasks whose artifacts the server turns into
// `<action>.completed` events. The agents report in with heartbeats. The
// shipping agent's carrier publishes each delivery itself, with POST
// /v1/events, once the parcel's transit time has passed.
//
// Run publishes the orders of a Plan at a steady rate. The plan, drawn
// from a seed, mixes plain orders with high-value ones (which get a fraud
// review), shortages (which the suppliers restock), cards declined once
// or twice (retried by the choreography), cards declined for good (the
// order is cancelled) and a payment gateway that fails a first delivery
// (retried by the dispatcher). Each order's outcome depends on the seed
// alone. While the orders move, the demo follows the log with GET
// /v1/subscribe and writes one line per event, delivery, failed attempt
// and dead letter. Once every order has ended — delivered, reviewed and
// closed, or cancelled, with none of its actions pending — it writes a
// summary of the server's figures from GET /v1/metrics and the latencies
// it measured.
//
// The agents' behaviour is written for examples/ecommerce.yaml; the
// package embeds a copy of it (Choreography) for binaries run outside the
// repository, kept identical by a test.
package demo
