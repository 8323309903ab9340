package pebble_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{Open: openStore, Durable: true})
}

func openStore(_ testing.TB, dir string, opts store.Options) (store.Store, error) {
	return pebble.Open(dir, &pebble.Options{Options: opts})
}

// TestTailReadsMatchPebble reads a log of varied records through
// subscriptions, which read the latest records from the store's tail in
// memory, and again after a reopen, when everything comes from Pebble:
// the two agree record for record.
func TestTailReadsMatchPebble(t *testing.T) {
	dir := t.TempDir()
	s, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12000
	var live []store.Record
	done := make(chan error, 1)
	go func() {
		for len(live) < n {
			r, err := sub.Next(ctx)
			if err != nil {
				done <- err
				return
			}
			live = append(live, r)
		}
		done <- nil
	}()
	for i := 0; i < n; {
		k := 1 + i%7
		evs := make([]*event.Event, 0, k)
		for j := range k {
			e := storetest.Ev(fmt.Sprintf("t-%d", i+j), "t", fmt.Sprintf("c-%d", (i+j)%13))
			e.Data = []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i+j, strings.Repeat("p", (i+j)%3000)))
			evs = append(evs, e)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%5), store.Any, evs[:min(k, n-i)]); err != nil {
			t.Fatal(err)
		}
		i += k
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sub.Close()
	s.Close()
	s, err = pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cold := storetest.CheckLog(t, s)
	if len(cold) != n {
		t.Fatalf("reopened log holds %d records, want %d", len(cold), n)
	}
	for i := range cold {
		a, b := live[i], cold[i]
		if string(a.Event.AppendJSON(nil)) != string(b.Event.AppendJSON(nil)) || a.Stream != b.Stream ||
			a.StreamPosition != b.StreamPosition || a.GlobalPosition != b.GlobalPosition ||
			a.Partition != b.Partition || !a.Recorded.Equal(b.Recorded) {
			t.Fatalf("record %d differs:\n%+v\n%+v", i, a, b)
		}
	}
}
