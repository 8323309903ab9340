package loadgen

import (
	"errors"

	"github.com/choreohq/choreo/internal/httpwire"
)

var (
	// ErrInvalidConfig is wrapped by the errors of Config.Validate.
	ErrInvalidConfig = errors.New("loadgen: invalid config")
	// ErrAgent is wrapped by the errors of registering the bench's own
	// agent with the server, when Config.Dispatch is set.
	ErrAgent = errors.New("loadgen: registering the sink agent")
)

var (
	// errBadResponse is wrapped by the errors of reading a response that
	// is not valid HTTP/1.0 or HTTP/1.1.
	errBadResponse = httpwire.ErrMalformed
	// errTooLarge is wrapped by the errors of reading a response whose
	// head or body is over its limit.
	errTooLarge = httpwire.ErrTooLarge
	// errInterrupted is returned by the requests of a connection that was
	// interrupted because its run ended.
	errInterrupted = errors.New("loadgen: request interrupted")
)
