package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

var (
	// ErrClosed is returned by Deliver after Close. It is retryable: another
	// transport may deliver the action.
	ErrClosed = errors.New("webhook: transport closed")
	// ErrInvalidConfig is returned by Config.Validate and New for a
	// negative limit.
	ErrInvalidConfig = errors.New("webhook: invalid config")
	// ErrInvalidDelivery is returned, marked dispatch.Permanent, for a nil
	// delivery or one without an action id to use as idempotency key.
	ErrInvalidDelivery = errors.New("webhook: invalid delivery")
	// ErrBadEndpoint is returned for an agent endpoint that is not an
	// absolute http or https URL. It is retryable, since another agent
	// may take the action.
	ErrBadEndpoint = errors.New("webhook: bad agent endpoint")
	// ErrResponseTooLarge is returned when a response body is over
	// Config.MaxResponseBytes. It is retryable.
	ErrResponseTooLarge = errors.New("webhook: response too large")
	// ErrBadResponse is returned for a 2xx response whose body is not
	// empty, an event, an array of events or {"events": [...]}, or holds
	// an event that fails validation. It is retryable. When an event is at
	// fault the error also wraps its *event.Error.
	ErrBadResponse = errors.New("webhook: bad response body")

	// ErrNoSecret is returned by Verify when given an empty secret.
	ErrNoSecret = errors.New("webhook: no secret to verify with")
	// ErrUnsigned is returned by Verify for a request without the
	// timestamp or signature header.
	ErrUnsigned = errors.New("webhook: request not signed")
	// ErrBadTimestamp is returned by Verify for a timestamp header that is
	// not a decimal number of seconds.
	ErrBadTimestamp = errors.New("webhook: bad signature timestamp")
	// ErrStaleTimestamp is returned by Verify for a timestamp further from
	// now than the allowed skew.
	ErrStaleTimestamp = errors.New("webhook: signature timestamp outside the allowed skew")
	// ErrBadSignature is returned by Verify for a signature that is
	// malformed or does not match the body.
	ErrBadSignature = errors.New("webhook: signature does not match")
)

// Error codes of the JSON error bodies Handler writes, as
// {"error":{"code":"…","message":"…"}}. They are stable: clients may match
// on them.
const (
	CodeMethodNotAllowed     = "method_not_allowed"     // 405: not a POST
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: not application/json
	CodeTooLarge             = "too_large"              // 413: body over HandlerConfig.MaxBodyBytes
	CodeBadSignature         = "bad_signature"          // 401: signature missing, stale or wrong
	CodeInvalidMessage       = "invalid_message"        // 400: body is not a dispatch.Message
	CodeRejected             = "rejected"               // 422: the function returned a dispatch.Permanent error
	CodeAgentError           = "agent_error"            // 500: the function failed, or returned a bad event
	CodeInProgress           = "in_progress"            // 503: a request with the same key was still running
)

// excerptBytes is how much of an error response's body a StatusError keeps.
const excerptBytes = 512

// StatusError is the error for a response with a status other than 2xx.
// Deliver marks it dispatch.Permanent unless Retryable says otherwise.
type StatusError struct {
	StatusCode int    // the HTTP status code
	Body       string // the start of the response body, at most 512 bytes
}

func (e *StatusError) Error() string {
	msg := "webhook: agent answered " + strconv.Itoa(e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		msg += " " + text
	}
	if e.Body != "" {
		msg += fmt.Sprintf(": %q", e.Body)
	}
	return msg
}

// Retryable reports whether another attempt may succeed. A 4xx is the
// agent refusing the action, which another attempt would not change,
// except for 408 Request Timeout, 425 Too Early and 429 Too Many Requests
// (try later), and for the statuses that say the request did not reach a
// working agent at all — 401, 403, 404, 405, 407 and 421, and the 3xx
// redirects, which are not followed: a wrong URL or a wrong secret is the
// agent's fault, not the action's, so the attempt counts against the
// agent's breaker and the next goes to another agent. 5xx and any other
// status are retryable too.
func (e *StatusError) Retryable() bool { return retryableStatus(e.StatusCode) }

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusProxyAuthRequired, http.StatusMisdirectedRequest:
		return true
	}
	return code < 400 || code >= 500
}
