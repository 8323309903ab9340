package engine

import (
	"encoding/json"
	"time"

	"github.com/choreohq/choreo/event"
)

// Analysis summarises a set of events, typically one correlation's.
type Analysis struct {
	EventCount      int            // how many events
	Duration        time.Duration  // from the earliest to the latest event time
	EventTypes      map[string]int // events per type
	UniqueSources   int            // distinct non-empty sources
	AverageInterval time.Duration  // Duration / (EventCount-1); zero for fewer than two events
}

// MarshalJSON encodes the analysis with the course's field names and
// durations in seconds: event_count, duration_seconds, event_types,
// unique_sources, average_interval.
func (a Analysis) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		EventCount      int            `json:"event_count"`
		Duration        float64        `json:"duration_seconds"`
		EventTypes      map[string]int `json:"event_types"`
		UniqueSources   int            `json:"unique_sources"`
		AverageInterval float64        `json:"average_interval"`
	}{a.EventCount, a.Duration.Seconds(), a.EventTypes, a.UniqueSources, a.AverageInterval.Seconds()})
}

// Analyze summarises events. Events without a time count everywhere but
// in Duration. The engine keeps no history, so the events come from the
// caller, e.g. a store's stream of one correlation.
func Analyze(events []*event.Event) Analysis {
	a := Analysis{EventTypes: make(map[string]int)}
	sources := make(map[string]struct{})
	var lo, hi time.Time
	for _, ev := range events {
		a.EventCount++
		a.EventTypes[ev.Type]++
		if ev.Source != "" {
			sources[ev.Source] = struct{}{}
		}
		if ev.Time.IsZero() {
			continue
		}
		if lo.IsZero() || ev.Time.Before(lo) {
			lo = ev.Time
		}
		if hi.IsZero() || ev.Time.After(hi) {
			hi = ev.Time
		}
	}
	a.UniqueSources = len(sources)
	a.Duration = hi.Sub(lo)
	if a.EventCount > 1 {
		a.AverageInterval = a.Duration / time.Duration(a.EventCount-1)
	}
	return a
}

// AnalyzeCorrelations groups events by correlation and analyses each
// group.
func AnalyzeCorrelations(events []*event.Event) map[string]Analysis {
	groups := make(map[string][]*event.Event)
	for _, ev := range events {
		k := ev.Correlation()
		groups[k] = append(groups[k], ev)
	}
	out := make(map[string]Analysis, len(groups))
	for k, g := range groups {
		out[k] = Analyze(g)
	}
	return out
}
