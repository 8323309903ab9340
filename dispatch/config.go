package dispatch

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultSenderID         = "choreo"
	DefaultMaxAttempts      = 5
	DefaultBackoff          = 100 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	DefaultTimeout          = 30 * time.Second
	DefaultAgentWait        = 30 * time.Second
	DefaultMaxHops          = 16
	DefaultMaxInFlight      = 1024
	DefaultMaxParked        = 8192
	DefaultMaxPerAgent      = 64
	DefaultBreakerFailures  = 5
	DefaultBreakerOpen      = 30 * time.Second
	DefaultBreakerHalfOpen  = 1
	DefaultRecordBatch      = 512
	DefaultAgentPoll        = 250 * time.Millisecond
	DefaultDrain            = 10 * time.Second
	defaultRecordRetryDelay = 50 * time.Millisecond
)

// Config tunes a Dispatcher. The zero value works: every zero field takes
// the default named in its comment.
type Config struct {
	// SenderID is the sender_id of every Message. Empty means
	// DefaultSenderID.
	SenderID string

	// MaxAttempts is how many times an action is tried before it is
	// dead-lettered. Zero means DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further attempt up to MaxBackoff, and each wait is drawn uniformly
	// from [wait/2, wait] (jitter). Zero means DefaultBackoff and
	// DefaultMaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout is the deadline of one attempt for actions whose rule gives
	// no `timeout`. Zero means DefaultTimeout.
	Timeout time.Duration
	// AgentWait bounds how long an action waits for a usable agent (one
	// that is live, has the capability and a breaker that lets attempts
	// through) before it is dead-lettered with reason ReasonNoAgent or
	// ReasonUnavailable. Waiting for a free slot at a busy agent is not
	// bounded: it is backpressure. Zero means DefaultAgentWait.
	AgentWait time.Duration
	// AgentPoll is how often an action waiting behind an open breaker
	// looks again; one waiting for an agent with its capability to appear,
	// or for a busy one, is woken by the change to the directory
	// (Directory.ChangedFor) or by the freed slot. Zero means
	// DefaultAgentPoll.
	AgentPoll time.Duration

	// MaxHops is the most hops an event caused by an action may carry; an
	// action whose events would exceed it is dead-lettered with reason
	// ReasonLoop. Zero means DefaultMaxHops.
	MaxHops int

	// MaxInFlight is the number of workers that take actions from the
	// outbox and deliver them; the outbox waits while all are busy. An
	// action no agent can take at once waits and is delivered outside
	// them (see MaxParked), so attempts at once are bounded by
	// MaxInFlight + MaxParked, and at each agent by MaxPerAgent. Zero
	// means DefaultMaxInFlight.
	MaxInFlight int
	// MaxParked bounds the actions that wait, outside the MaxInFlight
	// workers, for an agent that can take them: none with their
	// capability is live, or all are busy. Held by workers, such waits
	// would stall the actions of every other capability. Past the bound
	// they wait in the workers, and past that the outbox waits in the
	// log. Zero means DefaultMaxParked.
	MaxParked int
	// MaxPerAgent bounds the attempts in progress at one agent. Zero means
	// DefaultMaxPerAgent.
	MaxPerAgent int

	// BreakerFailures is how many consecutive failed attempts open an
	// agent's circuit breaker. Zero means DefaultBreakerFailures.
	BreakerFailures int
	// BreakerOpen is how long a breaker stays open before it lets a trial
	// attempt through (half-open). Zero means DefaultBreakerOpen.
	BreakerOpen time.Duration
	// BreakerHalfOpen is how many trial attempts a half-open breaker lets
	// through; as many successes close it, one failure opens it again.
	// Zero means DefaultBreakerHalfOpen.
	BreakerHalfOpen int

	// Drain is how long attempts in progress when Run's context ends may
	// go on; they are recorded if they finish in time, abandoned (and
	// delivered again by the next Run) if not. Zero means DefaultDrain.
	Drain time.Duration

	// RecordBatch is the most outcome records appended together. Zero
	// means DefaultRecordBatch.
	RecordBatch int

	// Logger receives failed appends, breaker changes and dead letters.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports a negative duration or size.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxAttempts", int64(c.MaxAttempts)},
		{"Backoff", int64(c.Backoff)},
		{"MaxBackoff", int64(c.MaxBackoff)},
		{"Timeout", int64(c.Timeout)},
		{"AgentWait", int64(c.AgentWait)},
		{"AgentPoll", int64(c.AgentPoll)},
		{"MaxHops", int64(c.MaxHops)},
		{"MaxInFlight", int64(c.MaxInFlight)},
		{"MaxParked", int64(c.MaxParked)},
		{"MaxPerAgent", int64(c.MaxPerAgent)},
		{"BreakerFailures", int64(c.BreakerFailures)},
		{"BreakerOpen", int64(c.BreakerOpen)},
		{"BreakerHalfOpen", int64(c.BreakerHalfOpen)},
		{"RecordBatch", int64(c.RecordBatch)},
		{"Drain", int64(c.Drain)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is negative (%d)", ErrInvalidConfig, f.name, f.v)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.SenderID == "" {
		c.SenderID = DefaultSenderID
	}
	def(&c.MaxAttempts, DefaultMaxAttempts)
	defD(&c.Backoff, DefaultBackoff)
	defD(&c.MaxBackoff, DefaultMaxBackoff)
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	defD(&c.Timeout, DefaultTimeout)
	defD(&c.AgentWait, DefaultAgentWait)
	defD(&c.AgentPoll, DefaultAgentPoll)
	def(&c.MaxHops, DefaultMaxHops)
	def(&c.MaxInFlight, DefaultMaxInFlight)
	def(&c.MaxParked, DefaultMaxParked)
	def(&c.MaxPerAgent, DefaultMaxPerAgent)
	def(&c.BreakerFailures, DefaultBreakerFailures)
	defD(&c.BreakerOpen, DefaultBreakerOpen)
	def(&c.BreakerHalfOpen, DefaultBreakerHalfOpen)
	def(&c.RecordBatch, DefaultRecordBatch)
	defD(&c.Drain, DefaultDrain)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
