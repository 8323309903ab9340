package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"

	"github.com/choreohq/choreo/dispatch"
)

var (
	// ErrClosed is matched by the error of every call made after Close.
	ErrClosed = errors.New("a2a: transport closed")
	// ErrInvalidConfig is returned by Config.Validate and New for a setting
	// out of range.
	ErrInvalidConfig = errors.New("a2a: invalid config")
	// ErrTooLarge is matched by the error of a call whose response body is
	// over the configured size limit.
	ErrTooLarge = errors.New("a2a: response body over the size limit")
)

// Error codes carried by *Error. They are stable: metrics and dead-letter
// records may be keyed on them.
const (
	// CodeBadDelivery: the Delivery itself cannot be sent (no action id, no
	// action name, an endpoint that is not an http or https URL).
	CodeBadDelivery = "bad_delivery"
	// CodeUnreachable: no connection could be made to the agent.
	CodeUnreachable = "unreachable"
	// CodeNetwork: a connection was made but broke before a response came.
	CodeNetwork = "network"
	// CodeTimeout: the attempt's deadline or the per-request timeout ran
	// out, or the task did not end before the deadline.
	CodeTimeout = "timeout"
	// CodeCanceled: the caller's context was canceled.
	CodeCanceled = "canceled"
	// CodeBadResponse: the agent answered with something that is not an
	// A2A response: an HTTP status other than 200, a body that is not
	// JSON-RPC, a body over the size limit, an unknown task state.
	CodeBadResponse = "bad_response"
	// CodeAgentError: the agent answered with a JSON-RPC error that may
	// pass (internal error, server error, task not found, …).
	CodeAgentError = "agent_error"
	// CodeRefused: the agent answered with a JSON-RPC error that says the
	// request will never be accepted (invalid params, method not found,
	// unsupported operation or content type, parse error). Errors with this
	// code are dispatch.Permanent.
	CodeRefused = "refused"
	// CodeBadCard: an agent card was fetched but cannot be used (not JSON,
	// no skills, no usable service URL).
	CodeBadCard = "bad_card"
	// CodeClosed: the Transport was closed.
	CodeClosed = "closed"
)

// Error is the error of a delivery or a card fetch: a stable code, what
// was being done, at which URL, and the cause.
type Error struct {
	Code string // one of the Code constants
	Op   string // what was being done: "message/send", "tasks/get", "agent card", "deliver"
	URL  string // the agent endpoint or card URL; empty when none applies
	Err  error  // the cause
}

// Error returns "a2a: <op> <url>: <cause>".
func (e *Error) Error() string {
	if e.URL == "" {
		return fmt.Sprintf("a2a: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("a2a: %s %s: %v", e.Op, e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Code returns the stable code of an error returned by this package: the
// code of the *Error it wraps, or "" for nil and for errors made elsewhere.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// refusals are the JSON-RPC errors that retrying the same request cannot
// cure.
var refusals = []error{
	sdk.ErrParseError,
	sdk.ErrInvalidRequest,
	sdk.ErrMethodNotFound,
	sdk.ErrInvalidParams,
	sdk.ErrUnsupportedOperation,
	sdk.ErrUnsupportedContentType,
	sdk.ErrPushNotificationNotSupported,
}

// agentErrors are the JSON-RPC errors that may pass.
var agentErrors = []error{
	sdk.ErrInternalError,
	sdk.ErrServerError,
	sdk.ErrTaskNotFound,
	sdk.ErrTaskNotCancelable,
	sdk.ErrInvalidAgentResponse,
	sdk.ErrAuthenticatedExtendedCardNotConfigured,
}

// classify wraps err, the error of an SDK call made under ctx, in an *Error
// with the code that fits it, marked dispatch.Permanent when the code is
// CodeRefused.
func classify(ctx context.Context, op, endpoint string, err error) error {
	e := &Error{Code: code(ctx, err), Op: op, URL: endpoint, Err: err}
	if e.Code == CodeRefused {
		return dispatch.Permanent(e)
	}
	return e
}

func code(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return CodeBadResponse
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return CodeTimeout
	}
	for _, r := range refusals {
		if errors.Is(err, r) {
			return CodeRefused
		}
	}
	for _, r := range agentErrors {
		if errors.Is(err, r) {
			return CodeAgentError
		}
	}
	var status *agentcard.ErrStatusNotOK
	if errors.As(err, &status) {
		return CodeBadResponse
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return CodeBadResponse
	}
	var op *net.OpError
	if errors.As(err, &op) {
		if op.Op == "dial" {
			return CodeUnreachable
		}
		if op.Timeout() {
			return CodeTimeout
		}
		return CodeNetwork
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return CodeUnreachable
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return CodeTimeout
		}
		return CodeNetwork
	}
	return CodeBadResponse
}
