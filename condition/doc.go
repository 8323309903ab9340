// Package condition compiles and evaluates the conditions of choreography
// rules. A condition is a CEL expression (https://cel.dev) that must
// yield a bool, such as
//
//	data.order_value > 1000 && source == "shop"
//	data.?retry_count.orValue(0) < 3
//	recent_events.filter(e, e.type == "payment_failed").size() >= 3
//
// Compile parses, type-checks and estimates the cost of a condition once;
// the resulting Program evaluates it many times, concurrently if need be.
// Problems found at compile time come back as Issues with 1-based line
// and column inside the expression, so that callers can point at them in
// the file the condition came from.
//
// # Context
//
// A condition reads these variables, supplied by a Context:
//
//	event               choreo.Event  the event being matched (fields below)
//	data                dyn           the event's JSON data
//	source              string        the event's source (the publishing agent)
//	timestamp           timestamp     the event's time
//	correlation_id      string        the event's correlation id, or its id when it has none
//	recent_events       list(choreo.Event)  the last 10 events, oldest first
//	correlated_events   list(choreo.Event)  the events of this correlation, oldest first
//	event_count         int           events seen in total
//	source_event_count  int           events seen from this event's source
//
// An event has the fields id, type, source, subject, time (timestamp),
// datacontenttype, dataschema, correlation_id, causation_id, hops (int)
// and data (dyn), plus the aliases event_id, event_type, source_agent and
// timestamp. Misspelled fields are reported at compile time.
//
// Variables are resolved only when a program reads them: a condition on
// data never builds the lists of recent or correlated events. Uses
// reports which variables a program reads.
//
// The optional-value syntax is enabled: data.?k.orValue(d) reads key k,
// or d when data has no such key. It is how Python's data.get('k', d)
// is written in CEL. The CEL strings extension is also available.
//
// # Evaluation without the interpreter
//
// Conditions of the commonest shapes, fields of data compared with
// literals and combined with &&, || and !, as in
//
//	data.status == "failed" || !has(data.reason)
//	data.?retry_count.orValue(0) < 3 && data.customer.vip == true
//
// are evaluated straight on the JSON text of the event's data when the
// Context hands it over raw: in half the time the CEL interpreter takes,
// or less, and without allocating unless the data's keys hold escapes.
// Such an evaluation answers only when
// it is sure of CEL's answer; anything else (a missing key, a value of
// another type than the operator takes, an escaped string, an array,
// malformed text) runs on CEL, so results and errors are always CEL's.
//
// # Errors and limits
//
// A condition whose evaluation fails, for example by reading a key the
// data lacks, yields an error wrapping ErrEval; the engine counts it as no
// match. Each program has a cost limit (Options.MaxCost, DefaultMaxCost by
// default), checked against an estimate at compile time and, unless the
// estimate proves the condition cannot exceed it, enforced during
// evaluation (ErrCostLimit).
package condition
