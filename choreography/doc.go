// Package choreography loads and validates choreographies: named sets of
// rules, written in YAML or JSON, that say which events call for which
// actions.
//
// A choreography has three kinds of rule:
//
//   - patterns fire an action on each event of a type whose CEL condition
//     holds;
//   - sequences fire when event types arrive in order within one
//     correlation, each step within max_interval of the one before;
//   - complex_patterns cover time windows, thresholds, state transitions
//     and the absence of an expected event.
//
// Parse and LoadFile read a document, fill in defaults (priority 1,
// max_interval 60s, group_by correlation), derive the ids left out,
// compile every condition with package condition, and check everything.
// When something is wrong they return Problems: every problem found, each
// with its rule, field, line, column and a stable code, so that a user
// can fix a file in one pass.
//
// The reference for the file format is docs/choreography.md in the
// repository.
package choreography
