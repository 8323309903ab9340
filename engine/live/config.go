package live

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxBatch      = 256
	DefaultRetryDelay    = 50 * time.Millisecond
	DefaultMaxRetryDelay = 5 * time.Second
	DefaultBuffer        = 512
)

// Config tunes a Runner. The zero value works: every zero field takes the
// default named in its comment.
type Config struct {
	// Clock is the wall clock timers are compared with. Nil means
	// SystemClock.
	Clock Clock

	// TimerDelay is how long past a timer's due time the runner waits
	// before appending its clock event, leaving room for events of that
	// time still on their way to the log. Zero means none.
	TimerDelay time.Duration

	// MaxBatch is the most action events one Append carries. Actions of
	// consecutive records already read are appended together. Zero means
	// DefaultMaxBatch.
	MaxBatch int

	// Buffer is how many records the runner reads ahead of the engine.
	// Zero means DefaultBuffer.
	Buffer int

	// RetryDelay is the wait after an append fails for a reason that may
	// pass (not a refusal of the events themselves); it doubles on each
	// further failure up to MaxRetryDelay. Zero means DefaultRetryDelay.
	RetryDelay time.Duration
	// MaxRetryDelay caps RetryDelay's doubling. Zero means
	// DefaultMaxRetryDelay.
	MaxRetryDelay time.Duration

	// Logger receives failed appends and refused actions. Nil means
	// slog.Default().
	Logger *slog.Logger

	// EmitFrom is the global position from which the runner emits
	// actions. The engine folds every record, but the actions decided on
	// a record before EmitFrom (including those of timers its clock event
	// or its time fires) are dropped, and counted by
	// Runner.ActionsDropped. A runner started for a choreography deployed
	// at position p, with EmitFrom p+1, thus builds its state from the
	// whole log and acts only on what comes after its deployment. Zero
	// means every record's actions are emitted.
	EmitFrom uint64
}

// Validate reports a negative duration or size.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"TimerDelay", int64(c.TimerDelay)},
		{"MaxBatch", int64(c.MaxBatch)},
		{"Buffer", int64(c.Buffer)},
		{"RetryDelay", int64(c.RetryDelay)},
		{"MaxRetryDelay", int64(c.MaxRetryDelay)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is negative (%d)", ErrInvalidConfig, f.name, f.v)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = DefaultMaxRetryDelay
	}
	c.MaxRetryDelay = max(c.MaxRetryDelay, c.RetryDelay)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
