// Package dispatch delivers the actions the engine decides to agents that
// can perform them: the outbox's consumer, with retries, circuit breakers
// and a dead-letter queue.
//
// # Flow
//
// A Dispatcher follows the outbox (live.ActionsStream) in log order. For
// each action it finds agents with the action's capability in its
// Directory (the registry: live, active, not overloaded, least loaded
// first), takes a slot at the first one whose circuit breaker is closed and
// whose in-flight bound is not reached, and hands the action to the
// Transport of the agent's protocol: A2A, webhook, or InProcess. Up to
// Config.MaxInFlight workers deliver actions, and up to Config.MaxParked
// actions whose capability no live agent has wait for one outside them
// (each agent still takes at most Config.MaxPerAgent at once); when all
// are in use the dispatcher stops reading the outbox, which then grows in
// the log: ingest and the engine never wait for agents.
//
// # Reliability
//
// Each attempt has a deadline: the rule's `timeout`, or Config.Timeout. A
// failed attempt is retried after an exponential backoff with jitter, with
// whichever agent is then best, up to Config.MaxAttempts. Consecutive
// failures at one agent open its circuit breaker; while it is open the
// other agents with the capability take the work, and after
// Config.BreakerOpen a trial attempt decides whether it closes. An action
// that finds no usable agent within Config.AgentWait, that every attempt
// failed, that an agent refused for good (a Permanent error), or whose
// events would exceed Config.MaxHops (a loop) goes to the dead-letter
// queue, from where it can be retried or discarded.
//
// # The log is the dispatcher's memory
//
// Every failed attempt (AttemptType) and every delivery (in a DeliveredType
// record, which groups the deliveries recorded together) is appended to the
// outbox stream after the action it is about; dead letters
// and what is done with them to DeadLetterStream. The events an agent gives
// back are appended to the action's correlation stream before the
// delivery record, with ids derived from the action id. On start, Run
// replays both streams: an action with no delivery or dead letter after it
// is delivered again, with the same action id, which every transport sends
// as the idempotency key. So after a crash an action may reach its agent
// twice, never with two different keys, and never is lost: delivery is
// effectively once for an agent that deduplicates by key.
package dispatch
