package condition

import (
	"encoding/json"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/choreohq/choreo/event"
)

// activation resolves the context variables on demand: a Context method
// runs only when the program reads its variable.
type activation struct{ ctx Context }

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case nameData:
		return dataValue(a.ctx.Data()), true
	case nameEvent:
		if e := a.ctx.Event(); e != nil {
			return eventVal{e}, true
		}
		return types.NullValue, true
	case nameSource:
		if e := a.ctx.Event(); e != nil {
			return types.String(e.Source), true
		}
		return types.String(""), true
	case nameTimestamp:
		return types.Timestamp{Time: a.ctx.Timestamp()}, true
	case nameCorrelationID:
		if e := a.ctx.Event(); e != nil {
			return types.String(e.Correlation()), true
		}
		return types.String(""), true
	case nameRecentEvents:
		return eventList(a.ctx.RecentEvents(), MaxRecentEvents), true
	case nameCorrelatedEvents:
		return eventList(a.ctx.CorrelatedEvents(), MaxCorrelatedEvents), true
	case nameEventCount:
		return types.Int(a.ctx.EventCount()), true
	case nameSourceEventCount:
		return types.Int(a.ctx.SourceEventCount()), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// dataValue returns the value of `data`. Decoded JSON goes to the
// interpreter as it is: it reads maps of type map[string]any natively,
// without converting them.
func dataValue(d any) any {
	switch d := d.(type) {
	case nil:
		return types.NullValue
	case json.RawMessage:
		return jsonValue(d)
	}
	return d
}

// eventList returns the last max events as a CEL list.
func eventList(evs []*event.Event, max int) ref.Val {
	if len(evs) > max {
		evs = evs[len(evs)-max:]
	}
	return types.NewDynamicList(theProvider, evs)
}
