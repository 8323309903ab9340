package engine

import (
	"errors"
	"fmt"
)

// ErrInvalidRule is returned by New, wrapped in a *RuleError, when a rule
// cannot be evaluated: a sequence with fewer than two steps, a complex
// pattern of an unknown type or missing a field its type needs, a
// condition that does not compile.
var ErrInvalidRule = errors.New("engine: invalid rule")

// ErrDuplicateChoreography is returned by New when two choreographies
// share a name: action ids derive from the choreography name and rule id,
// so names must be distinct.
var ErrDuplicateChoreography = errors.New("engine: duplicate choreography name")

// ErrInvalidConfig is returned by Config.Validate and New for a negative
// cap or duration.
var ErrInvalidConfig = errors.New("engine: invalid config")

// RuleError says which rule New refused and why. It wraps ErrInvalidRule.
type RuleError struct {
	Choreography string // the choreography's name
	Rule         string // the rule's id
	Field        string // the offending field, e.g. "events"
	Msg          string
}

func (e *RuleError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("engine: choreography %q rule %q: %s: %s", e.Choreography, e.Rule, e.Field, e.Msg)
	}
	return fmt.Sprintf("engine: choreography %q rule %q: %s", e.Choreography, e.Rule, e.Msg)
}

// Unwrap returns ErrInvalidRule.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }
