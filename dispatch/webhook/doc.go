// Package webhook delivers actions to agents by HTTP POST, and gives Go
// agents the receiving side.
//
// # Request
//
// Transport.Deliver posts the action's dispatch.Message as JSON to the
// agent's endpoint. The request carries these headers:
//
//	Content-Type:         application/json
//	Idempotency-Key:      the action id; the same on every attempt
//	X-Choreo-Action:      the action's name, e.g. "process_payment"
//	X-Choreo-Attempt:     the attempt number, 1 for the first
//	X-Choreo-Correlation: the correlation id the action belongs to
//	X-Choreo-Timestamp:   Unix time in seconds (only when a secret is set)
//	X-Choreo-Signature:   sha256=<hex> (only when a secret is set)
//
// A header value holding a control character is percent-encoded, as in a
// URL query. Delivery is at least once: an agent may receive the same action more than
// once, and should use Idempotency-Key to do its work once.
//
// # Signature
//
// With a shared secret configured, every request is signed with
// HMAC-SHA256. The signed text is the decimal timestamp from
// X-Choreo-Timestamp, one full stop, and the request body exactly as
// received:
//
//	mac       = HMAC-SHA256(key = secret, message = timestamp + "." + body)
//	signature = "sha256=" + lower-case hexadecimal of mac
//
// To verify, an agent in any language recomputes the MAC over the raw body
// (before any JSON parsing), compares it with the header in constant time,
// and rejects a timestamp too far from its own clock (five minutes is the
// default here), which limits the replay of captured requests. Verify does
// this for Go agents.
//
// # Response
//
// Any 2xx status means the agent took the action. The response body may be
// empty, a single CloudEvent in structured-mode JSON, a JSON array of
// CloudEvents, or an object {"events": [...]}; the events become
// dispatch.Result.Events, in order. An event needs a type; the transport
// sets a missing specversion to "1.0", and the dispatcher fills the
// attributes left empty: id, source, correlationid, causationid and hops.
// A 2xx body that is not one of these forms, holds more than
// Config.MaxEvents events, or holds an event that fails validation, fails
// the attempt with a retryable error wrapping ErrBadResponse; a body over
// Config.MaxResponseBytes fails it with ErrResponseTooLarge. The agent
// sees the same Idempotency-Key on the retry.
//
// Statuses 408, 425, 429 and 5xx fail the attempt with a retryable
// *StatusError; every other status (3xx and the other 4xx) fails it with a
// *StatusError marked dispatch.Permanent, so the action is dead-lettered.
// The transport's default client does not follow redirects. Network
// errors and timeouts are retryable.
//
// # Receiving side
//
// Handler turns a Go function into a webhook endpoint: it checks the
// method, content type, size and signature, decodes the Message, calls the
// function and writes the events it returns. With HandlerConfig.Dedup it
// answers a repeated Idempotency-Key with the first response.
package webhook
