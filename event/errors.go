package event

import (
	"errors"
	"fmt"
)

// Error codes carried by *Error. They are stable: clients may match on them.
const (
	CodeMissingField = "missing_field" // a required attribute is absent or empty
	CodeInvalidField = "invalid_field" // an attribute has a value of the wrong type or form
	CodeInvalidJSON  = "invalid_json"  // the input is not a JSON object
	CodeTooLarge     = "too_large"     // the event is over the size limit
)

// ErrInvalid is matched (with errors.Is) by every *Error.
var ErrInvalid = errors.New("event: invalid event")

// Error describes why an event was rejected: which field and what is wrong.
type Error struct {
	Code  string // one of the Code constants
	Field string // the attribute at fault ("data", "time", …); empty for the whole event
	Msg   string // what is wrong, for people
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "event: " + e.Msg
	}
	return fmt.Sprintf("event: %s: %s", e.Field, e.Msg)
}

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func fieldError(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Msg: fmt.Sprintf(format, args...)}
}
