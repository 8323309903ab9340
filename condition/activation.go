package condition

import (
	"bytes"
	"encoding/json"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/choreohq/choreo/event"
)

// activation resolves the context variables on demand: a Context method
// runs only when the program reads its variable. Activations are reused
// (see getActivation); obj holds the view of raw JSON data, so that
// reading `data` allocates nothing.
type activation struct {
	ctx Context
	obj jsonObject
}

var activations = sync.Pool{New: func() any { return new(activation) }}

// getActivation returns an activation for ctx; putActivation returns it
// once no value of the evaluation is in use.
func getActivation(ctx Context) *activation {
	a := activations.Get().(*activation)
	a.ctx = ctx
	return a
}

func putActivation(a *activation) {
	*a = activation{}
	activations.Put(a)
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case nameData:
		return a.dataValue(a.ctx.Data()), true
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
// without converting them. A raw JSON object is viewed through a.obj.
func (a *activation) dataValue(d any) any {
	var raw []byte
	switch d := d.(type) {
	case nil:
		return types.NullValue
	case json.RawMessage:
		raw = d
	case *json.RawMessage:
		if d == nil {
			return types.NullValue
		}
		raw = *d
	default:
		return d
	}
	if b := bytes.TrimSpace(raw); len(b) > 0 && b[0] == '{' && b[len(b)-1] == '}' {
		a.obj.b = b
		return &a.obj
	}
	return jsonValue(raw)
}

// eventList returns the last max events as a CEL list.
func eventList(evs []*event.Event, max int) ref.Val {
	if len(evs) > max {
		evs = evs[len(evs)-max:]
	}
	return types.NewDynamicList(theProvider, evs)
}
