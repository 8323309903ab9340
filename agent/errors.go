package agent

import (
	"errors"
	"fmt"

	"github.com/choreohq/choreo/store"
)

var (
	// ErrInvalid is matched (with errors.Is) by every *Error that rejects a
	// profile, a heartbeat or a card URL: codes CodeMissingField and
	// CodeInvalidField.
	ErrInvalid = errors.New("agent: invalid input")
	// ErrNotFound is matched by the *Error (code CodeNotFound) returned for
	// an agent id the registry does not hold.
	ErrNotFound = errors.New("agent: not found")
	// ErrNoResolver is matched by the *Error (code CodeNoResolver) that
	// RegisterCard returns when Config.Resolver is nil.
	ErrNoResolver = errors.New("agent: no card resolver configured")
	// ErrTooMany is matched by the *Error (code CodeTooMany) that Register
	// returns for a new agent when Config.MaxAgents are registered.
	ErrTooMany = errors.New("agent: too many agents")
	// ErrCard is matched by the error RegisterCard returns when the
	// resolver fails to fetch or read the agent card (code
	// CodeCardUnavailable).
	ErrCard = errors.New("agent: agent card unavailable")
	// ErrInvalidConfig is returned by Config.Validate and Open for a
	// setting out of range.
	ErrInvalidConfig = errors.New("agent: invalid config")
	// ErrRunning is returned by Run while another call of Run on the same
	// Registry has not returned.
	ErrRunning = errors.New("agent: already running")
)

// Error codes carried by *Error. They are stable: clients may match on
// them.
const (
	CodeMissingField = "missing_field"   // a required field is absent or empty
	CodeInvalidField = "invalid_field"   // a field has a value of the wrong form or out of range
	CodeNotFound     = "not_found"       // no agent has the id
	CodeNoResolver   = "no_resolver"     // RegisterCard without Config.Resolver
	CodeTooMany      = "too_many_agents" // Config.MaxAgents are registered

	// CodeCardUnavailable is the code of ErrCard: the agent card could not
	// be fetched or read.
	CodeCardUnavailable = "card_unavailable"
)

// Error describes why the registry refused a call: a stable code, the
// field at fault and what is wrong with it.
type Error struct {
	Code  string // one of the Code constants
	Field string // the field at fault, by its JSON name ("id", "capabilities[2]", …); empty when none
	Msg   string // what is wrong, for people
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "agent: " + e.Msg
	}
	return fmt.Sprintf("agent: %s: %s", e.Field, e.Msg)
}

// Is makes errors.Is(err, ErrNotFound) true for code CodeNotFound,
// errors.Is(err, ErrNoResolver) for CodeNoResolver, errors.Is(err,
// ErrTooMany) for CodeTooMany, and errors.Is(err, ErrInvalid) for the
// other codes.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeNotFound:
		return target == ErrNotFound
	case CodeNoResolver:
		return target == ErrNoResolver
	case CodeTooMany:
		return target == ErrTooMany
	}
	return target == ErrInvalid
}

// Code returns the stable code of an error returned by a Registry: the code
// of an *Error it wraps (CodeCardUnavailable for ErrCard), or else the code
// store.Code gives (a failing log is "internal", a closed one "closed").
// nil is "".
func Code(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrCard) {
		return CodeCardUnavailable
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return store.Code(err)
}

func missing(field string) *Error {
	return &Error{Code: CodeMissingField, Field: field, Msg: "required"}
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidField, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func notFound(id string) *Error {
	return &Error{Code: CodeNotFound, Field: "id", Msg: fmt.Sprintf("no agent %q is registered", id)}
}
