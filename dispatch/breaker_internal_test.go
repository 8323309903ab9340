package dispatch

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/sony/gobreaker/v2"
)

// TestBreakerIgnoresAbandonedAttempts: an attempt abandoned as Run stops
// counts neither as a success nor as a failure of the agent, so it cannot
// close a half-open breaker nor open a closed one.
func TestBreakerIgnoresAbandonedAttempts(t *testing.T) {
	d := &Dispatcher{cfg: Config{BreakerFailures: 1, BreakerHalfOpen: 1, Logger: slog.New(slog.DiscardHandler)}.withDefaults()}
	d.log = d.cfg.Logger
	b := d.agent("a").breaker
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	done(errAbandoned)
	if c := b.Counts(); c.TotalSuccesses != 0 || c.TotalFailures != 0 || b.State() != gobreaker.StateClosed {
		t.Fatalf("after an abandoned attempt: counts %+v, state %v", c, b.State())
	}
	done, _ = b.Allow()
	done(errors.New("down")) // one failure opens it
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("state %v after a failure, want open", b.State())
	}
}
