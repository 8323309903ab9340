package engine

import (
	"fmt"
	"time"

	"github.com/choreohq/choreo/condition"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxCorrelations     = 1_000_000
	DefaultMaxPartials         = 1_000_000
	DefaultRecentEvents        = 10
	DefaultMaxCorrelatedEvents = 100
	DefaultMaxSources          = 10_000
	DefaultDedupWindow         = 100_000
	DefaultMinIdle             = 5 * time.Minute
)

// Config tunes an Engine. The zero value works: every zero field takes the
// default named in its comment.
type Config struct {
	// MaxCorrelations caps the correlations that hold state at once. When
	// a new correlation needs state at the cap, the one quiet the longest
	// is evicted (its partial matches and pending timers are dropped) and
	// Metrics.CorrelationsEvicted counts it. Zero means
	// DefaultMaxCorrelations.
	MaxCorrelations int

	// MaxPartials caps the partial matches held at once across all
	// correlations: partial sequences, temporal sequences waiting for
	// their trigger, threshold windows per correlation and absences
	// waiting for their expected event. At the cap a rule does not start
	// a new partial match, and RuleMetrics.PartialsCapped counts it. Zero
	// means DefaultMaxPartials.
	MaxPartials int

	// RecentEvents is how many of the latest events the condition variable
	// `recent_events` holds. Zero means DefaultRecentEvents (10).
	RecentEvents int

	// MaxCorrelatedEvents is how many of a correlation's latest events the
	// condition variable `correlated_events` holds. Events are retained
	// only when some condition uses the variable. Zero means
	// DefaultMaxCorrelatedEvents.
	MaxCorrelatedEvents int

	// MaxSources caps the sources whose event counts are kept for the
	// condition variable `source_event_count` (kept only when some
	// condition uses it). Events from sources beyond the cap count as 0
	// and Metrics.SourcesCapped counts them. Zero means DefaultMaxSources.
	MaxSources int

	// DedupWindow is how many of the latest event ids the engine remembers
	// to drop duplicates: an event whose id is among them is ignored and
	// counted in Metrics.DuplicateEvents. Zero means DefaultDedupWindow; a
	// negative value turns deduplication off.
	DedupWindow int

	// IdleTimeout is how long, by event time, a correlation may go quiet
	// before its state is evicted. Zero means the longest max_interval,
	// time_window or absence timeout of any rule, or DefaultMinIdle when
	// that is shorter. A value shorter than an absence timeout drops
	// pending absences of quiet correlations (Metrics.TimersDropped).
	IdleTimeout time.Duration

	// Condition is used to compile rule conditions whose Program is nil
	// (rules built in Go rather than loaded).
	Condition condition.Options
}

// Validate reports a negative cap or duration.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxCorrelations", c.MaxCorrelations},
		{"MaxPartials", c.MaxPartials},
		{"RecentEvents", c.RecentEvents},
		{"MaxCorrelatedEvents", c.MaxCorrelatedEvents},
		{"MaxSources", c.MaxSources},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is negative (%d)", ErrInvalidConfig, f.name, f.v)
		}
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("%w: IdleTimeout is negative (%s)", ErrInvalidConfig, c.IdleTimeout)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults;
// idle is the longest window of the rules.
func (c Config) withDefaults(longest time.Duration) Config {
	if c.MaxCorrelations == 0 {
		c.MaxCorrelations = DefaultMaxCorrelations
	}
	if c.MaxPartials == 0 {
		c.MaxPartials = DefaultMaxPartials
	}
	if c.RecentEvents == 0 {
		c.RecentEvents = DefaultRecentEvents
	}
	if c.MaxCorrelatedEvents == 0 {
		c.MaxCorrelatedEvents = DefaultMaxCorrelatedEvents
	}
	if c.MaxSources == 0 {
		c.MaxSources = DefaultMaxSources
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = max(longest, DefaultMinIdle)
	}
	return c
}
