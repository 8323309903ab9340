package pebble_test

import (
	"context"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/store/storetest"
)

func openDeferred(t *testing.T, opts pebble.Options) *pebble.Store {
	t.Helper()
	s, err := pebble.Open(t.TempDir(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func settled(p store.Pending) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// TestDeferredSharesNextSync holds deferred appends, applied but not
// durable, until an append that asks for an fsync comes: that fsync
// settles them all, in order, and only then do they become readable to
// subscribers of the durable log.
func TestDeferredSharesNextSync(t *testing.T) {
	s := openDeferred(t, pebble.Options{SyncDelay: time.Hour})
	ctx := context.Background()
	var held []store.Pending
	for i := range 3 {
		held = append(held, s.AppendDeferred(ctx, "actions", store.Any,
			[]*event.Event{storetest.Ev("deferred-"+string(rune('a'+i)), "t", "c")}))
	}
	applied, err := s.SubscribeApplied(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer applied.Close()
	for i := range 3 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := applied.Next(rctx)
		cancel()
		if err != nil {
			t.Fatalf("applied record %d: %v", i, err)
		}
		if r.GlobalPosition != uint64(i) {
			t.Fatalf("applied record at %d, want %d", r.GlobalPosition, i)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i, p := range held {
		if settled(p) {
			t.Fatalf("deferred append %d settled with no fsync to share", i)
		}
	}
	if recs, err := s.ReadAll(ctx, 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("durable log shows %d records (%v) before any fsync", len(recs), err)
	}
	if _, err := s.Append(ctx, "events", store.Any, []*event.Event{storetest.Ev("plain", "t", "c")}); err != nil {
		t.Fatal(err)
	}
	for i, p := range held {
		if !settled(p) {
			t.Fatalf("deferred append %d still waiting after the next append's fsync", i)
		}
		pos, err := p.Wait()
		if err != nil || pos[0].Global != uint64(i) {
			t.Fatalf("deferred append %d = %v, %v", i, pos, err)
		}
	}
	if recs, err := s.ReadAll(ctx, 0, 10); err != nil || len(recs) != 4 {
		t.Fatalf("durable log shows %d records (%v), want 4", len(recs), err)
	}
}

// TestDeferredSyncsAlone settles a deferred append that no other append
// follows, once SyncDelay has passed; a duplicate made while it is held
// waits for it.
func TestDeferredSyncsAlone(t *testing.T) {
	s := openDeferred(t, pebble.Options{SyncDelay: 20 * time.Millisecond})
	ctx := context.Background()
	p := s.AppendDeferred(ctx, "actions", store.Any, []*event.Event{storetest.Ev("alone", "t", "c")})
	dup := s.AppendDeferred(ctx, "actions", store.Any, []*event.Event{storetest.Ev("alone", "t", "c")})
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a lone deferred append never settled")
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if pos, err := dup.Wait(); err != nil || pos[0].Global != 0 {
		t.Fatalf("duplicate = %v, %v; want global position 0", pos, err)
	}
	if recs, err := s.ReadAll(ctx, 0, 10); err != nil || len(recs) != 1 {
		t.Fatalf("durable log shows %d records (%v), want 1", len(recs), err)
	}
}

// TestDeferredOff settles deferred appends as plain ones when the store
// does not sync or SyncDelay is negative.
func TestDeferredOff(t *testing.T) {
	for name, opts := range map[string]pebble.Options{
		"nosync":   {NoSync: true, SyncDelay: time.Hour},
		"negative": {SyncDelay: -1},
	} {
		t.Run(name, func(t *testing.T) {
			s := openDeferred(t, opts)
			p := s.AppendDeferred(context.Background(), "actions", store.Any, []*event.Event{storetest.Ev("x", "t", "c")})
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the deferred append was held")
			}
			if _, err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
