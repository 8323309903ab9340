package condition

import (
	"errors"
	"fmt"
)

// Errors returned by Program.Eval. Each is wrapped with detail; test with
// errors.Is.
var (
	// ErrEval reports a run-time error in a condition, such as reading a
	// key the event's data does not have, or dividing by zero.
	ErrEval = errors.New("condition: evaluation failed")

	// ErrNotBool reports a condition whose result is not a bool.
	ErrNotBool = errors.New("condition: result is not a bool")

	// ErrCostLimit reports an evaluation stopped because its cost went
	// over the limit.
	ErrCostLimit = errors.New("condition: cost limit exceeded")

	// ErrNilContext reports an evaluation without a context.
	ErrNilContext = errors.New("condition: nil context")

	// ErrJSON reports event data that is not well-formed JSON.
	ErrJSON = errors.New("condition: malformed JSON data")
)

// errNoEvent is the error of reading a field of a missing event.
var errNoEvent = fmt.Errorf("%w: no event", ErrEval)

func errConvert(from, to string) error {
	return fmt.Errorf("%w: cannot convert %s to %s", ErrEval, from, to)
}
