package condition

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/choreohq/choreo/event"
)

// Context supplies the variables a condition may read. The engine
// implements it; each method is called only when a compiled condition
// refers to the matching variable, so context a condition does not use is
// never built.
//
// Data may return JSON already decoded (map[string]any, []any, float64,
// string, bool or nil, as encoding/json produces) or the JSON text itself
// as a json.RawMessage (or a *json.RawMessage, which an interface holds
// without allocating), which must be well-formed; raw text is decoded only
// as far as the condition reads it. Either must not change during the
// evaluation.
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

// Limits of conditions.
const (
	// DefaultMaxCost is the cost limit used when Options.MaxCost is zero.
	// A cost unit is roughly one step of evaluation: reading a variable or
	// a field, comparing two values, one iteration of a macro such as
	// exists. One unit takes a few nanoseconds, so the default bounds one
	// evaluation to well under a millisecond.
	DefaultMaxCost = 100_000

	// MaxRecentEvents is the length of `recent_events`; longer lists are
	// cut to their last MaxRecentEvents events.
	MaxRecentEvents = 10

	// MaxCorrelatedEvents is the largest length of `correlated_events`;
	// longer lists are cut to their last MaxCorrelatedEvents events. The
	// compile-time cost estimate relies on it.
	MaxCorrelatedEvents = 1000

	// SizeHint is the size the compile-time cost estimate assumes for any
	// other string, list or map whose size is not known before evaluation,
	// such as a list inside the event's data. The run-time limit applies
	// to the real sizes.
	SizeHint = 1000

	// MaxLength is the largest condition accepted, in bytes.
	MaxLength = 16 << 10
)

// Options tune compilation and evaluation. The zero value works.
type Options struct {
	// MaxCost is the largest estimated cost accepted at compile time and
	// the run-time cost limit of one evaluation. Zero means DefaultMaxCost.
	MaxCost uint64
}

// Issue is one problem found in a condition, positioned in its text.
// Line and Col are 1-based; zero when unknown. Col counts characters
// (Unicode code points), not bytes.
type Issue struct {
	Line, Col int
	Msg       string
}

// String formats the issue as "line:col: message".
func (i Issue) String() string {
	if i.Line == 0 {
		return i.Msg
	}
	return fmt.Sprintf("%d:%d: %s", i.Line, i.Col, i.Msg)
}

// Program is a compiled condition, safe for concurrent use.
//
// A nil *Program behaves as a condition that always matches.
type Program struct {
	text    string
	always  bool
	uses    Var
	cost    [2]uint64 // estimated min and max
	maxCost uint64
	tracked bool // whether evaluation tracks cost
	prg     cel.Program
	native  *nativeProgram // the condition evaluated without CEL when its shape allows; nil otherwise
}

// Compile parses, type-checks and cost-checks expr. An empty expression or
// "true" compiles to a condition that always matches. On failure it returns
// every issue found.
func Compile(expr string, opts Options) (*Program, []Issue) {
	maxCost := opts.MaxCost
	if maxCost == 0 {
		maxCost = DefaultMaxCost
	}
	if len(expr) > MaxLength {
		return nil, []Issue{{Line: 1, Col: 1, Msg: fmt.Sprintf("condition is %d bytes long; the limit is %d", len(expr), MaxLength)}}
	}
	if t := strings.TrimSpace(expr); t == "" || t == "true" {
		return &Program{text: expr, always: true, maxCost: maxCost}, nil
	}
	ast, iss := theEnv.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, issues(iss)
	}
	start := startOf(expr)
	if out := ast.OutputType(); !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
		return nil, []Issue{{Line: start.Line, Col: start.Col,
			Msg: fmt.Sprintf("condition must be a bool expression, but its type is %s", out)}}
	}
	est, err := theEnv.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, []Issue{{Line: start.Line, Col: start.Col, Msg: "estimating cost: " + err.Error()}}
	}
	if est.Max > maxCost {
		return nil, []Issue{{Line: start.Line, Col: start.Col,
			Msg: fmt.Sprintf("condition is too expensive: its estimated cost is up to %s, the limit is %d", costString(est.Max), maxCost)}}
	}
	popts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	// Tracking cost at run time roughly doubles the time of a simple
	// condition. It is needed only when the cost may depend on the size of
	// values in the event, which the estimate cannot bound.
	bound, err := theEnv.EstimateCost(ast, boundEstimator{})
	if err != nil || bound.Max > maxCost {
		popts = append(popts, cel.CostLimit(maxCost))
	}
	prg, err := theEnv.Program(ast, popts...)
	if err != nil {
		return nil, []Issue{{Line: start.Line, Col: start.Col, Msg: err.Error()}}
	}
	p := &Program{text: expr, maxCost: maxCost, prg: prg, cost: [2]uint64{est.Min, est.Max}, tracked: len(popts) > 1}
	if !p.tracked {
		p.native = compileNative(ast.NativeRep())
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Value == nil {
			p.uses |= varNames[ref.Name]
		}
	}
	return p, nil
}

