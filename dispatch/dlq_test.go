package dispatch_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// gatedStore holds appends to the dead-letter stream while its gate is
// set, until the gate is closed.
type gatedStore struct {
	store.Store
	gate atomic.Pointer[chan struct{}]
}

func (g *gatedStore) Append(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) ([]store.Position, error) {
	if c := g.gate.Load(); c != nil && stream == dispatch.DeadLetterStream {
		<-*c
	}
	return g.Store.Append(ctx, stream, exp, evs)
}

// TestRetryAcrossARestartOfRun: a Retry whose record is still on its way
// when Run stops and starts again is settled by the new Run from the log:
// the action is delivered once and leaves the queue.
func TestRetryAcrossARestartOfRun(t *testing.T) {
	inner := mem.New(store.Options{})
	t.Cleanup(func() { inner.Close() })
	gs := &gatedStore{Store: inner}
	cfg := fast()
	cfg.MaxAttempts = 1
	r := newRig(t, gs, cfg)
	var fail atomic.Bool
	fail.Store(true)
	rc := &recorder{fail: func(int) error {
		if fail.Load() {
			return errors.New("down")
		}
		return nil
	}}
	r.agent("a", "cap", 0, rc.handle)
	r.action("x", "cap", 0)
	r.start()
	waitFor(t, "a dead letter", func() bool { return r.d.Recovered() && len(deadLetters(t, r.d)) == 1 })
	fail.Store(false)

	gate := make(chan struct{})
	gs.gate.Store(&gate)
	retried := make(chan error, 1)
	go func() { retried <- r.d.Retry(context.Background(), "x") }()
	time.Sleep(20 * time.Millisecond) // the Retry waits in its append
	r.stop()
	r.start() // its recovery waits for the Retry to finish
	time.Sleep(20 * time.Millisecond)
	close(gate)
	if err := <-retried; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retried delivery recorded", func() bool { return len(deliveries(t, inner)) == 1 })
	waitFor(t, "the queue rebuilt", r.d.Recovered)
	time.Sleep(50 * time.Millisecond) // room for a second delivery, which must not come
	if n := len(rc.messages()); n != 2 {
		t.Fatalf("%d deliveries, want the failed one and one retried", n)
	}
	if dls := deadLetters(t, r.d); len(dls) != 0 {
		t.Fatalf("dead letters %+v after the retry was delivered", dls)
	}
}
