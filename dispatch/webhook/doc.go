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
// The action counts as delivered whatever the 2xx body holds: another
// attempt would get the same answer. A body that is no attempt at events
// (plain text such as "OK", a JSON scalar, an object without "type",
// "specversion" or "events") is an acknowledgement; one that fails as
// events (not one of the forms above, more than Config.MaxEvents events,
// an event that fails validation: ErrBadResponse; over
// Config.MaxResponseBytes: ErrResponseTooLarge) yields no events, and the
// reason in dispatch.Result.Refused, which the dispatcher logs and counts.
//
// A 4xx is the agent refusing the action: a *StatusError marked
// dispatch.Permanent, so the action is dead-lettered ("rejected") at once.
// The exceptions fail the attempt with a retryable *StatusError: 408, 425
// and 429 (try later), and 401, 403, 404, 405, 407, 421 and the 3xx
// redirects, which say that no working agent is behind the URL (a wrong
// path, a wrong secret), so the failure counts against the agent's breaker
// and the next attempt goes to another agent. So do 5xx, network errors
// and timeouts. The transport's default client does not follow redirects.
//
// # Connections
//
// A Transport with a client of its own (Config.Client nil) sends the
// requests to plain http:// endpoints that no proxy applies to
// (http.ProxyFromEnvironment, so HTTP_PROXY and NO_PROXY) by a fast path:
// a lean HTTP/1.1 client of the package's own, not net/http's. These are
// the common case, agents on the same network, and net/http's client
// costs several times what such a request needs: two goroutines per
// connection with channel hand-offs between them, header maps and a
// context for every request. The fast path keeps a pool of idle
// keep-alive connections per host and port, with the settings of the
// transport's own net/http client (256 idle per host, closed after 90 s
// idle, dialing bounded at 10 s); the delivering goroutine writes the
// whole request with one write and reads the response itself, honouring
// the context's deadline and cancellation. It reads Content-Length,
// chunked and close-delimited bodies, skips informational (1xx)
// responses, and takes a response head of up to 64 KiB, each line of it
// up to 16 KiB. A connection is reused only after a response read in full
// that did not ask for the connection to be closed. When a request on a
// reused connection fails before any of the response has arrived, most
// likely because the agent closed the idle connection, it is sent once
// more on a new connection, as net/http's client does for requests with
// an Idempotency-Key. Requests and errors are the same on either path,
// except that the fast path does not offer gzip (Accept-Encoding).
//
// Requests to https:// endpoints, through a proxy, with a client given in
// Config.Client, or with Config.DisableFastPath set go through net/http.
//
// # Receiving side
//
// Handler turns a Go function into a webhook endpoint: it checks the
// method, content type, size and signature, decodes the Message, calls the
// function and writes the events it returns. With HandlerConfig.Dedup it
// answers a repeated Idempotency-Key with the first response.
package webhook
