// Package mem is an in-memory store.Store for tests and offline runs. It
// keeps the full contract of the interface except durability: everything
// is lost when the process ends.
package mem

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Store is an in-memory store.Store.
type Store struct {
	opts     store.Options
	notifier *store.Notifier

	mu struct {
		sync.RWMutex
		closed  bool
		log     []store.Record
		ids     map[string]uint64   // event id → global position
		streams map[string][]uint64 // stream → global positions
		corrs   map[string][]uint64 // correlation id → global positions
	}
}

var _ store.Store = (*Store)(nil)

// New returns an empty store. opts may be the zero value.
func New(opts store.Options) *Store {
	if opts.Partitions <= 0 {
		opts.Partitions = store.DefaultPartitions
	}
	s := &Store{opts: opts, notifier: store.NewNotifier(0)}
	s.mu.ids = make(map[string]uint64)
	s.mu.streams = make(map[string][]uint64)
	s.mu.corrs = make(map[string][]uint64)
	return s
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event) ([]store.Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	if err := store.Prepare(stream, expected, events, s.opts); err != nil {
		return nil, err
	}
	enc := make([][]byte, len(events))
	for i, e := range events {
		enc[i] = e.AppendBinary(nil)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, store.ErrClosed
	}
	pos := make([]store.Position, len(events))
	fresh := make([]bool, len(events))
	inBatch := make(map[string]int, len(events))
	nfresh := 0
	for i, e := range events {
		if j, ok := inBatch[e.ID]; ok {
			if !bytes.Equal(enc[i], enc[j]) {
				return nil, &store.ConflictError{Index: i, ID: e.ID}
			}
			pos[i] = pos[j] // filled in below once j has its place
			continue
		}
		inBatch[e.ID] = i
		if g, ok := s.mu.ids[e.ID]; ok {
			old := s.mu.log[g]
			if old.Stream != stream || !bytes.Equal(old.Event.AppendBinary(nil), enc[i]) {
				return nil, &store.ConflictError{Index: i, ID: e.ID}
			}
			pos[i] = store.Position{Stream: old.StreamPosition, Global: g}
			continue
		}
		fresh[i] = true
		nfresh++
	}
	if nfresh > 0 {
		// The log keeps copies of its own: the caller's strings may share
		// memory with much more than themselves (a decoded event's whole
		// text).
		stream = strings.Clone(stream)
		version := int64(len(s.mu.streams[stream])) - 1
		if expected != store.Any && int64(expected) != version {
			return nil, &store.VersionError{Stream: stream, Expected: expected, Actual: version}
		}
		now := time.Now()
		for i, e := range events {
			if !fresh[i] {
				continue
			}
			copyEv, _ := event.DecodeBinary(enc[i]) // the log keeps its own copy
			g := uint64(len(s.mu.log))
			sp := uint64(len(s.mu.streams[stream]))
			s.mu.log = append(s.mu.log, store.Record{
				Event: copyEv, Stream: stream, StreamPosition: sp, GlobalPosition: g,
				Partition: event.Partition(e.CorrelationID, s.opts.Partitions), Recorded: now,
			})
			s.mu.streams[stream] = append(s.mu.streams[stream], g)
			if !store.IsSystemStream(stream) {
				corr := copyEv.Correlation()
				s.mu.corrs[corr] = append(s.mu.corrs[corr], g)
			}
			s.mu.ids[copyEv.ID] = g
			pos[i] = store.Position{Stream: sp, Global: g}
		}
		for i, e := range events { // repeats within the batch
			if j := inBatch[e.ID]; j != i {
				pos[i] = pos[j]
			}
		}
		s.notifier.Advance(uint64(len(s.mu.log)))
	}
	return pos, nil
}

// ReadStream implements store.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return nil, store.ErrClosed
	}
	gs := s.mu.streams[stream]
	if from >= uint64(len(gs)) || limit <= 0 {
		return nil, nil
	}
	gs = gs[from:min(uint64(len(gs)), from+uint64(limit))]
	out := make([]store.Record, len(gs))
	for i, g := range gs {
		out[i] = s.mu.log[g]
	}
	return out, nil
}

// ReadCorrelation implements store.Store.
func (s *Store) ReadCorrelation(ctx context.Context, correlation string, from uint64, limit int) ([]store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	gs := s.mu.corrs[correlation]
	gs = gs[sort.Search(len(gs), func(i int) bool { return gs[i] >= from }):]
	gs = gs[:min(len(gs), limit)]
	out := make([]store.Record, len(gs))
	for i, g := range gs {
		out[i] = s.mu.log[g]
	}
	return out, nil
}

// ReadAll implements store.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int) ([]store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return nil, store.ErrClosed
	}
	n := uint64(len(s.mu.log))
	if from >= n || limit <= 0 {
		return nil, nil
	}
	return append([]store.Record(nil), s.mu.log[from:min(n, from+uint64(limit))]...), nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return store.Record{}, store.ErrClosed
	}
	g, ok := s.mu.ids[id]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return s.mu.log[g], nil
}

// Head implements store.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return 0, store.ErrClosed
	}
	return uint64(len(s.mu.log)), nil
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(ctx context.Context, from uint64) (store.Subscription, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	return store.Follow(s.ReadAll, s.notifier, from), nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.closed {
		s.mu.closed = true
		s.notifier.Close()
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.closed
}
