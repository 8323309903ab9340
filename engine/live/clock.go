package live

import "time"

// Clock is the wall clock the runner compares timers with. The engine
// itself never reads it. Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer whose channel receives once d has passed;
	// at once when d <= 0.
	NewTimer(d time.Duration) Timer
}

// Timer is a single-shot timer made by Clock.NewTimer.
type Timer interface {
	// C returns the channel the firing is sent on.
	C() <-chan time.Time
	// Stop prevents the firing if it has not happened. It reports whether
	// it did prevent it.
	Stop() bool
}

// SystemClock is the Clock of package time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time { return s.t.C }
func (s sysTimer) Stop() bool          { return s.t.Stop() }
