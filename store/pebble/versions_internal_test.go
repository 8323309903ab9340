package pebble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// TestVersionCacheFullWithinAGroup plans, in one group, appends to X, to
// new streams that fill the writer's cache of stream versions past its
// bound, and to X again: X's second event gets the next version, not the
// one X had before the group (which is all the log could tell while the
// group's batch is not yet applied).
func TestVersionCacheFullWithinAGroup(t *testing.T) {
	defer func(n int) { maxCachedStreams = n }(maxCachedStreams)
	maxCachedStreams = 2
	s, err := Open(t.TempDir(), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := func(id, stream string) []*event.Event {
		return []*event.Event{{SpecVersion: event.SpecVersion, ID: id, Source: "s", Type: "t", CorrelationID: stream}}
	}
	if _, err := s.Append(ctx, "X", store.Any, ev("x0", "X")); err != nil {
		t.Fatal(err)
	}
	// The group, planned and applied here as the writer would (nothing
	// else is appending, so the writer is idle), then handed to the acker.
	var g group
	for i, stream := range []string{"X", "A", "B", "C", "X"} {
		expected := store.Any
		if i == 4 {
			expected = 1 // X holds x0 and x1 by then
		}
		r, err := s.newRequest(ctx, stream, expected, ev(fmt.Sprint("e", i), stream), false)
		if err != nil {
			t.Fatal(err)
		}
		g.reqs = append(g.reqs, r)
	}
	s.apply(&g)
	s.acks <- &g
	for i, r := range g.reqs {
		if _, err := r.Wait(); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	recs, err := s.ReadStream(ctx, "X", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("stream X holds %d events, want 3", len(recs))
	}
	for i, rec := range recs {
		if rec.StreamPosition != uint64(i) {
			t.Errorf("X[%d] = %s at stream position %d", i, rec.Event.ID, rec.StreamPosition)
		}
	}
}

// TestBrokenMatchesTheStoreError: once a write to the log failed, appends
// fail with an error matching both ErrBroken and store.ErrBroken, which
// tells callers that retrying cannot help.
func TestBrokenMatchesTheStoreError(t *testing.T) {
	s, err := Open(t.TempDir(), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.fail(errors.New("disk on fire"))
	_, err = s.Append(context.Background(), "X", store.Any, []*event.Event{{SpecVersion: event.SpecVersion, ID: "x", Source: "s", Type: "t"}})
	if !errors.Is(err, ErrBroken) || !errors.Is(err, store.ErrBroken) {
		t.Fatalf("Append on a broken store = %v", err)
	}
}

// TestTheFailedGroupSeesBroken: when Pebble fails to write or sync the
// log, the appends of the group that failed get an error matching
// store.ErrBroken too, not only the appends after it; and the store
// takes nothing more until it is reopened.
func TestTheFailedGroupSeesBroken(t *testing.T) {
	for name, kinds := range map[string][]errorfs.OpKind{
		"write": {errorfs.OpFileWrite, errorfs.OpFileWriteAt},
		"sync":  {errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo},
	} {
		t.Run(name, func(t *testing.T) {
			var on atomic.Bool
			inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
				if on.Load() && slices.Contains(kinds, op.Kind) && strings.HasSuffix(op.Path, ".log") {
					return errors.New("injected: disk on fire")
				}
				return nil
			})
			dir := t.TempDir()
			s, err := Open(dir, &Options{fs: errorfs.Wrap(vfs.Default, inj), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ev := func(id string) []*event.Event {
				return []*event.Event{{SpecVersion: event.SpecVersion, ID: id, Source: "s", Type: "t"}}
			}
			ctx := context.Background()
			if _, err := s.Append(ctx, "X", store.Any, ev("before")); err != nil {
				t.Fatal(err)
			}
			on.Store(true)
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() { _, errs[i] = s.Append(ctx, "X", store.Any, ev(fmt.Sprint("during-", i))) })
			}
			wg.Wait()
			for i, err := range errs {
				if !errors.Is(err, store.ErrBroken) {
					t.Errorf("append %d while the log fails = %v, want an error matching store.ErrBroken", i, err)
				}
			}
			on.Store(false)
			if _, err := s.Append(ctx, "X", store.Any, ev("after")); !errors.Is(err, store.ErrBroken) {
				t.Fatalf("append after the failure = %v, want store.ErrBroken until reopened", err)
			}
		})
	}
}
