// Package storetest is the conformance suite every store.Store backend
// runs: storetest.Run(t, open). It checks the contract documented on
// store.Store — positions, expected versions, idempotency, atomic rejection
// of bad batches, concurrent appenders, subscriptions, close and reopen.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Opener opens (or creates) a store in dir. Durable backends must find in
// dir what an earlier store there held; others may ignore dir.
type Opener func(t testing.TB, dir string, opts store.Options) (store.Store, error)

// Config describes the backend under test.
type Config struct {
	Open Opener
	// Durable says that closing and reopening a store keeps its events, so
	// the reopen cases run.
	Durable bool
}

// Run runs the whole suite against the backend.
func Run(t *testing.T, cfg Config) {
	cases := []struct {
		name string
		fn   func(*testing.T, Config)
	}{
		{"AppendRead", testAppendRead},
		{"ExpectedVersion", testExpectedVersion},
		{"Idempotent", testIdempotent},
		{"Rejections", testRejections},
		{"FillAndPartition", testFillAndPartition},
		{"ConcurrentAppenders", testConcurrentAppenders},
		{"VersionRace", testVersionRace},
		{"DuplicateRace", testDuplicateRace},
		{"Subscribe", testSubscribe},
		{"SubscribeApplied", testSubscribeApplied},
		{"SubscribeStreams", testSubscribeStreams},
		{"AppendAsync", testAppendAsync},
		{"AppendAsyncClose", testAppendAsyncClose},
		{"AppendDeferred", testAppendDeferred},
		{"SlowSubscriber", testSlowSubscriber},
		{"Get", testGet},
		{"ReadCorrelation", testReadCorrelation},
		{"Close", testClose},
	}
	if cfg.Durable {
		cases = append(cases, struct {
			name string
			fn   func(*testing.T, Config)
		}{"Reopen", testReopen})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, cfg) })
	}
}

