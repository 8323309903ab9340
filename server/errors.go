package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// ErrClosed is returned by calls on a closed Server, and reported to
// clients as the code "closed".
var ErrClosed = errors.New("server: closed")

// Codes of the errors this package adds to those of the store and event
// packages. Like those, they are stable: clients may match on them.
const (
	CodeBodyTooLarge         = "body_too_large"         // the request body is over Config.MaxBodyBytes
	CodeUnsupportedMediaType = "unsupported_media_type" // the Content-Type is not one the endpoint reads
	CodeUnsupportedEncoding  = "unsupported_encoding"   // the body has a Content-Encoding (gzip…): bodies are read as sent
	CodeInvalidQuery         = "invalid_query"          // a query parameter is unknown or malformed
	CodeInvalidHeader        = "invalid_header"         // a request header is malformed
	CodeNotFound             = store.CodeNotFound       // no such route or resource
	CodeMethodNotAllowed     = "method_not_allowed"     // the route exists, not with this method
	CodeReservedStream       = "reserved_stream"        // the stream name starts with '$'
	CodeReservedType         = "reserved_type"          // the event type starts with "choreo."
	CodeReservedID           = "reserved_id"            // the event id starts with "choreo."
	CodeNotReady             = "not_ready"              // the server cannot take work yet
)

// statusOf maps every stable code to its HTTP status. A code not listed
// here is served as 500.
var statusOf = map[string]int{
	event.CodeMissingField:           http.StatusBadRequest,
	event.CodeInvalidField:           http.StatusBadRequest,
	event.CodeInvalidJSON:            http.StatusBadRequest,
	event.CodeTooLarge:               http.StatusRequestEntityTooLarge,
	store.CodeWrongVersion:           http.StatusConflict,
	store.CodeConflict:               http.StatusConflict,
	store.CodeEmptyBatch:             http.StatusBadRequest,
	store.CodeBatchTooLarge:          http.StatusRequestEntityTooLarge,
	store.CodeInvalidStream:          http.StatusBadRequest,
	store.CodeInvalidExpectedVersion: http.StatusBadRequest,
	store.CodeClosed:                 http.StatusServiceUnavailable,
	store.CodeNotFound:               http.StatusNotFound,
	store.CodeInternal:               http.StatusInternalServerError,
	CodeBodyTooLarge:                 http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType:         http.StatusUnsupportedMediaType,
	CodeUnsupportedEncoding:          http.StatusUnsupportedMediaType,
	CodeInvalidQuery:                 http.StatusBadRequest,
	CodeInvalidHeader:                http.StatusBadRequest,
	CodeMethodNotAllowed:             http.StatusMethodNotAllowed,
	CodeReservedStream:               http.StatusBadRequest,
	CodeReservedType:                 http.StatusBadRequest,
	CodeReservedID:                   http.StatusBadRequest,
	CodeNotReady:                     http.StatusServiceUnavailable,
}

// apiError is an error as the API reports it. Handlers return one (or any
// error, which errorOf maps) and the route adapter writes it.
type apiError struct {
	Code    string
	Message string
	Field   string // the field or parameter at fault, "" for none
	// Allow lists the methods of a route, for method_not_allowed.
	Allow string
}

func (e *apiError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("server: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("server: %s: %s: %s", e.Code, e.Field, e.Message)
}

// status returns the HTTP status of the error's code.
func (e *apiError) status() int {
	if s, ok := statusOf[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorf returns an *apiError with a formatted message.
func errorf(code, field, format string, args ...any) *apiError {
	return &apiError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// errorOf maps any error a handler meets to what the client is told.
// prefix is put before the field of an event error ("events[3]." for the
// fourth event of a batch, "" for a single event). The second result is
// false for errors the client must not see the details of (internal ones),
// which the caller logs.
func errorOf(err error, prefix string) (*apiError, bool) {
	var (
		ae *apiError
		ee *event.Error
		ve *store.EventError
		ce *store.ConflictError
	)
	switch {
	case errors.As(err, &ve):
		inner, public := errorOf(ve.Err, "")
		return &apiError{Code: inner.Code, Field: joinField(batchField(prefix, ve.Index), inner.Field), Message: inner.Message}, public
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &ee):
		return &apiError{Code: ee.Code, Field: joinField(prefix, ee.Field), Message: ee.Msg}, true
	case errors.As(err, &ce):
		return &apiError{Code: store.CodeConflict, Field: joinField(batchField(prefix, ce.Index), "id"),
			Message: fmt.Sprintf("event id %q is already in the log with different content or in another stream", ce.ID)}, true
	case errors.Is(err, store.ErrInvalidStream):
		return &apiError{Code: store.CodeInvalidStream, Field: "stream", Message: trimPrefix(err.Error())}, true
	case errors.Is(err, ErrClosed):
		return &apiError{Code: store.CodeClosed, Message: "the server is shutting down"}, true
	}
	code := store.Code(err)
	if code == store.CodeInternal {
		return &apiError{Code: store.CodeInternal, Message: "internal error"}, false
	}
	return &apiError{Code: code, Message: trimPrefix(err.Error())}, true
}

// batchField names event i of a batch, when prefix says the request was
// one ("events"); a single event has no index.
func batchField(prefix string, i int) string {
	if prefix == "" {
		return ""
	}
	return fmt.Sprintf("%s[%d]", prefix, i)
}

// joinField joins a batch element and an attribute name.
func joinField(elem, attr string) string {
	switch {
	case elem == "":
		return attr
	case attr == "":
		return elem
	}
	return elem + "." + attr
}

// trimPrefix drops the "store: " a sentinel's message starts with: the
// client knows which API it called.
func trimPrefix(msg string) string {
	for _, p := range []string{"store: ", "server: ", "event: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}
