package deploy

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
)

// DefaultSyncInterval is the default of Config.SyncInterval.
const DefaultSyncInterval = time.Second

// Config tunes a Manager. The zero value works: every zero field takes the
// default named in its comment.
type Config struct {
	// EngineConfig tunes the engine of every deployed version.
	EngineConfig engine.Config

	// RunnerConfig is the template of every version's live.Config. Its
	// EmitFrom is replaced by the position after the version's deployment
	// record. Its Clock also stamps DeployedAt and paces SyncInterval; a
	// nil Logger means Logger, with the version's name and number.
	RunnerConfig live.Config

	// SyncInterval is how often Run reads Stream for records appended by
	// other managers over the same store. Records this manager's runners
	// read there are picked up at once. Zero means DefaultSyncInterval.
	SyncInterval time.Duration

	// Logger receives skipped records and the failures of runners. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Validate reports a negative SyncInterval and what engine.Config.Validate
// and live.Config.Validate report.
func (c Config) Validate() error {
	if c.SyncInterval < 0 {
		return fmt.Errorf("%w: SyncInterval is negative (%s)", ErrInvalidConfig, c.SyncInterval)
	}
	if err := c.EngineConfig.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.RunnerConfig.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RunnerConfig.Clock == nil {
		c.RunnerConfig.Clock = live.SystemClock{}
	}
	return c
}
