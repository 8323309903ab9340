package agent

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultLiveWindow   = 90 * time.Second
	DefaultMaxLoad      = 0.8
	DefaultCardInterval = 30 * time.Second
	DefaultCardTimeout  = 10 * time.Second
	DefaultMaxAgents    = 10000
)

// Config tunes a Registry. The zero value works: every zero field takes the
// default named in its comment.
type Config struct {
	// LiveWindow is how recent an agent's last heartbeat must be for the
	// agent to count as live. Zero means DefaultLiveWindow (90 s).
	LiveWindow time.Duration

	// MaxLoad is the highest load at which Discover still offers an
	// agent, within [0, 1]. Zero means DefaultMaxLoad (0.8).
	MaxLoad float64

	// MaxAgents bounds the number of registered agents: a registration of
	// a new id beyond it is refused with ErrTooMany. Zero means
	// DefaultMaxAgents (10,000). Open restores every agent in the log,
	// even beyond it.
	MaxAgents int

	// CardInterval is how often Run fetches the cards of the agents
	// registered with RegisterCard. Zero means DefaultCardInterval (30 s).
	CardInterval time.Duration

	// CardTimeout bounds each card fetch made by Run. Zero means
	// DefaultCardTimeout (10 s).
	CardTimeout time.Duration

	// Now is the clock that stamps heartbeats and judges liveness. Nil
	// means time.Now.
	Now func() time.Time

	// Resolver turns an A2A agent's base URL into a Profile by fetching
	// its agent card. RegisterCard needs it; Run uses it to refresh cards.
	// Nil means cards are not supported.
	Resolver CardResolver

	// Logger receives skipped log records and failed card fetches. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Validate reports a negative duration or MaxAgents, or a MaxLoad outside
// [0, 1].
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"LiveWindow", c.LiveWindow},
		{"CardInterval", c.CardInterval},
		{"CardTimeout", c.CardTimeout},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is negative (%s)", ErrInvalidConfig, f.name, f.v)
		}
	}
	if c.MaxAgents < 0 {
		return fmt.Errorf("%w: MaxAgents is negative (%d)", ErrInvalidConfig, c.MaxAgents)
	}
	if math.IsNaN(c.MaxLoad) || c.MaxLoad < 0 || c.MaxLoad > 1 {
		return fmt.Errorf("%w: MaxLoad %v is outside [0, 1]", ErrInvalidConfig, c.MaxLoad)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.LiveWindow == 0 {
		c.LiveWindow = DefaultLiveWindow
	}
	if c.MaxLoad == 0 {
		c.MaxLoad = DefaultMaxLoad
	}
	if c.MaxAgents == 0 {
		c.MaxAgents = DefaultMaxAgents
	}
	if c.CardInterval == 0 {
		c.CardInterval = DefaultCardInterval
	}
	if c.CardTimeout == 0 {
		c.CardTimeout = DefaultCardTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
