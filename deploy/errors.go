package deploy

import (
	"errors"
	"fmt"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/store"
)

var (
	// ErrNotFound is matched (with errors.Is) by the *Error of code
	// CodeNotFound returned for a name that has no current deployment.
	ErrNotFound = errors.New("deploy: choreography not found")
	// ErrNameMismatch is matched by the *Error of code CodeNameMismatch
	// returned when a document's name differs from the name it is
	// deployed under.
	ErrNameMismatch = errors.New("deploy: choreography name mismatch")
	// ErrClosed is returned by Run, Deploy and Remove after Close.
	ErrClosed = errors.New("deploy: closed")
	// ErrRunning is returned by Run while another call of Run on the same
	// Manager has not returned.
	ErrRunning = errors.New("deploy: already running")
	// ErrInvalidConfig is returned by Config.Validate and Open for a
	// setting out of range or a nil store.
	ErrInvalidConfig = errors.New("deploy: invalid config")
)

// Stable error codes, for APIs that report them. Errors of the store keep
// the store's codes (see store.Code).
const (
	// CodeInvalidChoreography is the code of a document that does not
	// load: the error is a choreography.Problems or an *engine.RuleError.
	CodeInvalidChoreography = "invalid_choreography"
	// CodeNameMismatch is the code of a document deployed under a name
	// other than its own.
	CodeNameMismatch = "name_mismatch"
	// CodeNotFound is the code of a name with no current deployment.
	CodeNotFound = "not_found"
)

// Error describes why the manager refused a call: a stable code, the
// field at fault and what is wrong with it.
type Error struct {
	Code  string // CodeNameMismatch or CodeNotFound
	Field string // the field at fault ("name"); empty when none
	Msg   string // what is wrong, for people
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "deploy: " + e.Msg
	}
	return fmt.Sprintf("deploy: %s: %s", e.Field, e.Msg)
}

// Is makes errors.Is(err, ErrNotFound) true for code CodeNotFound and
// errors.Is(err, ErrNameMismatch) for CodeNameMismatch.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeNotFound:
		return target == ErrNotFound
	case CodeNameMismatch:
		return target == ErrNameMismatch
	}
	return false
}

// Code returns the stable code of an error returned by a Manager:
// CodeInvalidChoreography for choreography.Problems and *engine.RuleError,
// the code of an *Error, store.CodeClosed for ErrClosed, or else the code
// store.Code gives (a failing log is "internal"). nil is "".
func Code(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, choreography.ErrInvalid) || errors.Is(err, engine.ErrInvalidRule) {
		return CodeInvalidChoreography
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, ErrClosed) {
		return store.CodeClosed
	}
	return store.Code(err)
}

func notFound(name string) *Error {
	return &Error{Code: CodeNotFound, Field: "name", Msg: fmt.Sprintf("no choreography %q is deployed", name)}
}
