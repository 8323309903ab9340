package dispatch

import (
	"context"
	"sync"
	"time"
)

// deadlineGrains is how finely an attempt's deadline is kept: to within
// 1/deadlineGrains of its timeout (at least a millisecond), late never
// early.
const deadlineGrains = 256

// deadlines makes the contexts that bound attempts. A context with a
// timer of its own for each attempt (context.WithTimeout) costs a timer,
// a registration with the parent and a cancellation: more than a whole
// delivery to an in-process agent. So the attempts whose deadlines fall
// in the same grain share one context, ending at the grain's end, and
// made once for them all. A shared context is never cancelled early; it
// ends at its deadline or with the parent. At most deadlineGrains+1 of
// them are alive per timeout in use, whatever the rate of attempts.
//
// A shared context is a plain child of the parent made by
// context.WithDeadline, so that context.Cause and the deadline an agent's
// handler reads are those of any other context.
type deadlines struct {
	parent context.Context
	base   time.Time // deadlines are offsets from base, on the monotonic clock

	mu struct {
		sync.Mutex
		shared map[time.Duration]sharedDeadline // by offset from base
		prune  int                              // len(shared) at which to drop the ended
	}
}

type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newDeadlines(parent context.Context) *deadlines {
	dl := &deadlines{parent: parent, base: time.Now()}
	dl.mu.shared = make(map[time.Duration]sharedDeadline)
	dl.mu.prune = 64
	return dl
}

// after returns a context that ends when timeout has passed (rounded up to
// its grain) or when the parent ends.
func (dl *deadlines) after(timeout time.Duration) context.Context {
	return dl.afterAt(time.Now(), timeout)
}

// afterAt is after for a caller that has just read the clock: now, a
// reading of time.Now with its monotonic clock.
func (dl *deadlines) afterAt(now time.Time, timeout time.Duration) context.Context {
	grain := max(timeout/deadlineGrains, time.Millisecond)
	at := now.Sub(dl.base) + timeout
	at += grain - 1 - (at+grain-1)%grain // up to the grain's end
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if s, ok := dl.mu.shared[at]; ok {
		return s.ctx
	}
	if len(dl.mu.shared) >= dl.mu.prune {
		for k, s := range dl.mu.shared {
			// Only those that have ended: one whose timer is late must
			// still end by its deadline, not by a cancellation.
			if s.ctx.Err() != nil {
				s.cancel()
				delete(dl.mu.shared, k)
			}
		}
		dl.mu.prune = max(64, 2*len(dl.mu.shared))
	}
	ctx, cancel := context.WithDeadline(dl.parent, dl.base.Add(at))
	dl.mu.shared[at] = sharedDeadline{ctx, cancel}
	return ctx
}
