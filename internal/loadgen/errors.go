package loadgen

import "errors"

var (
	// ErrInvalidConfig is wrapped by the errors of Config.Validate.
	ErrInvalidConfig = errors.New("loadgen: invalid config")
	// ErrAgent is wrapped by the errors of registering the bench's own
	// agent with the server, when Config.Dispatch is set.
	ErrAgent = errors.New("loadgen: registering the sink agent")
)
