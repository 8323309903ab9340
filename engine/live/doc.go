// Package live runs an engine.Engine over the log: the deterministic fold
// of DESIGN's invariants 2 and 3, kept up to date as events arrive.
//
// A Runner subscribes to the store from global position 0 and gives every
// user event to the engine in log order. Records of the system streams
// (those whose name starts with "$") are the runner's own output and are
// skipped, except the clock events of TimersStream, which move the
// engine's clock. Each action the engine decides is appended to
// ActionsStream as one event of type ActionEventType whose id is the
// action's id, before anything can dispatch it: a dispatcher reads actions
// from the log (see Outbox), never from the engine. The runner keeps
// several appends of actions on their way at once, deferred
// (store.DeferredAppender: an append of actions shares the fsync of the
// appends after it rather than waiting for one of its own); they land in
// the order decided, except that an append that fails and is retried
// lands after those that followed it.
//
// # Restart and replay
//
// A new Runner, with a new engine, replays the whole log and derives the
// same actions with the same ids, in the same order. The store accepts an
// event id once, forever, and gives a repeat its original position back,
// so appending a re-derived action changes nothing: restart, replay, a
// crash between deciding and appending, and two runners over one log all
// leave each action exactly once in ActionsStream.
//
// An event with no time is given to the engine with the time the log
// recorded it (store.Record.Recorded), which the log keeps, so a replay
// places it at the same moment.
//
// # Timers
//
// The engine never reads the wall clock. The runner watches
// engine.NextTimer with a Clock; once the clock passes the due time (plus
// Config.TimerDelay) and the runner has caught up with the log, it appends
// an engine.TimerEventType event to TimersStream whose time is the due
// time and whose id derives from it (TimerEventID). The engine fires the
// timer when that event comes back through the subscription, so a replay
// fires it at the same place in the log. Two runners due at the same time
// append the same event, which the store keeps once.
//
// # Concurrency
//
// Run blocks and owns the engine while it runs: nothing else may use the
// engine until Run returns. Metrics and Close are safe for concurrent use.
package live
