package live_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

func action(trigger string) *engine.Action {
	return &engine.Action{
		ID: engine.ActionID("shop", engine.KindPattern, "r", []string{trigger}), Action: "do",
		TargetCapability: "cap", Choreography: "shop", RuleID: "r", RuleKind: engine.KindPattern,
		CorrelationID: "c", TriggerEventIDs: []string{trigger}, Time: t0,
	}
}

func appendTo(t testing.TB, st store.Store, stream string, evs ...*event.Event) {
	t.Helper()
	if _, err := st.Append(context.Background(), stream, store.Any, evs); err != nil {
		t.Fatal(err)
	}
}

// next reads n entries, failing after a second.
func next(t testing.TB, o *live.Outbox, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var got []string
	for range n {
		e, err := o.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %v: %v", got, err)
		}
		got = append(got, e.Action.TriggerEventIDs[0]+"@"+string(rune('0'+e.Position)))
	}
	return got
}

func TestOutbox(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			appendEvents(t, st, ev("u1", "x", "c", 0, ""))
			appendTo(t, st, live.ActionsStream, live.ActionEvent(action("a")), live.ActionEvent(action("b")))
			// A record of another type in the stream is passed over.
			appendTo(t, st, live.ActionsStream, &event.Event{SpecVersion: "1.0", ID: "d1", Source: "choreo/dispatch", Type: "choreo.delivery"})
			appendTo(t, st, live.ActionsStream, live.ActionEvent(action("c")))

			tests := []struct {
				name string
				from uint64
				want []string
			}{
				{"from the start", 0, []string{"a@0", "b@1", "c@3"}},
				{"from the middle", 1, []string{"b@1", "c@3"}},
				{"from another record", 2, []string{"c@3"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					o := live.NewOutbox(st, tt.from)
					defer o.Close()
					if got := next(t, o, len(tt.want)); !slices.Equal(got, tt.want) {
						t.Errorf("got %v, want %v", got, tt.want)
					}
				})
			}

			// Following: Next waits for actions appended later, past other
			// records of the log.
			o := live.NewOutbox(st, 0)
			next(t, o, 3)
			done := make(chan []string)
			go func() { done <- next(t, o, 2) }()
			time.Sleep(10 * time.Millisecond)
			appendEvents(t, st, ev("u2", "x", "c", 0, ""))
			appendTo(t, st, live.ActionsStream, live.ActionEvent(action("d")))
			appendEvents(t, st, ev("u3", "x", "c", 0, ""))
			appendTo(t, st, live.ActionsStream, live.ActionEvent(action("e")))
			if got, want := <-done, []string{"d@4", "e@5"}; !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := o.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v from Next with nothing more, want context.DeadlineExceeded", err)
			}
			for range 2 {
				if err := o.Close(); err != nil {
					t.Errorf("got Close error %v, want nil", err)
				}
			}
			if _, err := o.Next(context.Background()); !errors.Is(err, live.ErrClosed) {
				t.Errorf("got %v after Close, want ErrClosed", err)
			}
		})
	}
}

func TestOutboxInvalidAction(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	bad := live.ActionEvent(action("a"))
	bad.Data = []byte(`{"timeout": "forever"}`)
	appendTo(t, st, live.ActionsStream, bad, live.ActionEvent(action("b")))

	o := live.NewOutbox(st, 0)
	defer o.Close()
	e, err := o.Next(context.Background())
	if !errors.Is(err, live.ErrInvalidAction) || e.Position != 0 || e.Record.Event.ID != bad.ID {
		t.Errorf("got %d %v, want position 0 and ErrInvalidAction", e.Position, err)
	}
	if got, want := next(t, o, 1), []string{"b@1"}; !slices.Equal(got, want) {
		t.Errorf("got %v after the bad record, want %v", got, want)
	}
}

// TestOutboxFollowsRunner reads the actions a runner appends, in order.
func TestOutboxFollowsRunner(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	r, err := live.New(st, newEngine(t, shop(t)), live.Config{Clock: newFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start(t, r)
	o := live.NewOutbox(st, 0)
	defer o.Close()
	appendEvents(t, st, shopEvents()...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, w := range shopWant {
		e, err := o.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Action.ID != w.id || e.Action.Action != w.action || e.Position != uint64(i) {
			t.Errorf("entry %d: got %s %s at %d, want %s %s", i, e.Action.ID, e.Action.Action, e.Position, w.id, w.action)
		}
	}
}

// TestOutboxObserve: while following, the outbox shows its observer every
// record outside ActionsStream that it passes, in log order, and no action.
func TestOutboxObserve(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			for _, early := range []bool{false, true} {
				head, err := st.Head(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				from := uint64(0)
				if head > 0 {
					recs, err := st.ReadStream(context.Background(), live.ActionsStream, 0, 1000)
					if err != nil {
						t.Fatal(err)
					}
					from = recs[len(recs)-1].StreamPosition + 1
				}
				o := live.NewOutbox(st, from)
				if early {
					o = live.NewEarlyOutbox(st, from)
				}
				var seen []string
				o.Observe(func(r *store.Record) { seen = append(seen, r.Event.ID) })
				// Catching up: nothing to observe, the outbox reads only its stream.
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				if _, err := o.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Next on an empty outbox: %v", err)
				}
				cancel()
				pre := fmt.Sprint("e", early, "-")
				appendEvents(t, st, ev(pre+"1", "x", "c", 0, ""), ev(pre+"2", "x", "c", 1, ""))
				appendTo(t, st, live.ActionsStream, live.ActionEvent(action(pre+"2")))
				appendEvents(t, st, ev(pre+"3", "x", "c", 2, ""))
				appendTo(t, st, live.ActionsStream, live.ActionEvent(action(pre+"3")))
				for _, want := range [][]string{{pre + "1", pre + "2"}, {pre + "1", pre + "2", pre + "3"}} {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					e, err := o.Next(ctx)
					cancel()
					if err != nil {
						t.Fatal(err)
					}
					// The trigger of each action has been observed by the time the action comes out.
					if !slices.Equal(seen, want) || !slices.Contains(seen, e.Action.TriggerEventIDs[0]) {
						t.Fatalf("early=%v: observed %v at action %s, want %v", early, seen, e.Action.TriggerEventIDs[0], want)
					}
				}
				o.Close()
			}
		})
	}
}