func open(t *testing.T, cfg Config, dir string, opts store.Options) store.Store {
	t.Helper()
	s, err := cfg.Open(t, dir, opts)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Ev returns a valid event of type typ with id and correlation, carrying
// about 200 bytes of JSON data.
func Ev(id, typ, corr string) *event.Event {
	return &event.Event{
		SpecVersion: event.SpecVersion, ID: id, Source: "agent/test", Type: typ, CorrelationID: corr,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data: json.RawMessage(`{"order_id":"` + corr + `","order_value":129.95,"currency":"EUR","customer":"c-1042","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"leave at the door, ring twice"}`),
	}
}

var ctx = context.Background()

func mustAppend(t *testing.T, s store.Store, stream string, exp store.ExpectedVersion, evs ...*event.Event) []store.Position {
	t.Helper()
	pos, err := s.Append(ctx, stream, exp, evs)
	if err != nil {
		t.Fatalf("Append(%s): %v", stream, err)
	}
	if len(pos) != len(evs) {
		t.Fatalf("Append returned %d positions for %d events", len(pos), len(evs))
	}
	return pos
}

func head(t *testing.T, s store.Store) uint64 {
	t.Helper()
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// CheckLog reads the whole log and checks that global positions are dense,
// stream positions dense per stream, and that ReadStream agrees.
func CheckLog(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var all []store.Record
	for {
		recs, err := s.ReadAll(ctx, uint64(len(all)), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
	}
	if h := head(t, s); h != uint64(len(all)) {
		t.Fatalf("Head = %d, ReadAll found %d records", h, len(all))
	}
	next := map[string]uint64{}
	ids := map[string]bool{}
	for i, r := range all {
		if r.GlobalPosition != uint64(i) {
			t.Fatalf("record %d has global position %d", i, r.GlobalPosition)
		}
		if r.StreamPosition != next[r.Stream] {
			t.Fatalf("record %d: stream %s position %d, want %d", i, r.Stream, r.StreamPosition, next[r.Stream])
		}
		next[r.Stream]++
		if ids[r.Event.ID] {
			t.Fatalf("event id %s twice in the log", r.Event.ID)
		}
		ids[r.Event.ID] = true
		got, err := s.Get(ctx, r.Event.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", r.Event.ID, err)
		}
		if got.GlobalPosition != r.GlobalPosition || got.Stream != r.Stream || got.StreamPosition != r.StreamPosition || got.Event.Type != r.Event.Type {
			t.Fatalf("Get(%s) = %+v, ReadAll has %+v", r.Event.ID, got, r)
		}
	}
	for stream, n := range next {
		recs, err := s.ReadStream(ctx, stream, 0, int(n)+10)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(recs)) != n {
			t.Fatalf("ReadStream(%s) = %d records, want %d", stream, len(recs), n)
		}
		for i, r := range recs {
			if r.StreamPosition != uint64(i) || r.Stream != stream || all[r.GlobalPosition].Event.ID != r.Event.ID {
				t.Fatalf("ReadStream(%s)[%d] disagrees with ReadAll: %+v", stream, i, r)
			}
		}
	}
	return all
}

func testAppendRead(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	if h := head(t, s); h != 0 {
		t.Fatalf("new store Head = %d", h)
	}
	pos := mustAppend(t, s, "order-1", store.Any, Ev("a", "order_received", "order-1"), Ev("b", "payment_successful", "order-1"))
	want := []store.Position{{Stream: 0, Global: 0}, {Stream: 1, Global: 1}}
	if fmt.Sprint(pos) != fmt.Sprint(want) {
		t.Fatalf("positions = %v, want %v", pos, want)
	}
	pos = mustAppend(t, s, "order-2", store.Any, Ev("c", "order_received", "order-2"))
	if pos[0] != (store.Position{Stream: 0, Global: 2}) {
		t.Fatalf("position = %v, want {0 2}", pos[0])
	}
	all := CheckLog(t, s)
	if len(all) != 3 {
		t.Fatalf("log has %d records, want 3", len(all))
	}
	got := all[1]
	in := Ev("b", "payment_successful", "order-1")
	in.Fill()
	if string(got.Event.AppendJSON(nil)) != string(in.AppendJSON(nil)) || got.Stream != "order-1" {
		t.Fatalf("read back %s in %s, want %s", got.Event.AppendJSON(nil), got.Stream, in.AppendJSON(nil))
	}
	if got.Recorded.IsZero() {
		t.Error("Recorded not set")
	}
	recs, err := s.ReadStream(ctx, "order-1", 1, 10)
	if err != nil || len(recs) != 1 || recs[0].Event.ID != "b" {
		t.Fatalf("ReadStream from 1 = %v, %v", recs, err)
	}
	recs, err = s.ReadAll(ctx, 1, 1)
	if err != nil || len(recs) != 1 || recs[0].Event.ID != "b" {
		t.Fatalf("ReadAll(1, 1) = %v, %v", recs, err)
	}
	if recs, err := s.ReadStream(ctx, "nope", 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("ReadStream of unknown stream = %v, %v", recs, err)
	}
	if recs, err := s.ReadAll(ctx, 99, 10); err != nil || len(recs) != 0 {
		t.Fatalf("ReadAll past the end = %v, %v", recs, err)
	}
}

func testExpectedVersion(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	mustAppend(t, s, "x", store.NoStream, Ev("1", "t", "x"))
	mustAppend(t, s, "x", store.Exact(0), Ev("2", "t", "x"), Ev("3", "t", "x"))
	mustAppend(t, s, "x", store.Any, Ev("4", "t", "x"))
	for _, tc := range []struct {
		name   string
		stream string
		exp    store.ExpectedVersion
		actual int64
	}{
		{"no-stream on existing", "x", store.NoStream, 3},
		{"stale exact", "x", store.Exact(1), 3},
		{"future exact", "x", store.Exact(9), 3},
		{"exact on missing", "y", store.Exact(0), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := head(t, s)
			_, err := s.Append(ctx, tc.stream, tc.exp, []*event.Event{Ev("new-"+tc.name, "t", "x")})
			var ve *store.VersionError
			if !errors.As(err, &ve) || !errors.Is(err, store.ErrWrongVersion) {
				t.Fatalf("got %v, want *VersionError", err)
			}
			if ve.Actual != tc.actual || ve.Expected != tc.exp || ve.Stream != tc.stream {
				t.Fatalf("got %+v, want actual %d", ve, tc.actual)
			}
			if h := head(t, s); h != before {
				t.Fatalf("rejected append moved Head from %d to %d", before, h)
			}
		})
	}
}

func testIdempotent(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	first := mustAppend(t, s, "o", store.NoStream, Ev("a", "t", "o"), Ev("b", "t", "o"))
	// A retried append: same events, stale expectation, same answer.
	again := mustAppend(t, s, "o", store.NoStream, Ev("a", "t", "o"), Ev("b", "t", "o"))
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatalf("retry got %v, want %v", again, first)
	}
	if h := head(t, s); h != 2 {
		t.Fatalf("Head after retry = %d, want 2", h)
	}
	// A batch of one old and one new event writes only the new one.
	mixed := mustAppend(t, s, "o", store.Exact(1), Ev("b", "t", "o"), Ev("c", "t", "o"))
	if mixed[0] != first[1] || mixed[1] != (store.Position{Stream: 2, Global: 2}) {
		t.Fatalf("mixed batch got %v", mixed)
	}
	// Repeats inside one batch land once.
	in := mustAppend(t, s, "o", store.Any, Ev("d", "t", "o"), Ev("d", "t", "o"))
	if in[0] != in[1] || in[0].Global != 3 {
		t.Fatalf("repeat in batch got %v", in)
	}
	before := head(t, s)
	for _, tc := range []struct {
		name   string
		stream string
		evs    []*event.Event
		index  int
	}{
		{"same id, other content", "o", []*event.Event{Ev("e", "t", "o"), Ev("a", "other", "o")}, 1},
		{"same id, other stream", "p", []*event.Event{Ev("a", "t", "o")}, 0},
		{"same id twice in batch, differing", "o", []*event.Event{Ev("f", "t", "o"), Ev("f", "u", "o")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx, tc.stream, store.Any, tc.evs)
			var ce *store.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) || ce.Index != tc.index {
				t.Fatalf("got %v, want *ConflictError at index %d", err, tc.index)
			}
			if h := head(t, s); h != before {
				t.Fatalf("rejected batch moved Head from %d to %d", before, h)
			}
		})
	}
	CheckLog(t, s)
}

