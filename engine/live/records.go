package live

import (
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// The system streams and records the runner writes.
const (
	// ActionsStream is the outbox: one ActionEventType event per action.
	ActionsStream = "$actions"
	// TimersStream holds the clock events of live timers.
	TimersStream = "$timers"
	// ActionEventType is the type of an action's event in ActionsStream.
	ActionEventType = "choreo.action"
	// ActionSource is the source of action events. It is fixed, not
	// configured, so that every runner writes byte-identical events for
	// one action and the store keeps them once.
	ActionSource = "choreo/engine"
	// TimerSource is the source of clock events, fixed for the same
	// reason.
	TimerSource = "choreo/clock"
)

// ActionEvent returns the event that records a in ActionsStream: id a.ID,
// time a.Time, causationid the last trigger event, correlationid
// a.CorrelationID, hops a.Hops, and data the action as JSON. It depends on
// a alone, so re-deriving an action gives the same event.
func ActionEvent(a *engine.Action) *event.Event {
	ev := &event.Event{
		SpecVersion:     event.SpecVersion,
		ID:              a.ID,
		Source:          ActionSource,
		Type:            ActionEventType,
		Time:            a.Time,
		DataContentType: "application/json",
		Data:            a.AppendJSON(nil),
		CorrelationID:   a.CorrelationID,
		Hops:            a.Hops,
	}
	if !event.UsableID(a.CorrelationID) {
		// An event logged before correlation ids were bounded: the record
		// is its own correlation; its data keeps the action's.
		ev.CorrelationID = ""
	}
	if n := len(a.TriggerEventIDs); n > 0 {
		ev.CausationID = a.TriggerEventIDs[n-1]
	}
	return ev
}

// TimerEventID returns the id of the clock event for time t:
// "choreo.timer:" and t in UTC as RFC 3339 with nanoseconds.
func TimerEventID(t time.Time) string {
	return engine.TimerEventType + ":" + t.UTC().Format(time.RFC3339Nano)
}

// TimerEvent returns the clock event for time t, a pure function of t:
// its id is TimerEventID(t), its time t and its data {"due": t}.
func TimerEvent(t time.Time) *event.Event {
	t = t.UTC()
	data := append([]byte(`{"due":"`), t.Format(time.RFC3339Nano)...)
	return &event.Event{
		SpecVersion:     event.SpecVersion,
		ID:              TimerEventID(t),
		Source:          TimerSource,
		Type:            engine.TimerEventType,
		Time:            t,
		DataContentType: "application/json",
		Data:            append(data, `"}`...),
	}
}
