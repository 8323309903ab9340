// Package a2a delivers actions to agents that speak the Agent2Agent (A2A)
// protocol, version 0.3, over its JSON-RPC binding, and reads their agent
// cards. It is the dispatch.Transport of agents whose profile has protocol
// agent.ProtocolA2A.
//
// # Delivery
//
// Transport.Deliver sends each action with message/send to the agent's
// endpoint (its A2A service URL). The message has role "user", messageId
// the action id (the same on every attempt, so an agent can tell a retry
// from new work), contextId the correlation id, and one data part:
//
//	{
//	  "action": "reserve_stock",
//	  "payload": {"trigger_event": {…}, "pattern": "…", "choreography_context": {…}},
//	  "trigger_event": {…},           // the trigger CloudEvent; absent when the log no longer has it
//	  "choreography_context": {…},    // a copy of payload.choreography_context
//	  "message_id": "…", "sender_id": "…", "recipient_id": "…",
//	  "capabilities_required": ["…"], "priority": "HIGH" | "NORMAL",
//	  "correlation_id": "…", "timestamp": "…", "hops": 2, "attempt": 1
//	}
//
// "payload" is dispatch.Payload, the body of the course's A2AMessage; the
// top-level "trigger_event" and "choreography_context" repeat it for agents
// that look there first. The message metadata carries choreo.action_id,
// choreo.action, choreo.attempt, choreo.hops and choreo.priority.
//
// The message is sent non-blocking: the agent answers as soon as it has
// created a task, and the transport follows the task with tasks/get,
// waiting Config.PollInterval (200 ms) before the first poll and doubling
// the wait up to Config.MaxPollInterval (2 s), until the task ends or the
// attempt's deadline passes. No HTTP request is held open while the agent
// works, so long tasks survive proxies and idle timeouts, and a lost poll
// is simply made again. Streaming (message/stream) is not used: it would
// need the agent to declare it and would hold a connection per task.
//
// An attempt whose deadline passes while the task is still working leaves
// the task to the agent, and the Transport remembers it (up to 10,000 such
// tasks): the next attempt for the same action at the same endpoint
// follows that task with tasks/get instead of sending the work again. The
// error of such an attempt is a *dispatch.InProgress naming the task; the
// dispatcher records the name with the failed attempt and passes it back
// in Delivery.Task, so the task is followed after a restart too, by a
// Transport that remembers nothing. Only if the agent no longer knows the
// task is the message sent anew. When the dispatcher gives up on the
// action instead, it calls Cancel (dispatch.Canceler), which asks the
// agent to cancel the task with tasks/cancel and forgets it.
//
// # Outcomes
//
// A reply that is a message, or a task that completes, gives one event of
// type "<action>.completed" with data Completed: the data of the data parts
// (the task's artifacts, or the reply's parts) under "artifacts", the text
// parts under "text", and the task and context ids. A task that ends
// failed, rejected or canceled — or stops in input-required or
// auth-required, which no one in a choreography can answer — gives one
// event "<action>.failed" with data Failed: the state, the text of the
// status message, the task id. Either way the action was delivered, and
// Deliver returns no error. The events leave id, source, correlationid,
// causationid and hops for the dispatcher to fill.
//
// # Errors
//
// Every error is an *Error with a stable code (see Code). Errors that a
// new attempt may cure are plain: the agent unreachable, a timeout, an HTTP
// status other than 200, a body that is not JSON-RPC or is over
// Config.MaxResponseBytes, a JSON-RPC internal or server error, a task the
// agent no longer knows. JSON-RPC errors that say the request will never be
// accepted — parse error, invalid request, method not found, invalid
// params, unsupported operation or content type — and deliveries that
// cannot be sent are wrapped with dispatch.Permanent, so the dispatcher
// dead-letters the action at once.
//
// # Agent cards
//
// ResolveCard fetches an agent card from <base>/.well-known/agent-card.json
// with the SDK's resolver, bounded in size and time, and ProfileFromCard
// maps it to an agent.Profile whose capabilities are the card's skill ids.
// ResolveCard has the type of agent.CardResolver, so a registry can
// register and refresh A2A agents by their base URL.
package a2a
