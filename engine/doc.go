// Package engine matches events against choreographies and decides
// actions: a deterministic fold over an ordered log of events.
//
// New compiles the rules of one or more choreographies and indexes them
// by event type, so each event is checked only against the rules that
// name its type (and the "*" patterns). Process takes one event and
// returns the actions it causes; Advance and Flush fire timers. The server,
// the offline runner (choreo run) and Go programs embed the engine alike.
//
// # Determinism
//
// The engine never reads the wall clock. Time is event time: windows,
// intervals and timeouts compare the events' "time" attributes. The
// engine's clock is the latest event time it has seen; an event without a
// time takes the clock. Processing an event first fires the timers due
// strictly before its time; Advance(t) fires those due at or before t. In
// live mode a clock appends events of type TimerEventType to the log when
// NextTimer is due, so replaying the log repeats every firing. Each
// action's ID derives from the choreography, the rule and the trigger
// event ids (ActionID), so the same events in the same order give the
// same actions with the same ids.
//
// # Semantics
//
// Patterns: every pattern whose event_type (or "*") and condition match
// fires. The actions of one event come highest priority first, ties in
// declaration order: choreographies in the order given to New, and within
// one, patterns, then sequences, then complex patterns, each in file
// order. A condition that fails at run time counts as no match and in
// RuleMetrics.ConditionErrors. A pattern with correlation_keys gives its
// action the values of those data fields, joined with "|"; when one is
// absent or null, or the values joined would not make a correlation id
// (empty, over event.MaxAttributeLen bytes, or with a control character), the
// action keeps the event's correlation and RuleMetrics.MissingKeys counts
// it.
//
// Sequences advance per (sequence, correlation) only on the next expected
// type; other events are ignored. A gap larger than max_interval between
// two steps (by event time; a gap of exactly max_interval is allowed, a
// negative one counts as none) makes the partial match dead: it is
// dropped when the next event of one of the sequence's types arrives, and
// if that event is the sequence's first step it starts a new match. A
// first step while a live match is in progress is ignored. Completion
// fires the action, with the ids of every step, and removes the state.
//
// Complex patterns:
//   - temporal_sequence fires on trigger_event when every required event
//     has been seen in the correlation no longer than time_window before
//     it (the latest of each type counts); firing consumes them.
//   - threshold_pattern counts events of event_type in a sliding window of
//     time_window (inclusive), per correlation or globally (group_by); it
//     fires when the count reaches threshold, and the window then starts
//     empty, so it fires once per threshold events.
//   - state_transition fires on each event of event_type whose condition
//     holds, as a pattern does.
//   - absence starts waiting on event_type, per correlation (the first
//     starting event sets the deadline; later ones do not move it), and
//     fires when expected_event has not arrived in the correlation by
//     timeout later. An expected event exactly at the deadline counts.
//     The action's time is the deadline and its trigger the starting event.
//
// Duplicates: an event whose id is among the last Config.DedupWindow ids
// is ignored and counted in Metrics.DuplicateEvents. The store already
// accepts an id once; this guards replays and offline files.
//
// # Bounded state
//
// State lives per correlation and is removed when a match completes,
// expires or fires. A correlation that goes quiet (no event of it) for
// longer than Config.IdleTimeout, by the engine clock, is evicted with all
// it holds; the default is the longest window, interval or timeout of any
// rule, past which nothing it holds can matter. Hard caps on correlations
// and partial matches bound the rest, and metrics count when they bite.
// Memory therefore follows the number of correlations in flight, not the
// number ever seen.
//
// # Concurrency
//
// An Engine is not safe for concurrent use. Run one per partition of the
// log, each fed by one goroutine.
package engine
