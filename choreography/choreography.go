package choreography

import (
	"sort"
	"time"

	"github.com/choreohq/choreo/condition"
)

// Choreography is a named set of rules, as loaded from one YAML or JSON
// file. Rules keep their file order.
type Choreography struct {
	Name        string
	Description string
	Patterns    []Pattern
	Sequences   []Sequence
	Complex     []Complex // the `complex_patterns` list
}

// Pattern fires its action on each event of EventType whose Condition holds.
type Pattern struct {
	ID               string // `id`, derived when omitted
	EventType        string // `event_type`; "*" matches any type
	Condition        string // `condition`, CEL; empty or "true" always matches
	Action           string // `action`
	TargetCapability string // `target_capability`
	Priority         int    // `priority`, default 1
	// CorrelationKeys (`correlation_keys`) name fields of the event's data
	// whose values, joined, key the correlation; empty means the event's
	// correlation id.
	CorrelationKeys []string
	Timeout         time.Duration // `timeout`: the action's deadline; zero means the dispatcher's default

	Program *condition.Program // the compiled Condition, never nil after loading
}

// Sequence fires when Events arrive in order within one correlation, each
// within MaxInterval of the one before.
type Sequence struct {
	ID               string        // `sequence_id`
	Events           []string      // `events`, at least two
	MaxInterval      time.Duration // `max_interval`, default 60s
	Action           string        // `action`
	TargetCapability string        // `target_capability`
	Priority         int           // `priority`, default 1
	Timeout          time.Duration // `timeout`
}

// Complex kinds.
const (
	KindTemporalSequence = "temporal_sequence"
	KindThreshold        = "threshold_pattern"
	KindStateTransition  = "state_transition"
	KindAbsence          = "absence"
)

// Complex is one entry of `complex_patterns`. Which fields apply depends
// on Type:
//
//   - temporal_sequence: TriggerEvent, RequiredEvents, TimeWindow — fires when
//     every required event has been seen in the correlation within TimeWindow
//     of the trigger.
//   - threshold_pattern: EventType, Threshold, TimeWindow, GroupBy — fires when
//     Threshold events of EventType fall within TimeWindow.
//   - state_transition: EventType, Condition.
//   - absence: EventType, ExpectedEvent, Timeout — fires when ExpectedEvent does
//     not follow EventType within Timeout in the same correlation.
type Complex struct {
	ID               string        // `id`, derived when omitted
	Type             string        // `type`, one of the Kind constants
	EventType        string        // `event_type`
	TriggerEvent     string        // `trigger_event`
	RequiredEvents   []string      // `required_events`
	ExpectedEvent    string        // `expected_event`
	TimeWindow       time.Duration // `time_window`
	Threshold        int           // `threshold`
	GroupBy          string        // `group_by`: "correlation" (default) or "global"
	Timeout          time.Duration // `timeout` (absence: how long to wait)
	Condition        string        // `condition`, CEL
	Action           string        // `action`
	TargetCapability string        // `target_capability`
	Priority         int           // `priority`, default 1

	Program *condition.Program // compiled Condition (always-true when empty), never nil after loading
}

// GroupBy values.
const (
	GroupCorrelation = "correlation"
	GroupGlobal      = "global"
)

// EventTypes returns the event types the choreography reacts to, sorted
// and without repeats: pattern event types ("*" included), sequence
// steps, and the trigger, required, counted and expected events of
// complex patterns. Engines use it to index rules by event type.
func (c *Choreography) EventTypes() []string {
	seen := map[string]bool{}
	add := func(ts ...string) {
		for _, t := range ts {
			if t != "" {
				seen[t] = true
			}
		}
	}
	for _, p := range c.Patterns {
		add(p.EventType)
	}
	for _, s := range c.Sequences {
		add(s.Events...)
	}
	for _, x := range c.Complex {
		add(x.EventType, x.TriggerEvent, x.ExpectedEvent)
		add(x.RequiredEvents...)
	}
	types := make([]string, 0, len(seen))
	for t := range seen {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}
