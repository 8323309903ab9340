package choreography

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by the Problems that Parse,
// LoadFile and Validate return for a choreography that cannot be loaded.
var ErrInvalid = errors.New("choreography: invalid")

// Problem codes: stable strings that name the kind of a Problem.
const (
	CodeSyntax           = "syntax"            // the text is not well-formed YAML or JSON
	CodeTooLarge         = "too_large"         // the document is over MaxSize bytes
	CodeUnsupported      = "unsupported"       // YAML anchors, aliases or several documents
	CodeUnknownField     = "unknown_field"     // a field the rule kind does not have
	CodeDuplicateField   = "duplicate_field"   // the same field twice in one mapping
	CodeMissingField     = "missing_field"     // a required field is absent or empty
	CodeInvalidValue     = "invalid_value"     // a value of the wrong type or out of range
	CodeInvalidDuration  = "invalid_duration"  // a duration that does not parse or is not positive
	CodeDuplicateID      = "duplicate_id"      // two rules with the same explicit id
	CodeInvalidCondition = "invalid_condition" // a CEL condition that does not compile
	CodeTooManyProblems  = "too_many_problems" // reporting stopped after MaxProblems problems
)

// MaxProblems is the largest number of problems reported for one
// document; one more problem with code too_many_problems says the list
// was cut.
const MaxProblems = 200

// Problem is one thing wrong with a choreography, located in its file.
type Problem struct {
	File  string // the file name given to LoadFile; empty for Parse
	Rule  string // the rule's explicit id, or its index path such as "patterns[2]"; empty for top-level problems
	Field string // the field, such as "max_interval"; empty when the problem concerns the whole rule or document
	Line  int    // 1-based line in the file; zero when unknown
	Col   int    // 1-based column in characters; zero when unknown
	Code  string // one of the Code constants
	Msg   string // what is wrong, for people
}

// String formats the problem as "file:line:col: rule: message", leaving
// out the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	loc := p.File
	if p.Line > 0 {
		if loc != "" {
			loc += ":"
		}
		loc += fmt.Sprint(p.Line)
		if p.Col > 0 {
			loc += fmt.Sprintf(":%d", p.Col)
		}
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if p.Rule != "" {
		b.WriteString(p.Rule)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems lists everything wrong with a choreography, in file order.
type Problems []Problem

// Error prints one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (ps Problems) Is(target error) bool { return target == ErrInvalid }

// Codes returns the code of each problem, in order; handy in tests and
// for metrics.
func (ps Problems) Codes() []string {
	codes := make([]string, len(ps))
	for i, p := range ps {
		codes[i] = p.Code
	}
	return codes
}
