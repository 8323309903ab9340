package demo

import "errors"

var (
	// ErrInvalidConfig is returned by Config.Validate and Start for a
	// setting out of range.
	ErrInvalidConfig = errors.New("demo: invalid config")
	// ErrUnfinished is matched by the error Run returns when some orders
	// had not ended when the wait ran out; the Report says which.
	ErrUnfinished = errors.New("demo: not every order ended in time")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("demo: closed")
	// ErrRan is returned by a second call of Run: a demo publishes its
	// orders once.
	ErrRan = errors.New("demo: already run")
)
