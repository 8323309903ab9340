package live_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// brokenActions is a store whose appends to the outbox fail as a store
// that must be reopened fails.
type brokenActions struct{ store.Store }

func (b brokenActions) Append(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) ([]store.Position, error) {
	if stream == live.ActionsStream {
		return nil, fmt.Errorf("writing: %w", store.ErrBroken)
	}
	return b.Store.Append(ctx, stream, exp, evs)
}

// TestBrokenStoreEndsRun: a store that takes no more appends until it is
// reopened ends Run with its error, instead of being retried for ever.
func TestBrokenStoreEndsRun(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	appendEvents(t, st, shopEvents()...)
	r, err := live.New(brokenActions{st}, newEngine(t, shop(t)), live.Config{RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	select {
	case err := <-errc:
		if !errors.Is(err, store.ErrBroken) {
			t.Fatalf("Run = %v, want an error matching store.ErrBroken", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept retrying a broken store")
	}
}

// TestClockEventIDsTaken: when events a client wrote hold the ids of the
// clock event a timer needs and of the next nanoseconds', the runner
// still gets its clock event into the log, and the timer fires.
func TestClockEventIDsTaken(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	appendEvents(t, st, shopEvents()...)
	due := t0.Add(15 * time.Minute) // order-1's payment deadline
	for i := range 9 {
		squat := ev(live.TimerEventID(due.Add(time.Duration(i))), "noise", "squatter", 0, "")
		appendEvents(t, st, squat)
	}
	clock := newFakeClock(t0.Add(2 * time.Minute))
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := start(t, r)
	defer stop()
	waitFor(t, "4 actions", func() bool { return len(readStream(t, st, live.ActionsStream)) == 4 })
	waitFor(t, "the runner to catch up", caughtUp(r))
	clock.Advance(13 * time.Minute)
	waitFor(t, "the absence", func() bool { return len(readStream(t, st, live.ActionsStream)) == 5 })
	timers := readStream(t, st, live.TimersStream)
	if len(timers) != 1 || timers[0].Event.Type != engine.TimerEventType || timers[0].Event.Time.Before(due) {
		t.Fatalf("clock events %v: want one, at or after %s", ids(timers), due)
	}
}

// flakyTimers fails the first n appends to the clock stream with an
// error that passes.
type flakyTimers struct {
	store.Store
	left atomic.Int64
}

func (f *flakyTimers) Append(ctx context.Context, stream string, exp store.ExpectedVersion, evs []*event.Event) ([]store.Position, error) {
	if stream == live.TimersStream && f.left.Add(-1) >= 0 {
		return nil, errors.New("disk hiccup")
	}
	return f.Store.Append(ctx, stream, exp, evs)
}

// TestClockEventKeepsItsIDThroughFailures: appends of a clock event that
// fail for reasons other than a taken id are retried under the same id,
// however many there are, so that two runners' clock events for one
// moment stay one event.
func TestClockEventKeepsItsIDThroughFailures(t *testing.T) {
	inner := mem.New(store.Options{})
	defer inner.Close()
	appendEvents(t, inner, shopEvents()...)
	st := &flakyTimers{Store: inner}
	st.left.Store(12)
	clock := newFakeClock(t0.Add(2 * time.Minute))
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: clock, RetryDelay: time.Nanosecond, MaxRetryDelay: time.Microsecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := start(t, r)
	defer stop()
	waitFor(t, "4 actions", func() bool { return len(readStream(t, inner, live.ActionsStream)) == 4 })
	waitFor(t, "the runner to catch up", caughtUp(r))
	clock.Advance(13 * time.Minute)
	// The retries wait on the clock: move it a microsecond at a time.
	waitFor(t, "the absence", func() bool {
		clock.Advance(time.Microsecond)
		return len(readStream(t, inner, live.ActionsStream)) == 5
	})
	due := t0.Add(15 * time.Minute)
	timers := readStream(t, inner, live.TimersStream)
	if len(timers) != 1 || timers[0].Event.ID != live.TimerEventID(due) {
		t.Fatalf("clock events %v: want one, %s", ids(timers), live.TimerEventID(due))
	}
}

// TestActionRecordOfAnOverlongCorrelation: an action decided from an event
// logged before correlation ids were bounded still makes a valid record;
// the record is its own correlation, and its data keeps the action's.
func TestActionRecordOfAnOverlongCorrelation(t *testing.T) {
	for _, corr := range []string{strings.Repeat("c", event.MaxAttributeLen+1), "order\n1", "order-1"} {
		a := engine.Action{ID: "0193a4f0-0000-8000-8000-000000000001", Action: "check", TargetCapability: "cap",
			Choreography: "shop", RuleID: "r", RuleKind: engine.KindPattern, CorrelationID: corr, Time: t0}
		ev := live.ActionEvent(&a)
		ev.Fill()
		if err := ev.Validate(event.Limits{}); err != nil {
			t.Fatalf("record of an action of correlation %.20q: %v", corr, err)
		}
		var back engine.Action
		if err := back.UnmarshalJSON(ev.Data); err != nil || back.CorrelationID != corr {
			t.Fatalf("decoded correlation %.20q, %v; want %.20q", back.CorrelationID, err, corr)
		}
		if want := map[bool]string{true: corr, false: a.ID}[corr == "order-1"]; ev.CorrelationID != want {
			t.Fatalf("record's correlation %.20q, want %.20q", ev.CorrelationID, want)
		}
	}
}