func testRejections(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{Limits: event.Limits{MaxSize: 4096}, MaxBatch: 5})
	mustAppend(t, s, "o", store.Any, Ev("keep", "t", "o"))
	noType := Ev("x2", "", "o")
	big := Ev("x3", "t", "o")
	big.Data = json.RawMessage(`"` + string(make([]byte, 5000)) + `"`)
	for i := range 5000 {
		big.Data[1+i] = 'x'
	}
	badData := Ev("x4", "t", "o")
	badData.Data = json.RawMessage(`{nope}`)
	for _, tc := range []struct {
		name   string
		stream string
		exp    store.ExpectedVersion
		evs    []*event.Event
		want   error
		field  string
		index  int
	}{
		{"missing type", "o", store.Any, []*event.Event{Ev("x1", "t", "o"), noType}, errInvalid, "type", 1},
		{"too large", "o", store.Any, []*event.Event{big}, errInvalid, "", 0},
		{"data not JSON", "o", store.Any, []*event.Event{badData}, errInvalid, "data", 0},
		{"null event", "o", store.Any, []*event.Event{nil}, errInvalid, "", 0},
		{"empty batch", "o", store.Any, nil, store.ErrEmptyBatch, "", 0},
		{"batch over limit", "o", store.Any, []*event.Event{Ev("1", "t", "o"), Ev("2", "t", "o"), Ev("3", "t", "o"), Ev("4", "t", "o"), Ev("5", "t", "o"), Ev("6", "t", "o")}, store.ErrBatchTooLarge, "", 0},
		{"empty stream", "", store.Any, []*event.Event{Ev("y", "t", "o")}, store.ErrInvalidStream, "", 0},
		{"NUL in stream", "a\x00b", store.Any, []*event.Event{Ev("y", "t", "o")}, store.ErrInvalidStream, "", 0},
		{"bad expected version", "o", store.ExpectedVersion(-7), []*event.Event{Ev("y", "t", "o")}, store.ErrInvalidExpectedVersion, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx, tc.stream, tc.exp, tc.evs)
			if tc.want == errInvalid {
				var ee *store.EventError
				var fe *event.Error
				if !errors.As(err, &ee) || !errors.As(err, &fe) || !errors.Is(err, event.ErrInvalid) {
					t.Fatalf("got %v, want *EventError wrapping *event.Error", err)
				}
				if ee.Index != tc.index || fe.Field != tc.field {
					t.Fatalf("got index %d field %q (%v), want index %d field %q", ee.Index, fe.Field, err, tc.index, tc.field)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if h := head(t, s); h != 1 {
				t.Fatalf("rejected append changed the log: Head = %d", h)
			}
		})
	}
}

func testFillAndPartition(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{Partitions: 16})
	noID := Ev("", "t", "")
	withCorr := Ev("k", "t", "order-77")
	mustAppend(t, s, "misc", store.Any, noID, withCorr)
	if len(noID.ID) != 36 || noID.CorrelationID != noID.ID {
		t.Fatalf("event without id: id=%q correlation=%q", noID.ID, noID.CorrelationID)
	}
	all := CheckLog(t, s)
	if all[0].Event.ID != noID.ID || all[0].Event.CorrelationID != noID.ID {
		t.Fatalf("stored %+v, want the generated id and its own correlation", all[0].Event)
	}
	for _, r := range all {
		if want := event.Partition(r.Event.CorrelationID, 16); r.Partition != want {
			t.Errorf("%s: partition %d, want %d", r.Event.ID, r.Partition, want)
		}
	}
}

