package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadlinesShareAndEndLate: attempts started together with the same
// timeout share one context, which ends with context.DeadlineExceeded as
// its error and its cause, no sooner than the timeout and at most a grain
// later.
func TestDeadlinesShareAndEndLate(t *testing.T) {
	dl := newDeadlines(context.Background())
	const timeout = 256 * 40 * time.Millisecond // a grain of 40 ms
	start := time.Now()
	a := dl.after(timeout)
	b := dl.after(timeout)
	if a != b {
		// The two calls straddled a grain's end; three calls within a
		// grain of 40 ms cannot straddle two.
		if c := dl.after(timeout); c != b {
			t.Fatal("attempts in the same grain got contexts of their own")
		}
	}
	when, ok := a.Deadline()
	if !ok {
		t.Fatal("no deadline")
	}
	if early := start.Add(timeout); when.Before(early) {
		t.Fatalf("deadline %v before the timeout's end %v", when, early)
	}
	if late := time.Now().Add(timeout + 40*time.Millisecond); when.After(late) {
		t.Fatalf("deadline %v later than a grain past the timeout (%v)", when, late)
	}

	short := dl.after(5 * time.Millisecond)
	if short == a {
		t.Fatal("a shorter timeout shares a longer one's context")
	}
	<-short.Done()
	if took := time.Since(start); took < 5*time.Millisecond {
		t.Fatalf("a 5 ms deadline ended after %v", took)
	}
	if !errors.Is(short.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(short), context.DeadlineExceeded) {
		t.Fatalf("err %v, cause %v; want the deadline", short.Err(), context.Cause(short))
	}
	if a.Err() != nil {
		t.Fatal("the long deadline ended with the short one")
	}
}

// TestDeadlinesEndWithTheParent: the shared contexts end when the parent
// does, with its cause.
func TestDeadlinesEndWithTheParent(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.Background())
	dl := newDeadlines(parent)
	ctx := dl.after(time.Hour)
	stop := errors.New("stop")
	cancel(stop)
	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), stop) {
		t.Fatalf("cause %v, want the parent's", context.Cause(ctx))
	}
}

// TestDeadlinesStayFew: however many attempts, the contexts kept are
// those of the grains not yet ended, a bounded number per timeout.
func TestDeadlinesStayFew(t *testing.T) {
	dl := newDeadlines(context.Background())
	const timeout = 256 * time.Millisecond // a grain of 1 ms
	end := time.Now().Add(time.Second)
	calls := 0
	for time.Now().Before(end) {
		dl.after(timeout)
		calls++
		if calls%64 == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	dl.mu.Lock()
	n := len(dl.mu.shared)
	dl.mu.Unlock()
	// 257 grains can be pending at once; the table is pruned when it
	// has doubled since the last pruning.
	if n > 2*(deadlineGrains+1)+64 {
		t.Fatalf("%d contexts kept after %d calls over a second with a timeout of %v", n, calls, timeout)
	}
	t.Logf("%d calls, %d contexts kept", calls, n)
}

// TestDeadlinesPruneOnlyTheEnded: pruning drops the contexts that have
// ended and cancels none that has not, even past its deadline while its
// timer is late: those end by their deadline, with its cause.
func TestDeadlinesPruneOnlyTheEnded(t *testing.T) {
	dl := newDeadlines(context.Background())
	var long []context.Context
	for i := range 200 { // past the first pruning threshold
		long = append(long, dl.after(time.Hour+time.Duration(i)*time.Minute))
	}
	short := dl.after(time.Millisecond)
	<-short.Done()
	dl.mu.Lock()
	dl.mu.prune = 0 // prune at the next call
	dl.mu.Unlock()
	dl.after(2 * time.Hour)
	dl.mu.Lock()
	n := len(dl.mu.shared)
	dl.mu.Unlock()
	if n != 201 {
		t.Fatalf("%d contexts kept, want the 200 long ones and the new one", n)
	}
	for i, ctx := range long {
		if ctx.Err() != nil {
			t.Fatalf("long context %d ended: %v", i, ctx.Err())
		}
	}
	if !errors.Is(context.Cause(short), context.DeadlineExceeded) {
		t.Fatalf("the short one's cause: %v", context.Cause(short))
	}
}
