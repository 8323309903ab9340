package condition

import (
	"time"

	"github.com/choreohq/choreo/event"
)

// Context supplies the variables a condition may read. The engine
// implements it; each method is called only when a compiled condition
// refers to the matching variable, so context a condition does not use is
// never built.
type Context interface {
	Event() *event.Event              // `event`
	Data() any                        // `data`: the event's data decoded from JSON (nil when absent)
	Timestamp() time.Time             // `timestamp`: the event's time
	RecentEvents() []*event.Event     // `recent_events`: the last 10 events, oldest first
	CorrelatedEvents() []*event.Event // `correlated_events`: events of this correlation seen so far
	EventCount() int64                // `event_count`: events seen in total
	SourceEventCount() int64          // `source_event_count`: events seen from this event's source
}

// Var is a bit set of the context variables a condition refers to.
type Var uint16

// The variables of the condition context.
const (
	VarEvent Var = 1 << iota
	VarData
	VarSource
	VarTimestamp
	VarCorrelationID
	VarRecentEvents
	VarCorrelatedEvents
	VarEventCount
	VarSourceEventCount
)

// Options tune compilation and evaluation. The zero value works.
type Options struct {
	// MaxCost is the largest estimated cost accepted at compile time and
	// the run-time cost limit of one evaluation. Zero means DefaultMaxCost.
	MaxCost uint64
}

// Issue is one problem found in a condition, positioned in its text.
// Line and Col are 1-based; zero when unknown.
type Issue struct {
	Line, Col int
	Msg       string
}

// Program is a compiled condition, safe for concurrent use.
type Program struct {
	// implementation detail
	_ time.Time
}

var _ = Compile

// Compile parses, type-checks and cost-checks expr. An empty expression or
// "true" compiles to a condition that always matches. On failure it returns
// every issue found.
func Compile(expr string, opts Options) (*Program, []Issue) { panic("unimplemented") }

// Uses reports the variables the condition refers to.
func (p *Program) Uses() Var { panic("unimplemented") }

// Always reports whether the condition always matches (empty or "true"), so
// callers may skip evaluation.
func (p *Program) Always() bool { panic("unimplemented") }

// Eval evaluates the condition. A result that is not a bool, a run-time
// error or a cost over the limit returns an error; callers count it as no
// match.
func (p *Program) Eval(ctx Context) (bool, error) { panic("unimplemented") }

// String returns the source text of the condition.
func (p *Program) String() string { panic("unimplemented") }
