package dispatch

import "errors"

var (
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("dispatch: closed")
	// ErrRunning is returned by Run while another call of Run on the same
	// Dispatcher has not returned.
	ErrRunning = errors.New("dispatch: already running")
	// ErrInvalidConfig is returned by New for a bad Config or argument.
	ErrInvalidConfig = errors.New("dispatch: invalid config")
	// ErrNotFound is returned by Retry and Discard for an action that is
	// not in the dead-letter queue.
	ErrNotFound = errors.New("dispatch: no such dead letter")
	// ErrRecovering is returned by Retry and Discard before Run has
	// rebuilt the dead-letter queue from the log.
	ErrRecovering = errors.New("dispatch: the dead-letter queue is being rebuilt from the log")
	// ErrNoTransport is the error of an attempt at an agent whose protocol
	// has no transport configured.
	ErrNoTransport = errors.New("dispatch: no transport for the agent's protocol")
)

// Reasons an action is dead-lettered.
const (
	ReasonMaxAttempts = "max_attempts" // every attempt failed
	ReasonRejected    = "rejected"     // the agent refused it for good (a Permanent error)
	ReasonNoAgent     = "no_agent"     // no live agent had the capability within AgentWait
	ReasonUnavailable = "unavailable"  // agents had it, but none was usable (breakers open, all busy) within AgentWait
	ReasonLoop        = "loop"         // its events would exceed MaxHops
)