func costString(c uint64) string {
	if c == ^uint64(0) {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

// startOf returns the position of the first character of expr that is not
// white space: where issues about the whole expression point.
func startOf(expr string) Issue {
	pos := Issue{Line: 1, Col: 1}
	for _, r := range expr {
		switch r {
		case '\n':
			pos.Line++
			pos.Col = 1
		case ' ', '\t', '\r':
			pos.Col++
		default:
			return pos
		}
	}
	return pos
}

// hints add advice to messages about mistakes users coming from Python
// make.
var hints = map[string]string{
	"undeclared reference to 'True'":  "CEL writes true",
	"undeclared reference to 'False'": "CEL writes false",
	"undeclared reference to 'None'":  "CEL writes null",
	"undeclared reference to 'len'":   "CEL writes size(x) or x.size()",
}

func issues(iss *cel.Issues) []Issue {
	var out []Issue
	for _, e := range iss.Errors() {
		is := Issue{Msg: e.Message}
		if line := e.Location.Line(); line > 0 {
			is.Line, is.Col = line, e.Location.Column()+1
		}
		for prefix, hint := range hints {
			if strings.HasPrefix(is.Msg, prefix) {
				is.Msg += " (" + hint + ")"
			}
		}
		if strings.HasPrefix(is.Msg, "undeclared reference to 'get'") || strings.Contains(is.Msg, "no matching overload for 'get'") {
			is.Msg += " (write data.?key.orValue(default) for Python's data.get('key', default))"
		}
		out = append(out, is)
	}
	if len(out) == 0 {
		out = append(out, Issue{Msg: iss.Err().Error()})
	}
	return out
}

// Uses reports the variables the condition refers to.
func (p *Program) Uses() Var {
	if p == nil {
		return 0
	}
	return p.uses
}

// Always reports whether the condition always matches (empty or "true"), so
// callers may skip evaluation.
func (p *Program) Always() bool { return p == nil || p.always }

// Cost returns the estimated minimum and maximum cost of one evaluation.
func (p *Program) Cost() (min, max uint64) {
	if p == nil {
		return 0, 0
	}
	return p.cost[0], p.cost[1]
}

// Eval evaluates the condition. A result that is not a bool, a run-time
// error or a cost over the limit returns an error; callers count it as no
// match. Errors wrap ErrEval, ErrNotBool or ErrCostLimit.
//
// Conditions of the commonest shapes (fields of data compared with
// literals, has, orValue, and the logical operators over them) are
// evaluated straight on the JSON text of data when Context.Data returns
// it raw; whatever that cannot decide with certainty, errors included,
// is left to CEL, so the results are CEL's in every case.
func (p *Program) Eval(ctx Context) (bool, error) {
	if p == nil || p.always {
		return true, nil
	}
	if ctx == nil {
		return false, ErrNilContext
	}
	if p.native != nil {
		if ok, decided := p.native.eval(ctx.Data()); decided {
			return ok, nil
		}
	}
	return p.evalCEL(ctx)
}

// evalCEL evaluates the condition with the CEL interpreter.
func (p *Program) evalCEL(ctx Context) (bool, error) {
	a := getActivation(ctx)
	defer putActivation(a)
	out, _, err := p.prg.Eval(a)
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return false, fmt.Errorf("%w: more than %d", ErrCostLimit, p.maxCost)
		}
		return false, fmt.Errorf("%w: %w", ErrEval, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%w: got %s", ErrNotBool, out.Type().TypeName())
	}
	return bool(b), nil
}

// String returns the source text of the condition.
func (p *Program) String() string {
	if p == nil {
		return ""
	}
	return p.text
}
