package live

import "errors"

var (
	// ErrClosed is returned by Run after Close, and by an Outbox after its
	// Close.
	ErrClosed = errors.New("live: closed")
	// ErrRunning is returned by Run while another call of Run on the same
	// Runner has not returned.
	ErrRunning = errors.New("live: already running")
	// ErrInvalidAction is matched by the error Outbox.Next returns for an
	// action record whose data does not decode as an engine.Action.
	ErrInvalidAction = errors.New("live: action record does not decode")
	// ErrInvalidConfig is returned by Config.Validate and New for a
	// negative duration or size.
	ErrInvalidConfig = errors.New("live: invalid config")
)
