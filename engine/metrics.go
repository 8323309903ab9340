package engine

// counters are the engine's own metrics.
type counters struct {
	events, duplicates, timerEvents, actions int64
	activeSequences                          int
	completedSequences, expiredSequences     int64
	correlationsIdled, correlationsEvicted   int64
	timersDropped, sourcesCapped             int64
}

// Metrics is a snapshot of an engine's counters and gauges.
type Metrics struct {
	EventsProcessed     int64         `json:"events_processed"`     // events evaluated (not duplicates or timer events)
	DuplicateEvents     int64         `json:"duplicate_events"`     // events ignored as duplicates
	TimerEvents         int64         `json:"timer_events"`         // TimerEventType events processed
	Actions             int64         `json:"actions"`              // actions emitted
	ActiveSequences     int           `json:"active_sequences"`     // partial sequences held
	CompletedSequences  int64         `json:"completed_sequences"`  // sequences that fired
	ExpiredSequences    int64         `json:"expired_sequences"`    // partial sequences dropped for a gap over max_interval
	ActiveCorrelations  int           `json:"active_correlations"`  // correlations holding state
	PartialMatches      int           `json:"partial_matches"`      // partial matches of every kind held
	PendingTimers       int           `json:"pending_timers"`       // absences waiting for their timeout
	CorrelationsIdled   int64         `json:"correlations_idled"`   // correlations evicted after IdleTimeout of quiet
	CorrelationsEvicted int64         `json:"correlations_evicted"` // correlations evicted by the MaxCorrelations cap
	TimersDropped       int64         `json:"timers_dropped"`       // pending absences lost to an eviction
	SourcesCapped       int64         `json:"sources_capped"`       // events whose source was past the MaxSources cap
	ConditionErrors     int64         `json:"condition_errors"`     // the sum over rules
	PartialsCapped      int64         `json:"partials_capped"`      // the sum over rules
	Rules               []RuleMetrics `json:"rules,omitempty"`      // per rule, in declaration order
}

// RuleMetrics are one rule's counters.
type RuleMetrics struct {
	Choreography    string `json:"choreography"`
	RuleID          string `json:"rule_id"`
	Kind            string `json:"kind"`
	Action          string `json:"action"`
	Triggers        int64  `json:"triggers"`         // actions emitted
	ConditionErrors int64  `json:"condition_errors"` // evaluations that failed, counted as no match
	MissingKeys     int64  `json:"missing_keys"`     // events lacking a correlation key, or whose keys made no usable correlation id; the event's correlation was used
	PartialsCapped  int64  `json:"partials_capped"`  // partial matches not started because of MaxPartials
}

// Metrics returns a snapshot of the engine's metrics.
func (e *Engine) Metrics() Metrics {
	m := Metrics{
		EventsProcessed:     e.m.events,
		DuplicateEvents:     e.m.duplicates,
		TimerEvents:         e.m.timerEvents,
		Actions:             e.m.actions,
		ActiveSequences:     e.m.activeSequences,
		CompletedSequences:  e.m.completedSequences,
		ExpiredSequences:    e.m.expiredSequences,
		ActiveCorrelations:  e.corrs.n,
		PartialMatches:      e.partials,
		PendingTimers:       len(e.timers.heap),
		CorrelationsIdled:   e.m.correlationsIdled,
		CorrelationsEvicted: e.m.correlationsEvicted,
		TimersDropped:       e.m.timersDropped,
		SourcesCapped:       e.m.sourcesCapped,
		Rules:               make([]RuleMetrics, len(e.rules)),
	}
	for i, r := range e.rules {
		m.Rules[i] = RuleMetrics{
			Choreography: r.chor, RuleID: r.id, Kind: r.kind, Action: r.action,
			Triggers: r.triggers, ConditionErrors: r.condErrors,
			MissingKeys: r.missingKeys, PartialsCapped: r.capped,
		}
		m.ConditionErrors += r.condErrors
		m.PartialsCapped += r.capped
	}
	return m
}
