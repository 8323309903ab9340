package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// ErrResponseTooLarge is returned for a response body over the client's
// limit (see WithMaxResponseBytes).
var ErrResponseTooLarge = errors.New("client: response too large")

// ErrProtocol is matched by errors about responses that do not follow the
// API: a wrong content type, a malformed body.
var ErrProtocol = errors.New("client: unexpected response")

// Error is an error the API reported: the HTTP status and the body's
// stable code, message and field.
type Error struct {
	Status  int    // HTTP status, e.g. 409
	Code    string // stable code, e.g. "wrong_expected_version"; "" when the body had none
	Message string // what is wrong, for people
	Field   string // the field or parameter at fault, e.g. "events[3].time"; "" for none
}

// Error returns "choreo: <status> <code>: <field>: <message>", leaving out
// the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "choreo: %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is matches the error against the sentinel of its code:
// store.ErrWrongVersion, store.ErrConflict, store.ErrNotFound,
// store.ErrClosed, store.ErrEmptyBatch, store.ErrBatchTooLarge,
// store.ErrInvalidStream, and event.ErrInvalid for invalid events.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case store.CodeWrongVersion:
		return target == store.ErrWrongVersion
	case store.CodeConflict:
		return target == store.ErrConflict
	case store.CodeNotFound:
		return target == store.ErrNotFound
	case store.CodeClosed:
		return target == store.ErrClosed
	case store.CodeEmptyBatch:
		return target == store.ErrEmptyBatch
	case store.CodeBatchTooLarge:
		return target == store.ErrBatchTooLarge
	case store.CodeInvalidStream:
		return target == store.ErrInvalidStream
	case event.CodeMissingField, event.CodeInvalidField, event.CodeInvalidJSON, event.CodeTooLarge:
		return target == event.ErrInvalid
	}
	return false
}

// final reports whether retrying the request cannot help: the server
// refused it (4xx), other than for rate or time.
func (e *Error) final() bool {
	return e.Status >= 400 && e.Status < 500 &&
		e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// apiError reads the error of a response whose status is not 2xx.
func apiError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error.Code != "" {
		e.Code, e.Message, e.Field = doc.Error.Code, doc.Error.Message, doc.Error.Field
		return e
	}
	e.Message = strings.TrimSpace(string(body))
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}
