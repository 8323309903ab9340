// Package agent is the registry of the agents choreo hands actions to:
// their profiles, their liveness, and discovery by capability.
//
// An agent registers a Profile: an id, the capabilities it offers, the
// endpoint and protocol it is reached by, a status and a load. An A2A
// agent may instead be registered by the URL of its agent card
// (RegisterCard), whose skills become its capabilities.
//
// # The log
//
// The registry is kept in the log, in the system stream StreamAgents.
// Register and Unregister append a record (EventRegistered with the full
// profile, EventUnregistered with the id) before they change the registry
// and before they return, so Open rebuilds the same registry after a
// restart by reading the stream.
//
// Heartbeats are not logged: they come too often, and liveness is not
// worth keeping. After a restart an agent's LastHeartbeat is the time of
// its latest registration record, and its status and load are the
// registered ones; an agent that no longer sends heartbeats goes stale
// once Config.LiveWindow has passed since then, and one that does is live
// again at its next heartbeat.
//
// Each registry keeps its own state: two processes over one log see each
// other's registrations only when they Open again.
//
// # Discovery
//
// Discover, AppendDiscover and Pick follow the course's rule: an agent is
// offered work needing a set of capabilities if it has all of them, its
// status is StatusActive, its last heartbeat is within Config.LiveWindow
// (90 s by default), and its load is at most Config.MaxLoad (0.8 by
// default). The least loaded come first; among agents of equal load, the
// one least recently offered first comes first, so repeated discovery
// rotates work round-robin among equals. Agents are indexed by capability
// and discovery allocates nothing but its result, for dispatchers that
// discover once per action. Liveness compares wall-clock times, since the
// heartbeats restored from the log carry no monotonic reading.
//
// Changed returns a channel closed at the next change, and ChangedFor one
// closed at the next change to an agent with a given capability, so a
// dispatcher waiting for a capable agent wakes when one registers or
// reports in, and not at every heartbeat of the others.
//
// # Cards
//
// Run fetches the cards of agents registered by card every
// Config.CardInterval. A fetched card counts as a heartbeat, and changed
// skills are a new registration, logged. A card that cannot be fetched
// leaves the heartbeat to age, so an A2A agent that is down goes stale.
//
// # Errors
//
// Bad input is refused with an *Error naming the field at fault, with a
// stable code (CodeMissingField, CodeInvalidField, CodeNotFound, …) and
// matching ErrInvalid or ErrNotFound; Code gives the code of any error of
// the package.
//
// # Concurrency
//
// A Registry is safe for concurrent use. Profiles returned by Get, List,
// Register and Heartbeat are copies; those returned by Discover and Pick
// share their Capabilities and Metadata with the registry, which never
// changes them in place, and must be treated as read-only.
package agent
