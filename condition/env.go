package condition

import (
	"reflect"
	"sort"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"

	"github.com/choreohq/choreo/event"
)

// eventTypeName is the CEL type name of an event view.
const eventTypeName = "choreo.Event"

// eventCELType is the CEL type of the `event` variable and of the elements
// of `recent_events` and `correlated_events`.
var eventCELType = types.NewObjectType(eventTypeName)

var eventPtrType = reflect.TypeFor[*event.Event]()

// eventField describes one field of the event view: its CEL type, whether
// it is set on an event and how to read it.
type eventField struct {
	t     *types.Type
	isSet func(e *event.Event) bool
	get   func(e *event.Event) ref.Val
}

// eventFields are the fields of the event view. event_type, source_agent,
// event_id and timestamp are the names the course used.
var eventFields = map[string]eventField{
	"id":              stringField(func(e *event.Event) string { return e.ID }),
	"event_id":        stringField(func(e *event.Event) string { return e.ID }),
	"type":            stringField(func(e *event.Event) string { return e.Type }),
	"event_type":      stringField(func(e *event.Event) string { return e.Type }),
	"source":          stringField(func(e *event.Event) string { return e.Source }),
	"source_agent":    stringField(func(e *event.Event) string { return e.Source }),
	"subject":         stringField(func(e *event.Event) string { return e.Subject }),
	"datacontenttype": stringField(func(e *event.Event) string { return e.DataContentType }),
	"dataschema":      stringField(func(e *event.Event) string { return e.DataSchema }),
	"correlation_id":  stringField(func(e *event.Event) string { return e.Correlation() }),
	"causation_id":    stringField(func(e *event.Event) string { return e.CausationID }),
	"time":            timeField(),
	"timestamp":       timeField(),
	"hops": {
		t:     types.IntType,
		isSet: func(e *event.Event) bool { return e.Hops != 0 },
		get:   func(e *event.Event) ref.Val { return types.Int(e.Hops) },
	},
	"data": {
		t:     types.DynType,
		isSet: func(e *event.Event) bool { return e.Data != nil || e.DataBase64 != nil },
		get:   eventData,
	},
}

func stringField(f func(e *event.Event) string) eventField {
	return eventField{
		t:     types.StringType,
		isSet: func(e *event.Event) bool { return f(e) != "" },
		get:   func(e *event.Event) ref.Val { return types.String(f(e)) },
	}
}

func timeField() eventField {
	return eventField{
		t:     types.TimestampType,
		isSet: func(e *event.Event) bool { return !e.Time.IsZero() },
		get:   func(e *event.Event) ref.Val { return types.Timestamp{Time: e.Time} },
	}
}

// eventData is the data of an event as a CEL value: JSON data lazily
// decoded, binary data as bytes, and null when absent.
func eventData(e *event.Event) ref.Val {
	switch {
	case e.Data != nil:
		return jsonValue(e.Data)
	case e.DataBase64 != nil:
		return types.Bytes(e.DataBase64)
	default:
		return types.NullValue
	}
}

// provider is the environment's type provider and adapter: the standard
// registry plus the event view type.
type provider struct {
	*types.Registry
	fieldNames []string
	fieldTypes map[string]*types.FieldType
}

func newProvider() *provider {
	reg, err := types.NewRegistry()
	if err != nil {
		panic("condition: building the type registry: " + err.Error())
	}
	p := &provider{Registry: reg, fieldTypes: make(map[string]*types.FieldType)}
	for name, f := range eventFields {
		p.fieldNames = append(p.fieldNames, name)
		p.fieldTypes[name] = &types.FieldType{
			Type: f.t,
			IsSet: func(target any) bool {
				e := asEvent(target)
				return e != nil && f.isSet(e)
			},
			GetFrom: func(target any) (any, error) {
				e := asEvent(target)
				if e == nil {
					return nil, errNoEvent
				}
				return f.get(e), nil
			},
		}
	}
	sort.Strings(p.fieldNames)
	return p
}

func asEvent(v any) *event.Event {
	switch v := v.(type) {
	case *event.Event:
		return v
	case eventVal:
		return v.e
	}
	return nil
}

// FindStructType implements types.Provider.
func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if name == eventTypeName {
		return types.NewTypeTypeWithParam(eventCELType), true
	}
	return p.Registry.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if name == eventTypeName {
		return p.fieldNames, true
	}
	return p.Registry.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider.