func testConcurrentAppenders(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	const producers, appends = 64, 40
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Go(func() {
			for i := range appends {
				stream := fmt.Sprintf("own-%d", p)
				if i%2 == 0 {
					stream = "shared"
				}
				id := fmt.Sprintf("p%d-%d", p, i)
				pos, err := s.Append(ctx, stream, store.Any, []*event.Event{Ev(id+"a", "t", stream), Ev(id+"b", "t", stream)})
				if err != nil {
					errs <- err
					return
				}
				if pos[1].Global != pos[0].Global+1 || pos[1].Stream != pos[0].Stream+1 {
					errs <- fmt.Errorf("batch %s not contiguous: %v", id, pos)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := CheckLog(t, s)
	if len(all) != producers*appends*2 {
		t.Fatalf("log has %d records, want %d", len(all), producers*appends*2)
	}
}

func testVersionRace(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	mustAppend(t, s, "race", store.NoStream, Ev("base", "t", "race"))
	for round := range 5 {
		const racers = 64
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, losses := 0, 0
		for r := range racers {
			wg.Go(func() {
				_, err := s.Append(ctx, "race", store.Exact(uint64(round)), []*event.Event{Ev(fmt.Sprintf("r%d-%d", round, r), "t", "race")})
				mu.Lock()
				defer mu.Unlock()
				var ve *store.VersionError
				switch {
				case err == nil:
					wins++
				case errors.As(err, &ve) && ve.Actual == int64(round)+1:
					losses++
				default:
					t.Errorf("racer %d: %v", r, err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || losses != racers-1 {
			t.Fatalf("round %d: %d winners and %d losers, want 1 and %d", round, wins, losses, racers-1)
		}
	}
	CheckLog(t, s)
}

// testDuplicateRace appends the same ids from many goroutines at once:
// each id lands once, every same-content append gets its position, and of
// differing contents exactly one wins.
func testDuplicateRace(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	for round := range 20 {
		const racers = 32
		var wg sync.WaitGroup
		var mu sync.Mutex
		same := map[store.Position]int{}
		wins, conflicts := 0, 0
		for r := range racers {
			wg.Go(func() {
				pos, err := s.Append(ctx, "dup", store.Any, []*event.Event{Ev(fmt.Sprintf("same-%d", round), "t", "dup")})
				_, err2 := s.Append(ctx, "dup", store.Any, []*event.Event{Ev(fmt.Sprintf("diff-%d", round), fmt.Sprintf("type-%d", r), "dup")})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("same-content append: %v", err)
				} else {
					same[pos[0]]++
				}
				switch {
				case err2 == nil:
					wins++
				case errors.Is(err2, store.ErrConflict):
					conflicts++
				default:
					t.Errorf("differing append: %v", err2)
				}
			})
		}
		wg.Wait()
		if len(same) != 1 {
			t.Fatalf("round %d: one id got %d different positions: %v", round, len(same), same)
		}
		if wins != 1 || conflicts != racers-1 {
			t.Fatalf("round %d: %d wins and %d conflicts for one id, want 1 and %d", round, wins, conflicts, racers-1)
		}
	}
	if all := CheckLog(t, s); len(all) != 40 {
		t.Fatalf("log holds %d events, want 40", len(all))
	}
}

func testSubscribe(t *testing.T, cfg Config) {
	subscribeUnderLoad(t, cfg, func(s store.Store, ctx context.Context, from uint64) (store.Subscription, error) {
		return s.Subscribe(ctx, from)
	})
}

// testSubscribeApplied holds store.SubscribeApplied to Subscribe's
// contract: it may show appends sooner, but in the same order, each once.
func testSubscribeApplied(t *testing.T, cfg Config) {
	subscribeUnderLoad(t, cfg, func(s store.Store, ctx context.Context, from uint64) (store.Subscription, error) {
		return store.SubscribeApplied(ctx, s, from)
	})
}

func subscribeUnderLoad(t *testing.T, cfg Config, subscribe func(store.Store, context.Context, uint64) (store.Subscription, error)) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	const pre = 100
	for i := range pre {
		mustAppend(t, s, "pre", store.Any, Ev(fmt.Sprintf("pre-%d", i), "t", "pre"))
	}
	const producers, each = 16, 50
	total := uint64(pre + producers*each)
	starts := []uint64{0, 37, pre, total - 1}
	type result struct {
		from uint64
		err  error
	}
	results := make(chan result, len(starts))
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, from := range starts {
		sub, err := subscribe(s, cctx, from)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer sub.Close()
			seen := map[string]bool{}
			want := from
			for want < total {
				r, err := sub.Next(cctx)
				if err != nil {
					results <- result{from, fmt.Errorf("sub.Next at %d: %w", want, err)}
					return
				}
				if r.GlobalPosition != want {
					results <- result{from, fmt.Errorf("got position %d, want %d", r.GlobalPosition, want)}
					return
				}
				if seen[r.Event.ID] {
					results <- result{from, fmt.Errorf("event %s twice", r.Event.ID)}
					return
				}
				seen[r.Event.ID] = true
				want++
			}
			results <- result{from, nil}
		}()
	}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Append(ctx, fmt.Sprintf("live-%d", p%4), store.Any, []*event.Event{Ev(fmt.Sprintf("live-%d-%d", p, i), "t", "c")}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for range starts {
		r := <-results
		if r.err != nil {
			t.Errorf("subscriber from %d: %v", r.from, r.err)
		}
	}
}

// testSubscribeStreams holds store.SubscribeWith with a stream filter to
// Subscribe's contract: every record, in order, each once, and the event
// in exactly those of the streams wanted. A durable store is reopened
// first, so that the catch-up reads what an open store no longer holds in
// memory.
func testSubscribeStreams(t *testing.T, cfg Config) {
	dir := t.TempDir()
	streams := []string{"a", "b", "$sys", "a-longer-name"}
	appendSome := func(s store.Store, from, n int) {
		for i := from; i < from+n; i++ {
			st := streams[i%len(streams)]
			mustAppend(t, s, st, store.Any, Ev(fmt.Sprintf("e-%d", i), "t", st))
		}
	}
	s, err := cfg.Open(t, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendSome(s, 0, 40)
	if cfg.Durable {
		s.Close()
		s = open(t, cfg, dir, store.Options{})
	} else {
		t.Cleanup(func() { s.Close() })
	}
	want := func(st string) bool { return st == "a" || st == "$sys" }
	const total = 100
	for _, applied := range []bool{false, true} {
		for _, from := range []uint64{0, 13} {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			sub, err := store.SubscribeWith(cctx, s, from, store.SubscribeOptions{Applied: applied, Streams: want})
			if err != nil {
				t.Fatal(err)
			}
			var got []store.Record
			for g := from; g < 40; g++ {
				r, err := sub.Next(cctx)
				if err != nil {
					t.Fatalf("applied %v from %d: Next at %d: %v", applied, from, g, err)
				}
				got = append(got, r)
			}
			if !applied && from == 0 {
				appendSome(s, 40, total-40) // once: the live part of every later subscription is caught up
			}
			for g := uint64(40); g < total; g++ {
				r, err := sub.Next(cctx)
				if err != nil {
					t.Fatalf("applied %v from %d: Next at %d: %v", applied, from, g, err)
				}
				got = append(got, r)
			}
			sub.Close()
			cancel()
			all, err := s.ReadAll(ctx, from, total)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(got) {
				t.Fatalf("ReadAll gave %d records, the subscription %d", len(all), len(got))
			}
			for i, r := range got {
				w := all[i]
				if r.GlobalPosition != w.GlobalPosition || r.Stream != w.Stream || r.StreamPosition != w.StreamPosition ||
					r.Partition != w.Partition || !r.Recorded.Equal(w.Recorded) {
					t.Fatalf("applied %v from %d: record %d is %+v, ReadAll's %+v", applied, from, i, r, w)
				}
				switch {
				case want(r.Stream) && (r.Event == nil || r.Event.ID != w.Event.ID):
					t.Fatalf("applied %v from %d: record %d of stream %s has event %v, want %s", applied, from, i, r.Stream, r.Event, w.Event.ID)
				case !want(r.Stream) && r.Event != nil:
					t.Fatalf("applied %v from %d: record %d of stream %s, left out, has event %s", applied, from, i, r.Stream, r.Event.ID)
				}
			}
		}
	}
}

func testSlowSubscriber(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// A subscriber that reads nothing must not hold appends back.
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			if _, err := s.Append(ctx, "s", store.Any, []*event.Event{Ev(fmt.Sprintf("e%d", i), "t", "s")}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("appends stalled behind an idle subscriber")
	}
	for i := range 2000 {
		r, err := sub.Next(ctx)
		if err != nil || r.GlobalPosition != uint64(i) {
			t.Fatalf("Next = %d, %v; want %d", r.GlobalPosition, err, i)
		}
	}
	// A waiting Next returns when its context ends.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := sub.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an idle log = %v, want deadline exceeded", err)
	}
}

// testAppendAsync keeps many appends in flight from one goroutine, each
// expecting the stream version the ones before it leave: they all succeed
// only if they enter the log in the order they were made.
func testAppendAsync(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	const appends = 300
	var pending []store.Pending
	var want []int
	version := uint64(0)
	for i := range appends {
		n := 1 + i%4
		evs := make([]*event.Event, n)
		for k := range evs {
			evs[k] = Ev(fmt.Sprintf("async-%d-%d", i, k), "t", "c")
		}
		exp := store.Exact(version - 1)
		if version == 0 {
			exp = store.NoStream
		}
		pending = append(pending, store.AppendAsync(ctx, s, "async", exp, evs))
		want = append(want, int(version))
		version += uint64(n)
	}
	bad := store.AppendAsync(ctx, s, "async", store.Any, []*event.Event{{ID: "no-type", Source: "s", SpecVersion: event.SpecVersion}})
	for i, p := range pending {
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("append %d never settled", i)
		}
		pos, err := p.Wait()
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if int(pos[0].Stream) != want[i] {
			t.Fatalf("append %d at stream position %d, want %d", i, pos[0].Stream, want[i])
		}
	}
	if _, err := bad.Wait(); err == nil {
		t.Error("an event without a type was accepted")
	}
	recs := CheckLog(t, s)
	if uint64(len(recs)) != version {
		t.Fatalf("log holds %d events, want %d", len(recs), version)
	}
	for i, r := range recs {
		if r.Stream != "async" || r.StreamPosition != uint64(i) {
			t.Fatalf("record %d: stream %s position %d", i, r.Stream, r.StreamPosition)
		}
	}
}

// testAppendDeferred interleaves deferred appends (store.AppendDeferred)
// with plain ones from several goroutines, each on its own stream with
// exact expected versions: every append settles at the place it was made
// in, a subscriber reads every event once, duplicates of deferred events
// get their positions back, and a durable store keeps them all across a
// reopen, the deferred appends made last included.
func testAppendDeferred(t *testing.T, cfg Config) {
	dir := t.TempDir()
	s, err := cfg.Open(t, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, appends = 4, 200
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("d-%d", w)
			var pending []store.Pending
			for i := range appends {
				exp := store.Exact(uint64(i) - 1)
				if i == 0 {
					exp = store.NoStream
				}
				evs := []*event.Event{Ev(fmt.Sprintf("d-%d-%d", w, i), "t", stream)}
				if i%3 == 2 {
					pending = append(pending, store.AppendAsync(ctx, s, stream, exp, evs))
				} else {
					pending = append(pending, store.AppendDeferred(ctx, s, stream, exp, evs))
				}
			}
			for i, p := range pending {
				pos, err := p.Wait()
				if err == nil && pos[0].Stream != uint64(i) {
					err = fmt.Errorf("stream position %d, want %d", pos[0].Stream, i)
				}
				if err != nil {
					errs <- fmt.Errorf("%s append %d: %w", stream, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range writers * appends {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r, err := sub.Next(rctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d events: %v", len(seen), err)
		}
		if seen[r.Event.ID] {
			t.Fatalf("event %s read twice", r.Event.ID)
		}
		seen[r.Event.ID] = true
	}
	// A repeat of a deferred event gets its original positions.
	repeat := store.AppendDeferred(ctx, s, "d-0", store.Any, []*event.Event{Ev("d-0-7", "t", "d-0")})
	if pos, err := repeat.Wait(); err != nil || pos[0].Stream != 7 {
		t.Fatalf("repeat = %v, %v; want stream position 7", pos, err)
	}
	// Deferred appends made just before Close settle, and are kept.
	last := store.AppendDeferred(ctx, s, "d-last", store.NoStream, []*event.Event{Ev("d-last", "t", "d-last")})
	if _, err := last.Wait(); err != nil {
		t.Fatal(err)
	}
	before := CheckLog(t, s)
	if len(before) != writers*appends+1 {
		t.Fatalf("log holds %d events, want %d", len(before), writers*appends+1)
	}
	if !cfg.Durable {
		return
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, cfg, dir, store.Options{})
	if after := CheckLog(t, s); len(after) != len(before) {
		t.Fatalf("reopened log holds %d events, want %d", len(after), len(before))
	}
}

// testAppendAsyncClose closes the store under appends in flight: every
// one settles, either in the log or with an error, and none is lost.
func testAppendAsyncClose(t *testing.T, cfg Config) {
	s, err := cfg.Open(t, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pending []store.Pending
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				pd := store.AppendAsync(ctx, s, "s", store.Any, []*event.Event{Ev(fmt.Sprintf("c-%d-%d", p, i), "t", "c")})
				mu.Lock()
				pending = append(pending, pd)
				mu.Unlock()
				select {
				case <-pd.Done():
					if _, err := pd.Wait(); err != nil {
						return
					}
				default:
				}
				if i > 10000 {
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, pd := range pending {
		select {
		case <-pd.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d of %d never settled after Close", i, len(pending))
		}
		if _, err := pd.Wait(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Fatalf("append %d: %v, want success or ErrClosed", i, err)
		}
	}
}

func testClose(t *testing.T, cfg Config) {
	s, err := cfg.Open(t, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "c", store.Any, Ev("1", "t", "c"))
	sub, err := s.Subscribe(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		woke <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-woke:
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("waiting Next after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake a waiting subscriber")
	}
	if _, err := s.Append(ctx, "c", store.Any, []*event.Event{Ev("2", "t", "c")}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if _, err := s.ReadAll(ctx, 0, 1); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ReadAll after Close = %v", err)
	}
	if _, err := s.ReadStream(ctx, "c", 0, 1); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ReadStream after Close = %v", err)
	}
	if _, err := s.Get(ctx, "1"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Head after Close = %v", err)
	}
	if _, err := s.Subscribe(ctx, 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Subscribe after Close = %v", err)
	}
}

func testReopen(t *testing.T, cfg Config) {
	dir := t.TempDir()
	s, err := cfg.Open(t, dir, store.Options{Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustAppend(t, s, fmt.Sprintf("o-%d", i%5), store.Any, Ev(fmt.Sprintf("e%d", i), "t", fmt.Sprintf("o-%d", i%5)))
	}
	before := CheckLog(t, s)
	s.Close()

	if _, err := cfg.Open(t, dir, store.Options{Partitions: 16}); !errors.Is(err, store.ErrPartitions) {
		t.Fatalf("reopening with other partitions = %v, want ErrPartitions", err)
	}
	s = open(t, cfg, dir, store.Options{})
	after := CheckLog(t, s)
	if len(after) != len(before) {
		t.Fatalf("reopened log has %d records, want %d", len(after), len(before))
	}
	for i := range before {
		a, b := before[i], after[i]
		if string(a.Event.AppendJSON(nil)) != string(b.Event.AppendJSON(nil)) || a.Stream != b.Stream ||
			a.StreamPosition != b.StreamPosition || a.Partition != b.Partition || !a.Recorded.Equal(b.Recorded) {
			t.Fatalf("record %d changed across reopen:\n%+v\n%+v", i, a, b)
		}
	}
	// Dedup and versions survive too.
	pos := mustAppend(t, s, "o-0", store.Exact(9), Ev("e0", "t", "o-0"))
	if pos[0] != (store.Position{Stream: 0, Global: 0}) {
		t.Fatalf("repeat after reopen got %v", pos)
	}
	pos = mustAppend(t, s, "o-0", store.Exact(9), Ev("new", "t", "o-0"))
	if pos[0] != (store.Position{Stream: 10, Global: 50}) {
		t.Fatalf("append after reopen got %v", pos)
	}
}

// errInvalid marks the cases that expect an invalid-event error.
var errInvalid = event.ErrInvalid

func testGet(t *testing.T, cfg Config) {
	s := open(t, cfg, t.TempDir(), store.Options{})
	if _, err := s.Get(ctx, "nothing"); !errors.Is(err, store.ErrNotFound) || store.Code(err) != store.CodeNotFound {
		t.Fatalf("Get on an empty log = %v, want ErrNotFound", err)
	}
	mustAppend(t, s, "a", store.Any, Ev("1", "t1", "a"), Ev("2", "t2", "a"))
	mustAppend(t, s, "b", store.Any, Ev("3", "t3", "b"))
	rec, err := s.Get(ctx, "3")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Stream != "b" || rec.StreamPosition != 0 || rec.GlobalPosition != 2 || rec.Event.Type != "t3" || string(rec.Event.Data) != string(Ev("3", "t3", "b").Data) {
		t.Fatalf("Get(3) = %+v", rec)
	}
	if rec.Partition != event.Partition("b", store.DefaultPartitions) {
		t.Fatalf("Get(3) partition %d", rec.Partition)
	}
	if _, err := s.Get(ctx, "4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(4) = %v, want ErrNotFound", err)
	}
	CheckLog(t, s)
}

// testReadCorrelation: a correlation's events are found wherever they
// were appended — in the stream its id names, in streams a publisher
// named, as the later events of a batch whose stream is the first's
// correlation — but not in the system's streams, in log order, paged by
// global position; the stream named by a correlation may hold events of
// others, which it does not return. For a durable backend the answers
// survive a reopen.
func testReadCorrelation(t *testing.T, cfg Config) {
	dir := t.TempDir()
	s := open(t, cfg, dir, store.Options{})
	mustAppend(t, s, "A", store.Any, Ev("a1", "t", "A"))
	mustAppend(t, s, "tenant-1", store.Any, Ev("a2", "t", "A"), Ev("x1", "t", "X"))
	mustAppend(t, s, "A", store.Any, Ev("a3", "t", "A"), Ev("b1", "t", "B")) // b1 lands in A
	noCorr := Ev("self", "t", "")
	mustAppend(t, s, "elsewhere", store.Any, noCorr) // its own correlation
	mustAppend(t, s, "B", store.Any, Ev("b2", "t", "B"))
	mustAppend(t, s, "A", store.Any, Ev("a4", "t", "A"))
	mustAppend(t, s, "$actions", store.Any, Ev("sys-a", "t", "A"), Ev("sys-x", "t", "$actions")) // the system's: left out

	check := func(s store.Store) {
		t.Helper()
		want := map[string][]string{
			"A": {"a1", "a2", "a3", "a4"}, "B": {"b1", "b2"}, "X": {"x1"}, "self": {"self"},
			"tenant-1": nil, "elsewhere": nil, "nobody": nil, "$actions": nil,
		}
		for corr, ids := range want {
			recs, err := s.ReadCorrelation(ctx, corr, 0, 100)
			if err != nil {
				t.Fatalf("ReadCorrelation(%s): %v", corr, err)
			}
			var got []string
			last := int64(-1)
			for _, r := range recs {
				got = append(got, r.Event.ID)
				if int64(r.GlobalPosition) <= last {
					t.Fatalf("ReadCorrelation(%s): not in log order: %v", corr, recs)
				}
				last = int64(r.GlobalPosition)
				if r.Event.Correlation() != corr {
					t.Fatalf("ReadCorrelation(%s) returned %s of correlation %s", corr, r.Event.ID, r.Event.Correlation())
				}
			}
			if !slices.Equal(got, ids) {
				t.Errorf("ReadCorrelation(%s) = %v, want %v", corr, got, ids)
			}
		}
		// Paging: from a global position, limit at a time.
		var paged []string
		for from := uint64(0); ; {
			recs, err := s.ReadCorrelation(ctx, "A", from, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			paged = append(paged, recs[0].Event.ID)
			from = recs[0].GlobalPosition + 1
		}
		if !slices.Equal(paged, []string{"a1", "a2", "a3", "a4"}) {
			t.Errorf("paged one at a time: %v", paged)
		}
		if recs, err := s.ReadCorrelation(ctx, "A", 0, 0); err != nil || len(recs) != 0 {
			t.Errorf("limit 0: %v, %v", recs, err)
		}
		if recs, err := s.ReadCorrelation(ctx, "A", 1<<40, 10); err != nil || len(recs) != 0 {
			t.Errorf("from past the end: %v, %v", recs, err)
		}
	}
	check(s)
	if cfg.Durable {
		s.Close()
		s = open(t, cfg, dir, store.Options{})
		check(s)
	}

	// A long correlation, its stream shared with another's events and its
	// events spread over other streams too, read from every position.
	var want []store.Record
	for i := range 300 {
		stream, corr := "L", "L"
		switch i % 5 {
		case 1:
			corr = "M" // in L's stream, not L's
		case 2:
			stream = "side" // L's, elsewhere
		}
		mustAppend(t, s, stream, store.Any, Ev(fmt.Sprint("l", i), "t", corr))
	}
	all, err := s.ReadAll(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.Event.Correlation() == "L" && !store.IsSystemStream(r.Stream) {
			want = append(want, r)
		}
	}
	for from := uint64(0); from <= all[len(all)-1].GlobalPosition+1; from += 7 {
		recs, err := s.ReadCorrelation(ctx, "L", from, 5)
		if err != nil {
			t.Fatal(err)
		}
		var exp []string
		for _, r := range want {
			if r.GlobalPosition >= from && len(exp) < 5 {
				exp = append(exp, r.Event.ID)
			}
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.Event.ID)
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("ReadCorrelation(L, %d, 5) = %v, want %v", from, got, exp)
		}
	}
}