func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name == eventTypeName {
		ft, ok := p.fieldTypes[field]
		return ft, ok
	}
	return p.Registry.FindStructFieldType(name, field)
}

// NewValue implements types.Provider. Event views cannot be built in a
// condition.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == eventTypeName {
		return types.NewErr("%s values cannot be created in a condition", eventTypeName)
	}
	return p.Registry.NewValue(name, fields)
}

// NativeToValue implements types.Adapter, adding events and raw JSON.
func (p *provider) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case *event.Event:
		if v == nil {
			return types.NullValue
		}
		return eventVal{v}
	case []*event.Event:
		return types.NewDynamicList(p, v)
	case eventVal:
		return v
	}
	return p.Registry.NativeToValue(v)
}

// eventVal is the CEL value of an event view.
type eventVal struct{ e *event.Event }

// ConvertToNative implements ref.Val.
func (v eventVal) ConvertToNative(t reflect.Type) (any, error) {
	if t == eventPtrType {
		return v.e, nil
	}
	return nil, errConvert(eventTypeName, t.String())
}

// ConvertToType implements ref.Val.
func (v eventVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return eventCELType
	case eventCELType:
		return v
	}
	return types.NewErr("type conversion error from '%s' to '%s'", eventTypeName, t)
}

// Equal implements ref.Val: two views are equal when their events have the
// same id.
func (v eventVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(eventVal)
	return types.Bool(ok && (o.e == v.e || o.e.ID == v.e.ID))
}

// Type implements ref.Val.
func (v eventVal) Type() ref.Type { return eventCELType }

// Value implements ref.Val.
func (v eventVal) Value() any { return v.e }

// Get implements traits.Indexer, for dynamic field access.
func (v eventVal) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "no such overload")
	}
	f, ok := eventFields[string(name)]
	if !ok {
		return types.NewErr("no such field '%s'", name)
	}
	return f.get(v.e)
}

// IsSet implements traits.FieldTester.
func (v eventVal) IsSet(field ref.Val) ref.Val {
	name, ok := field.(types.String)
	if !ok {
		return types.ValOrErr(field, "no such overload")
	}
	f, ok := eventFields[string(name)]
	if !ok {
		return types.NewErr("no such field '%s'", name)
	}
	return types.Bool(f.isSet(v.e))
}

// The variables of the condition context, by name.
const (
	nameEvent            = "event"
	nameData             = "data"
	nameSource           = "source"
	nameTimestamp        = "timestamp"
	nameCorrelationID    = "correlation_id"
	nameRecentEvents     = "recent_events"
	nameCorrelatedEvents = "correlated_events"
	nameEventCount       = "event_count"
	nameSourceEventCount = "source_event_count"
)

// varNames maps variable names to their bit.
var varNames = map[string]Var{
	nameEvent:            VarEvent,
	nameData:             VarData,
	nameSource:           VarSource,
	nameTimestamp:        VarTimestamp,
	nameCorrelationID:    VarCorrelationID,
	nameRecentEvents:     VarRecentEvents,
	nameCorrelatedEvents: VarCorrelatedEvents,
	nameEventCount:       VarEventCount,
	nameSourceEventCount: VarSourceEventCount,
}

// theProvider and theEnv are shared by every program; both are immutable
// once built.
var (
	theProvider *provider
	theEnv      *cel.Env
)

func init() {
	theProvider = newProvider()
	theEnv = mustEnv()
}

func mustEnv() *cel.Env {
	listOfEvents := cel.ListType(cel.ObjectType(eventTypeName))
	env, err := cel.NewEnv(
		cel.CustomTypeProvider(theProvider),
		cel.CustomTypeAdapter(theProvider),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.Variable(nameEvent, cel.ObjectType(eventTypeName)),
		cel.Variable(nameData, cel.DynType),
		cel.Variable(nameSource, cel.StringType),
		cel.Variable(nameTimestamp, cel.TimestampType),
		cel.Variable(nameCorrelationID, cel.StringType),
		cel.Variable(nameRecentEvents, listOfEvents),
		cel.Variable(nameCorrelatedEvents, listOfEvents),
		cel.Variable(nameEventCount, cel.IntType),
		cel.Variable(nameSourceEventCount, cel.IntType),
	)
	if err != nil {
		panic("condition: building the CEL environment: " + err.Error())
	}
	return env
}
