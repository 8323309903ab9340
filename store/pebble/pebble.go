// Package pebble is the default store.Store: an embedded, durable log on
// Pebble, the LSM key-value store.
//
// One writer goroutine owns every append. It takes all the appends waiting
// for it, checks them in arrival order against the log and against each
// other, and writes them as one Pebble batch with one fsync (group commit).
// Positions are assigned in that order and a batch either lands whole or
// not at all, so positions stay dense after any crash.
//
// Keys:
//
//	g<global:8>            record: stream, stream position, partition, time, event
//	s<stream>\x00<pos:8>   global position of a stream's event
//	i<event id>            global position of an event id (permanent dedup index)
//	m<name>                store metadata
package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

const (
	prefixGlobal      = 'g'
	prefixStream      = 's'
	prefixID          = 'i'
	prefixMeta        = 'm'
	prefixCorrelation = 'c'

	// formatVersion 2 added the correlation index; a store of format 1
	// gets it when opened.
	formatVersion = 2

	// maxGroupEvents bounds the events one group commit carries.
	maxGroupEvents = 16384
	// maxRecentIDs bounds the writer's set of recently written ids.
	maxRecentIDs = 1 << 16
)

// maxCachedStreams bounds the writer's cache of stream versions, checked
// between groups (a variable for tests).
var maxCachedStreams = 1 << 16

// DefaultSyncDelay is the default Options.SyncDelay: a few fsyncs' worth
// of time on a common SSD, short enough not to hold up the readers of
// the deferred records.
const DefaultSyncDelay = 5 * time.Millisecond

var (
	keyPartitions = []byte("mpartitions")
	keyFormat     = []byte("mformat")
)

// Options configure a Pebble store. The zero value works.
type Options struct {
	store.Options
	// CacheSize is Pebble's block cache in bytes. Zero means 64 MiB.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes. Zero means 32 MiB.
	MemTableSize uint64
	// NoSync skips the fsync before an append returns: faster, but a crash
	// of the machine (not of the process) may lose the latest appends.
	// Positions stay dense either way.
	NoSync bool
	// SyncDelay is the longest a deferred append (AppendDeferred) waits
	// for an fsync to share before the store syncs the log for it. Zero
	// means DefaultSyncDelay; a negative value syncs deferred appends like
	// any other.
	SyncDelay time.Duration
	// Logger receives Pebble's warnings and errors. Nil means slog.Default().
	Logger *slog.Logger

	fs vfs.FS // the file system under Pebble, for tests; nil = the OS's
}

// Store is a store.Store on Pebble.
type Store struct {
	db         *pdb.DB
	opts       Options
	partitions int
	notifier   *store.Notifier // follows head
	appliedN   *store.Notifier // follows applied
	reqs       chan *appendReq
	acks       chan *group // planned groups, in log order, waiting for their fsync
	closing    chan struct{}
	done       chan struct{} // closed when the writer and acker have stopped
	closeOnce  sync.Once
	head       atomic.Uint64 // acknowledged events; readers see no further
	applied    atomic.Uint64 // events applied: a Get sees every one below
	ids        atomic.Pointer[idFilter]
	broken     atomic.Pointer[error]
	tail       tail // the latest records, for subscriptions

	// closeMu keeps reads from racing db.Close.
	closeMu struct {
		sync.RWMutex
		closed bool
	}

	// Owned by the writer goroutine.
	next uint64 // next global position
	// versions maps a stream to its version, a bounded cache. A version
	// is updated through its pointer: assigning to a key already in a
	// map stores the caller's string in place of the one there, and the
	// caller's strings share memory with a whole decoded event. Keys are
	// copies.
	versions map[string]*int64
	pending  map[string]pendRef // event id → place, within one group
	// recent holds a hash of the id of every event applied at or after
	// recentFrom, so the writer can trust a lookup an appender made at
	// that point or later. A hash, not the id, so that it keeps no
	// event's memory; two ids with one hash only cost the second a look-up
	// in the log.
	recent     map[uint64]struct{}
	recentSeed maphash.Seed
	recentFrom uint64
	// vals holds the encoded records of the group being planned, for the
	// tail: each the buffer its appender encoded the event into.
	vals      [][]byte
	kind      []int        // plan's scratch
	streamIdx indexEntries // index entries of the group being planned
	idIdx     indexEntries
	recHead   []byte // plan's scratch for a record's head
}

// group is the appends of one Pebble batch.
type group struct {
	reqs     []*appendReq
	batch    *pdb.Batch // nil when the group wrote nothing
	next     uint64     // the log's end once the group is durable
	err      error      // from applying the batch
	deferred bool       // every append of the group is deferred
	syncing  bool       // the batch's fsync is under way: SyncWait for it
}

var (
	_ store.Store             = (*Store)(nil)
	_ store.AppliedSubscriber = (*Store)(nil)
	_ store.DeferredAppender  = (*Store)(nil)
	_ store.OptionSubscriber  = (*Store)(nil)
)

type pendRef struct {
	stream string
	enc    []byte
	pos    store.Position
}

type appendReq struct {
	stream   string
	expected store.ExpectedVersion
	events   []*event.Event
	// bufs holds each event's encoding (enc) after recordRoom(stream)
	// bytes of room, where the writer puts the record's head: the record
	// is the buffer, with no copy.
	bufs  [][]byte
	room  int
	fresh []bool // ids the store generated itself: new by construction
	// seen says what the appender's own lookup found for each event id,
	// with the log applied up to snap: 0 not looked up, 1 absent, 2 present
	// at pos[i] with the same content.
	seen     []uint8
	snap     uint64
	pos      []store.Position
	err      error
	done     chan struct{}
	deferred bool // its fsync may wait for one to share (AppendDeferred)
	// one holds the slices above for an append of one event, the most
	// common, so that they take no allocations of their own.
	one struct {
		bufs  [1][]byte
		fresh [1]bool
		seen  [1]uint8
		pos   [1]store.Position
	}
}

// blockSize is the uncompressed size of the log's sstable blocks.
const blockSize = 16 << 10

// Open opens the store in dir, creating it if need be.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SyncDelay == 0 {
		o.SyncDelay = DefaultSyncDelay
	}
	popts := &pdb.Options{
		CacheSize:          64 << 20,
		MemTableSize:       32 << 20,
		FormatMajorVersion: pdb.FormatNewest,
		Logger:             pebbleLogger{o.Logger},
	}
	// Bloom filters spare most sstable reads of the dedup lookups, which
	// mostly ask for ids that are not there. Blocks of 16 KiB rather than
	// Pebble's 4 KiB make a replay, which reads the log in order, about
	// half as fast again, for look-ups by id that are a third slower.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		popts.Levels[i].BlockSize = blockSize
	}
	if o.CacheSize > 0 {
		popts.CacheSize = o.CacheSize
	}
	if o.MemTableSize > 0 {
		popts.MemTableSize = o.MemTableSize
	}
	if o.fs != nil {
		popts.FS = o.fs
	}
	db, err := pdb.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", dir, err)
	}
	s := &Store{
		db: db, opts: o,
		reqs:       make(chan *appendReq, 1024),
		acks:       make(chan *group, 4),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		versions:   make(map[string]*int64),
		pending:    make(map[string]pendRef),
		recent:     make(map[uint64]struct{}),
		recentSeed: maphash.MakeSeed(),
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening log %s: %w", dir, err)
	}
	s.head.Store(s.next)
	s.applied.Store(s.next)
	s.recentFrom = s.next
	s.notifier = store.NewNotifier(s.next)
	s.appliedN = store.NewNotifier(s.next)
	ackerDone := make(chan struct{})
	go func() { defer close(ackerDone); s.acker() }()
	go func() {
		s.writer()
		close(s.acks)
		<-ackerDone
		close(s.done)
	}()
	return s, nil
}

// init reads or writes the store's metadata and finds the log's end.
func (s *Store) init() error {
	format, err := s.getUint(keyFormat)
	if err != nil {
		return err
	}
	parts, err := s.getUint(keyPartitions)
	if err != nil {
		return err
	}
	switch {
	case format == 0: // a new store
		s.partitions = s.opts.Partitions
		if s.partitions <= 0 {
			s.partitions = store.DefaultPartitions
		}
		b := s.db.NewBatch()
		b.Set(keyFormat, binary.AppendUvarint(nil, formatVersion), nil)
		b.Set(keyPartitions, binary.AppendUvarint(nil, uint64(s.partitions)), nil)
		if err := b.Commit(pdb.Sync); err != nil {
			return err
		}
	case format > formatVersion:
		return fmt.Errorf("store format %d, this build reads %d", format, formatVersion)
	default:
		s.partitions = int(parts)
		if s.opts.Partitions > 0 && s.opts.Partitions != s.partitions {
			return fmt.Errorf("%w: asked for %d, the store has %d", store.ErrPartitions, s.opts.Partitions, s.partitions)
		}
		if format == 1 {
			if err := s.indexCorrelations(); err != nil {
				return fmt.Errorf("upgrading the store to format %d: %w", formatVersion, err)
			}
		}
	}
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: []byte{prefixGlobal}, UpperBound: []byte{prefixGlobal + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() {
		s.next = binary.BigEndian.Uint64(it.Key()[1:]) + 1
	}
	if err := it.Error(); err != nil {
		return err
	}
	f, err := s.buildFilter(2 * int(s.next))
	if err != nil {
		return err
	}
	s.ids.Store(f)
	return nil
}

// indexCorrelations upgrades a store of format 1, which had no
// correlation index, to format 2: it reads the whole log once and indexes
// the events appended to a stream other than their correlation's. The
// format changes only once the index is complete, so an upgrade cut short
// starts over at the next Open.
func (s *Store) indexCorrelations() error {
	start := time.Now()
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: []byte{prefixGlobal}, UpperBound: []byte{prefixGlobal + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	var idx indexEntries
	var d decoder
	records, indexed := 0, 0
	for ok := it.First(); ok; ok = it.Next() {
		g := binary.BigEndian.Uint64(it.Key()[1:])
		d.left = maxSlab
		rec, err := d.record(g, it.Value())
		if err != nil {
			return err
		}
		records++
		if corr := rec.Event.Correlation(); corr != rec.Stream && !store.IsSystemStream(rec.Stream) {
			idx.add(prefixCorrelation, corr, true, g, g)
			indexed++
		}
		if len(idx.ends) == 64<<10 {
			idx.writeTo(b)
			if err := b.Commit(pdb.NoSync); err != nil {
				return err
			}
			b.Close()
			b = s.db.NewBatch()
		}
		d.arena = d.arena[:0] // the records are not kept
	}
	if err := it.Error(); err != nil {
		return err
	}
	idx.writeTo(b)
	b.Set(keyFormat, binary.AppendUvarint(nil, formatVersion), nil)
	if err := b.Commit(pdb.Sync); err != nil {
		return err
	}
	s.opts.Logger.Info("store upgraded: correlation index built", "format", formatVersion,
		"records", records, "indexed", indexed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// buildFilter makes an id filter for capacity ids from the id index.
func (s *Store) buildFilter(capacity int) (*idFilter, error) {
	f := newIDFilter(capacity)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		f.add(string(it.Key()[1:]))
	}
	return f, it.Error()
}

func (s *Store) getUint(key []byte) (uint64, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pdb.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	n, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, fmt.Errorf("corrupt metadata %q", key)
	}
	return n, nil
}

// Partitions returns the store's number of partitions.
func (s *Store) Partitions() int { return s.partitions }

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event) ([]store.Position, error) {
	r, err := s.enqueue(ctx, stream, expected, events, false)
	if err != nil {
		return nil, err
	}
	select {
	case <-r.done:
		return r.pos, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// AppendAsync implements store.AsyncAppender.
func (s *Store) AppendAsync(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event) store.Pending {
	r, err := s.enqueue(ctx, stream, expected, events, false)
	if err != nil {
		return store.Settled(nil, err)
	}
	return r
}

// AppendDeferred implements store.DeferredAppender. A group of appends
// that are all deferred is written without asking for an fsync; it
// becomes durable with the fsync of the next group that asks for one, or,
// if none comes within Options.SyncDelay, with one the store makes for
// it. Either way one fsync serves every deferred group before it.
func (s *Store) AppendDeferred(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event) store.Pending {
	r, err := s.enqueue(ctx, stream, expected, events, s.opts.SyncDelay > 0 && !s.opts.NoSync)
	if err != nil {
		return store.Settled(nil, err)
	}
	return r
}

// Done and Wait make an appendReq the store.Pending of AppendAsync.
func (r *appendReq) Done() <-chan struct{} { return r.done }

func (r *appendReq) Wait() ([]store.Position, error) {
	<-r.done
	return r.pos, r.err
}

// newRequest checks and encodes an append, and looks up the ids it may
// repeat, for the writer.
func (s *Store) newRequest(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event, deferred bool) (*appendReq, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	r := &appendReq{stream: stream, expected: expected, events: events, done: make(chan struct{}), deferred: deferred}
	if len(events) == 1 {
		r.bufs, r.fresh, r.seen, r.pos = r.one.bufs[:], r.one.fresh[:], r.one.seen[:], r.one.pos[:]
	} else {
		r.bufs, r.fresh = make([][]byte, len(events)), make([]bool, len(events))
		r.seen, r.pos = make([]uint8, len(events)), make([]store.Position, len(events))
	}
	for i, e := range events {
		r.fresh[i] = e != nil && e.ID == ""
	}
	if err := store.Prepare(stream, expected, events, s.opts.Options); err != nil {
		return nil, err
	}
	r.room = recordRoom(stream)
	for i, e := range events {
		r.bufs[i] = e.AppendBinary(make([]byte, r.room, r.room+e.BinarySize()))
	}
	if err := s.lookupAll(r); err != nil {
		return nil, err
	}
	return r, nil
}

// enc returns the encoding of the request's event i.
func (r *appendReq) enc(i int) []byte { return r.bufs[i][r.room:] }

// enqueue checks and encodes an append and queues it for the writer. The
// request's done channel is closed once it has its outcome: the writer
// and the acker settle every request they take, and Close every one they
// left in the queue.
func (s *Store) enqueue(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event, deferred bool) (*appendReq, error) {
	r, err := s.newRequest(ctx, stream, expected, events, deferred)
	if err != nil {
		return nil, err
	}
	// Close drains the queue under the write lock once the writer has
	// stopped, so a request queued under the read lock is never lost.
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return nil, store.ErrClosed
	}
	select {
	case s.reqs <- r:
		return r, nil
	case <-s.closing:
		return nil, store.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// writer plans groups of appends and applies each as one batch, without
// waiting for its fsync: the acker waits, while the writer plans the next
// group. Batches enter the WAL in position order, so a synced group implies
// every group before it is synced too.
func (s *Store) writer() {
	for {
		select {
		case r := <-s.reqs:
			g := &group{reqs: make([]*appendReq, 1, 64), deferred: r.deferred}
			g.reqs[0] = r
			n := len(r.events)
		drain:
			for n < maxGroupEvents {
				select {
				case r := <-s.reqs:
					g.reqs = append(g.reqs, r)
					g.deferred = g.deferred && r.deferred
					n += len(r.events)
				default:
					break drain
				}
			}
			s.apply(g)
			s.acks <- g
		case <-s.closing:
			return // Close fails what is left in the queue
		}
	}
}

// apply plans every append of g and applies the accepted ones as one batch.
func (s *Store) apply(g *group) {
	if errp := s.broken.Load(); errp != nil {
		g.err = *errp
		return
	}
	b := s.db.NewBatch()
	start := s.next
	s.vals = s.vals[:0]
	for _, r := range g.reqs {
		r.err = s.plan(b, r)
	}
	// The index entries follow the records, each kind in a run of its
	// own: the memtable finds the place of a key that follows the last
	// one inserted without a search, and records, a stream's versions and
	// generated ids (UUIDv7) all come in order.
	s.streamIdx.writeTo(b)
	s.idIdx.writeTo(b)
	clear(s.pending)
	g.next = s.next
	if s.next == start {
		b.Close()
		return
	}
	g.batch = b
	if s.opts.NoSync || g.deferred {
		g.err = b.Commit(pdb.NoSync)
	} else {
		g.err = s.db.ApplyNoSyncWait(b, pdb.Sync)
		g.syncing = g.err == nil
	}
	if g.err != nil {
		g.err = s.fail(g.err)
		return
	}
	s.tail.push(start, s.vals)
	clear(s.vals)
	s.applied.Store(s.next)
	s.appliedN.Advance(s.next)
	if s.ids.Load().full() {
		// Rebuild at twice the size; appenders keep using the old filter
		// meanwhile, which still holds every id it held.
		if f, err := s.buildFilter(2 * s.ids.Load().cap); err == nil {
			s.ids.Store(f)
		}
	}
	// The versions are forgotten only between groups: a stream's version
	// read from the log does not count the group's own batch until it is
	// applied.
	if len(s.versions) > maxCachedStreams {
		clear(s.versions)
	}
	if len(s.recent) > maxRecentIDs {
		clear(s.recent)
		s.recentFrom = s.next
	}
}

// acker waits for each group's fsync, in order, then makes its events
// visible and answers its appends. A deferred group asked for no fsync: it
// is held until the next group that has one, whose fsync covers it (the
// WAL is written in order), or until it has waited SyncDelay, when the
// acker syncs the log for every group it holds.
func (s *Store) acker() {
	var held []*group
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// release makes the held groups durable with err, the outcome of the
	// fsync that covers them, and answers them.
	release := func(err error) {
		timer.Stop()
		for _, h := range held {
			s.settle(h, err)
		}
		clear(held)
		held = held[:0]
	}
	for {
		var g *group
		select {
		case g = <-s.acks:
		case <-timer.C:
			release(s.syncLog())
			continue
		}
		if g == nil { // the writer has stopped
			if len(held) > 0 {
				release(s.syncLog())
			}
			return
		}
		if g.deferred && g.err == nil && (g.batch != nil || len(held) > 0) {
			if len(held) == 0 {
				timer.Reset(s.opts.SyncDelay)
			}
			held = append(held, g)
			continue
		}
		var err error
		switch {
		case g.syncing:
			err = g.batch.SyncWait()
		case len(held) > 0:
			err = s.syncLog() // g wrote nothing, or failed: sync for the held groups
		}
		if len(held) > 0 {
			release(err)
		}
		s.settle(g, err)
	}
}

// syncLog makes everything written to the WAL so far durable, with an
// empty record written with an fsync.
func (s *Store) syncLog() error {
	if s.opts.NoSync {
		return nil
	}
	return s.db.LogData(nil, pdb.Sync)
}

// settle closes g's batch and answers its appends, once the fsync that
// makes g durable has returned syncErr.
func (s *Store) settle(g *group, syncErr error) {
	if g.batch != nil {
		if g.err == nil {
			g.err = syncErr
		}
		g.batch.Close()
	}
	if g.err == nil {
		if errp := s.broken.Load(); errp != nil {
			g.err = *errp // an earlier group failed; this one may rest on it
		}
	}
	if g.err != nil {
		g.err = s.fail(g.err)
		for _, r := range g.reqs {
			if r.err == nil {
				r.err, r.pos = g.err, nil
			}
		}
	} else if g.next > s.head.Load() {
		s.head.Store(g.next)
		s.notifier.Advance(g.next)
	}
	for _, r := range g.reqs {
		close(r.done)
	}
}

// fail marks the store broken: a write to the log failed, and no append
// is accepted until the store is reopened. It returns err as the appends
// of the failed group see it, matching ErrBroken.
func (s *Store) fail(err error) error {
	if !errors.Is(err, ErrBroken) {
		err = fmt.Errorf("%w: writing to the log: %v", ErrBroken, err)
	}
	s.broken.CompareAndSwap(nil, &err)
	return err
}

// lookupAll looks up, in the appender's goroutine, the ids of r that may
// already be in the log, so that the writer seldom has to: the dedup
// lookups are most of an append's reads, and appenders run in parallel.
func (s *Store) lookupAll(r *appendReq) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return store.ErrClosed
	}
	r.snap = s.applied.Load()
	ids := s.ids.Load()
	for i, e := range r.events {
		if r.fresh[i] {
			continue
		}
		if !ids.mayHave(e.ID) {
			r.seen[i] = 1
			continue
		}
		found, err := s.lookupID(e.ID, r.stream, r.enc(i), &r.pos[i])
		switch {
		case errors.Is(err, store.ErrConflict):
			return &store.ConflictError{Index: i, ID: e.ID}
		case err != nil:
			return err
		case found:
			r.seen[i] = 2
		default:
			r.seen[i] = 1
		}
	}
	return nil
}

// plan checks one append against the log and the group so far and, if it
// is accepted, adds its new events to b. A rejected append adds nothing.
func (s *Store) plan(b *pdb.Batch, r *appendReq) error {
	// 0: new; 1: already placed (pos set); 2+j: repeat of event j of r.
	s.kind = append(s.kind[:0], make([]int, len(r.events))...)
	kind := s.kind
	fresh := 0
	var byID map[string]int // first index of each id, for large batches
	for i, e := range r.events {
		if ref, ok := s.pending[e.ID]; ok {
			if ref.stream != r.stream || !bytes.Equal(ref.enc, r.enc(i)) {
				return &store.ConflictError{Index: i, ID: e.ID}
			}
			r.pos[i], kind[i] = ref.pos, 1
			continue
		}
		if j := firstOf(r.events, i, &byID); j >= 0 {
			if !bytes.Equal(r.enc(j), r.enc(i)) {
				return &store.ConflictError{Index: i, ID: e.ID}
			}
			kind[i] = 2 + j
			if kind[j] == 1 {
				r.pos[i], kind[i] = r.pos[j], 1
			}
			continue
		}
		if r.fresh[i] {
			fresh++
			continue
		}
		if r.seen[i] == 2 {
			kind[i] = 1
			continue
		}
		if r.seen[i] == 1 && r.snap >= s.recentFrom {
			if _, ok := s.recent[maphash.String(s.recentSeed, e.ID)]; !ok {
				fresh++ // absent at snap, and not written since
				continue
			}
		}
		found, err := s.lookupID(e.ID, r.stream, r.enc(i), &r.pos[i])
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				return &store.ConflictError{Index: i, ID: e.ID}
			}
			return err
		}
		if found {
			kind[i] = 1
			continue
		}
		fresh++
	}
	if fresh == 0 {
		return nil
	}
	version, err := s.version(r.stream)
	if err != nil {
		return err
	}
	if r.expected != store.Any && int64(r.expected) != version {
		return &store.VersionError{Stream: r.stream, Expected: r.expected, Actual: version}
	}
	now := time.Now().UnixNano()
	var key [9]byte
	for i, e := range r.events {
		switch {
		case kind[i] == 1:
			continue
		case kind[i] >= 2:
			r.pos[i] = r.pos[kind[i]-2]
			continue
		}
		version++
		p := store.Position{Stream: uint64(version), Global: s.next}
		s.next++
		r.pos[i] = p

		key[0] = prefixGlobal
		binary.BigEndian.PutUint64(key[1:], p.Global)
		s.recHead = appendRecordHead(s.recHead[:0], r.stream, p.Stream, event.Partition(e.CorrelationID, s.partitions), now)
		val := r.bufs[i][r.room-len(s.recHead):]
		copy(val, s.recHead)
		s.vals = append(s.vals, val)
		b.Set(key[:], val, nil)
		s.streamIdx.add(prefixStream, r.stream, true, p.Stream, p.Global)
		if corr := e.Correlation(); corr != r.stream && !store.IsSystemStream(r.stream) {
			// The correlation index holds the events appended to a
			// stream other than the one their correlation id names;
			// the others are found through that stream's index. The
			// system's streams are not a correlation's.
			s.streamIdx.add(prefixCorrelation, corr, true, p.Global, p.Global)
		}
		s.idIdx.add(prefixID, e.ID, false, 0, p.Global)
		s.pending[e.ID] = pendRef{stream: r.stream, enc: r.enc(i), pos: p}
		s.recent[maphash.String(s.recentSeed, e.ID)] = struct{}{}
		s.ids.Load().add(e.ID)
	}
	if v := s.versions[r.stream]; v != nil {
		*v = version
	} else {
		v := version
		s.versions[strings.Clone(r.stream)] = &v
	}
	return nil
}

// firstOf returns the index of an earlier event of evs with the id of
// evs[i], or -1. Called for i = 0, 1, 2…; small batches are scanned, large
// ones indexed in *byID.
func firstOf(evs []*event.Event, i int, byID *map[string]int) int {
	const scan = 16
	if len(evs) <= scan {
		for j := 0; j < i; j++ {
			if evs[j].ID == evs[i].ID {
				return j
			}
		}
		return -1
	}
	if *byID == nil {
		*byID = make(map[string]int, len(evs))
	}
	if j, ok := (*byID)[evs[i].ID]; ok {
		return j
	}
	(*byID)[evs[i].ID] = i
	return -1
}

// lookupID finds an event id in the log. If it is there with the same
// stream and content it sets *pos and returns true; with other content it
// returns store.ErrConflict.
func (s *Store) lookupID(id, stream string, enc []byte, pos *store.Position) (bool, error) {
	v, closer, err := s.db.Get(idKey(id))
	if errors.Is(err, pdb.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	g := binary.BigEndian.Uint64(v)
	closer.Close()
	rec, err := s.getRecord(g)
	if err != nil {
		return false, err
	}
	if rec.stream != stream || !bytes.Equal(rec.enc, enc) {
		return false, store.ErrConflict
	}
	*pos = store.Position{Stream: rec.spos, Global: g}
	return true, nil
}

// version returns a stream's version as the appends planned so far leave it.
func (s *Store) version(stream string) (int64, error) {
	if v := s.versions[stream]; v != nil {
		return *v, nil
	}
	prefix := streamKey(stream, 0)[:len(stream)+2]
	upper := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	v := int64(-1)
	if it.Last() {
		v = int64(binary.BigEndian.Uint64(it.Key()[len(prefix):]))
	}
	return v, it.Error()
}

func streamKey(stream string, pos uint64) []byte {
	k := make([]byte, 0, len(stream)+10)
	k = append(k, prefixStream)
	k = append(k, stream...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, pos)
}

// indexEntries collects the index entries of the group being planned,
// written to its batch after all its records.
type indexEntries struct {
	buf  []byte
	ends []int // where each entry's key ends; its 8-byte value follows
}

// add adds the entry prefix, name (and, withPos, a 0 and pos) → global.
func (x *indexEntries) add(prefix byte, name string, withPos bool, pos, global uint64) {
	x.buf = append(x.buf, prefix)
	x.buf = append(x.buf, name...)
	if withPos {
		x.buf = append(x.buf, 0)
		x.buf = binary.BigEndian.AppendUint64(x.buf, pos)
	}
	x.ends = append(x.ends, len(x.buf))
	x.buf = binary.BigEndian.AppendUint64(x.buf, global)
}

// writeTo sets the entries in b, which copies them, and empties x.
func (x *indexEntries) writeTo(b *pdb.Batch) {
	start := 0
	for _, end := range x.ends {
		b.Set(x.buf[start:end], x.buf[end:end+8], nil)
		start = end + 8
	}
	x.buf, x.ends = x.buf[:0], x.ends[:0]
}

func idKey(id string) []byte {
	k := make([]byte, 0, len(id)+1)
	k = append(k, prefixID)
	return append(k, id...)
}

func globalKey(g uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixGlobal}, g)
}

// recordHeadMax bounds the size of a record's head, less its stream name.
const recordHeadMax = 4 * binary.MaxVarintLen64

// recordRoom is the room a record's head may take before its event's
// encoding.
func recordRoom(stream string) int { return recordHeadMax + len(stream) }

func appendRecordHead(dst []byte, stream string, spos uint64, part uint32, nanos int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(stream)))
	dst = append(dst, stream...)
	dst = binary.AppendUvarint(dst, spos)
	dst = binary.AppendUvarint(dst, uint64(part))
	return binary.AppendVarint(dst, nanos)
}

// rawRecord is a record value split into its parts; enc aliases the value.
type rawRecord struct {
	stream string
	spos   uint64
	part   uint32
	nanos  int64
	enc    []byte
}

func parseRecord(v []byte) (rawRecord, error) {
	var r rawRecord
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return r, event.ErrCorrupt
	}
	r.stream = unsafe.String(unsafe.SliceData(v[k:]), int(n)) // v is never written after parsing
	v = v[k+int(n):]
	var k1, k2, k3 int
	r.spos, k1 = binary.Uvarint(v)
	if k1 <= 0 {
		return r, event.ErrCorrupt
	}
	part, k2 := binary.Uvarint(v[k1:])
	if k2 <= 0 {
		return r, event.ErrCorrupt
	}
	r.part = uint32(part)
	r.nanos, k3 = binary.Varint(v[k1+k2:])
	if k3 <= 0 {
		return r, event.ErrCorrupt
	}
	r.enc = v[k1+k2+k3:]
	return r, nil
}

func (s *Store) getRecord(g uint64) (rawRecord, error) {
	v, closer, err := s.db.Get(globalKey(g))
	if err != nil {
		return rawRecord{}, fmt.Errorf("reading record %d: %w", g, err)
	}
	defer closer.Close()
	return parseRecord(bytes.Clone(v))
}

// decoder turns record values that Pebble owns into records. Values are
// copied into a shared arena and events allocated in slabs, so a read of
// many records makes few allocations; the records' strings and data point
// into the arena, which nothing writes after the copy.
//
// Arenas and slabs start small and double up to 64 KiB and 64 events: a
// record someone keeps keeps its whole arena and slab alive, so the
// few-record reads of live followers must not pin large blocks. Whoever
// keeps an event long keeps a clone (event.Event.Clone).
type decoder struct {
	key [9]byte // the key seekRecord seeks
	// on is the global position of the record seekRecord left its
	// iterator on, plus one; 0 when none.
	on uint64
	// tail, when not nil, holds the latest records: seekRecord decodes
	// those from it rather than from the iterator.
	tail  *tail
	arena []byte
	slab  []event.Event
	left  int // records the read may still decode; sizes the next slab
	// want, when not nil, says which streams' events to decode; the
	// records of the others come without their event (see
	// store.SubscribeOptions.Streams).
	want func(stream string) bool
}

const (
	minArena = 1 << 10
	maxArena = 64 << 10
	maxSlab  = 64
)

// seekRecord moves recs, an iterator over the records, forward to the one
// at global position g, and decodes it (see record); a record the tail
// holds is decoded from there, and recs not moved. A record a few places
// ahead of the last one is reached by stepping, which costs a fraction
// of a seek: the records of a stream often lie next to each other.
func (d *decoder) seekRecord(recs *pdb.Iterator, g uint64) (store.Record, error) {
	if d.tail != nil {
		if v, ok := d.tail.get(g); ok {
			return d.shared(g, v)
		}
	}
	key := binary.BigEndian.AppendUint64(append(d.key[:0], prefixGlobal), g)
	found := false
	if on := d.on; on != 0 && g >= on && g-on < maxSteps {
		for range g - on + 1 {
			if !recs.Next() {
				break
			}
		}
		found = recs.Valid() && bytes.Equal(recs.Key(), key)
	}
	if !found && (!recs.SeekGE(key) || !bytes.Equal(recs.Key(), key)) {
		d.on = 0
		if err := recs.Error(); err != nil {
			return store.Record{}, fmt.Errorf("reading record %d: %w", g, err)
		}
		return store.Record{}, fmt.Errorf("reading record %d: %w", g, pdb.ErrNotFound)
	}
	d.on = g + 1
	return d.record(g, recs.Value())
}

// maxSteps is how many records ahead seekRecord steps to rather than seek.
const maxSteps = 8

// record decodes the record at global position g from v, which it copies:
// Pebble owns v only until its iterator moves.
func (d *decoder) record(g uint64, v []byte) (store.Record, error) {
	if d.want != nil {
		raw, err := parseRecord(v)
		if err != nil {
			return store.Record{}, fmt.Errorf("record %d: %w", g, err)
		}
		if !d.want(raw.stream) {
			// Only the stream name is kept, from v, which Pebble owns.
			b := d.copy(unsafe.Slice(unsafe.StringData(raw.stream), len(raw.stream)))
			raw.stream = unsafe.String(unsafe.SliceData(b), len(b)) // the arena is never written after the copy
			return d.passed(g, &raw), nil
		}
	}
	return d.shared(g, d.copy(v))
}

// copy returns a copy of v in the decoder's arena.
func (d *decoder) copy(v []byte) []byte {
	if len(v) > cap(d.arena)-len(d.arena) {
		size := min(max(2*cap(d.arena), minArena), maxArena)
		d.arena = make([]byte, 0, max(size, len(v)))
	}
	start := len(d.arena)
	d.arena = append(d.arena, v...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// passed returns the record at global position g, whose stream the
// decoder does not want, without its event.
func (d *decoder) passed(g uint64, raw *rawRecord) store.Record {
	return store.Record{Stream: raw.stream, StreamPosition: raw.spos, GlobalPosition: g,
		Partition: raw.part, Recorded: time.Unix(0, raw.nanos)}
}

// shared decodes the record at global position g from v, which must never
// change: the record's strings and data alias it.
func (d *decoder) shared(g uint64, v []byte) (store.Record, error) {
	raw, err := parseRecord(v)
	if err != nil {
		return store.Record{}, fmt.Errorf("record %d: %w", g, err)
	}
	if d.want != nil && !d.want(raw.stream) {
		return d.passed(g, &raw), nil
	}
	if len(d.slab) == 0 {
		d.slab = make([]event.Event, min(max(d.left, 1), maxSlab))
	}
	d.left--
	e := &d.slab[0]
	d.slab = d.slab[1:]
	if err := event.DecodeBinaryShared(raw.enc, e); err != nil {
		return store.Record{}, fmt.Errorf("record %d: %w", g, err)
	}
	return store.Record{Event: e, Stream: raw.stream, StreamPosition: raw.spos, GlobalPosition: g,
		Partition: raw.part, Recorded: time.Unix(0, raw.nanos)}, nil
}

// ReadAll implements store.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int) ([]store.Record, error) {
	return s.readAll(from, limit, &s.head, nil)
}

// readApplied is ReadAll up to the applied records, durable or not.
func (s *Store) readApplied(ctx context.Context, from uint64, limit int) ([]store.Record, error) {
	return s.readAll(from, limit, &s.applied, nil)
}

// readAll reads up to limit records from global position from on, below
// the position end holds, decoding the events of the streams want wants
// (all when nil).
func (s *Store) readAll(from uint64, limit int, end *atomic.Uint64, want func(string) bool) ([]store.Record, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return nil, store.ErrClosed
	}
	head := end.Load()
	if limit <= 0 || from >= head {
		return nil, nil
	}
	n := min(uint64(limit), head-from)
	d := decoder{left: int(n), want: want}
	if out, ok, err := s.tail.read(from, from+n, &d); ok {
		return out, err
	}
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: globalKey(from), UpperBound: globalKey(from + n)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := make([]store.Record, 0, n)
	for ok := it.First(); ok; ok = it.Next() {
		g := binary.BigEndian.Uint64(it.Key()[1:])
		rec, err := d.record(g, it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, it.Error()
}

// ReadStream implements store.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]store.Record, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	head := s.head.Load()
	it, err := s.indexIter(prefixStream, stream, from)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []store.Record
	d := decoder{left: limit, tail: &s.tail}
	// The records are read with one iterator, sought forward from one to
	// the next: a stream's records mostly lie near each other, and a seek
	// close ahead reuses the blocks the iterator holds, where a Get per
	// record would load its blocks anew.
	var recs *pdb.Iterator
	defer func() {
		if recs != nil {
			recs.Close()
		}
	}()
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		if len(it.Value()) < 8 {
			return nil, fmt.Errorf("stream index of %q: %w", stream, event.ErrCorrupt)
		}
		g := binary.BigEndian.Uint64(it.Value())
		if g >= head { // written, not yet acknowledged
			break
		}
		if recs == nil {
			if recs, err = s.db.NewIter(&pdb.IterOptions{LowerBound: globalKey(g), UpperBound: globalKey(head)}); err != nil {
				return nil, err
			}
		}
		rec, err := d.seekRecord(recs, g)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, it.Error()
}

// ReadCorrelation implements store.Store. A correlation's events are in
// two indexes: that of the stream its id names, where events go unless
// their publisher names another (the events of other correlations there
// are passed over), and the correlation index, which holds those appended
// to other streams. The two are read in global order and merged.
func (s *Store) ReadCorrelation(ctx context.Context, correlation string, from uint64, limit int) ([]store.Record, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	head := s.head.Load()
	if from >= head {
		return nil, nil
	}
	stream := correlation
	if store.IsSystemStream(stream) {
		stream = "" // no stream: names are not empty
	}
	inStream, err := s.indexIter(prefixStream, stream, 0)
	if err != nil {
		return nil, err
	}
	defer inStream.Close()
	elsewhere, err := s.indexIter(prefixCorrelation, correlation, from)
	if err != nil {
		return nil, err
	}
	defer elsewhere.Close()
	// next returns the global position its iterator is at, or
	// math.MaxUint64 past its end.
	next := func(it *pdb.Iterator, ok bool) (uint64, error) {
		if !ok {
			return math.MaxUint64, it.Error()
		}
		if len(it.Value()) < 8 {
			return 0, fmt.Errorf("index of correlation %q: %w", correlation, event.ErrCorrupt)
		}
		return binary.BigEndian.Uint64(it.Value()), nil
	}
	sg, err := next(inStream, seekGlobal(inStream, stream, from))
	if err != nil {
		return nil, err
	}
	eg, err := next(elsewhere, elsewhere.First())
	if err != nil {
		return nil, err
	}
	recs, err := s.db.NewIter(&pdb.IterOptions{LowerBound: globalKey(from), UpperBound: globalKey(head)})
	if err != nil {
		return nil, err
	}
	defer recs.Close()
	var out []store.Record
	d := decoder{left: limit, tail: &s.tail}
	for len(out) < limit {
		g, fromStream := min(sg, eg), sg <= eg
		if g >= head { // past the end, or written and not yet acknowledged
			break
		}
		if fromStream {
			sg, err = next(inStream, inStream.Next())
		} else {
			eg, err = next(elsewhere, elsewhere.Next())
		}
		if err != nil {
			return nil, err
		}
		rec, err := d.seekRecord(recs, g)
		if err != nil {
			return nil, err
		}
		if rec.Event.Correlation() != correlation {
			// Another correlation's event in the stream this one names;
			// or, in the index, one whose id extends this one's past a
			// NUL (logged before ids were checked for control characters).
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

// seekGlobal positions it, an iterator over the index of stream, at the
// first entry of a record at global position from or after, and reports
// whether there is one. A stream's records rise in global position with
// their stream position, so it searches the stream positions by halves,
// a seek each: a page deep in a long stream costs a few dozen seeks, not
// a walk from its start.
func seekGlobal(it *pdb.Iterator, stream string, from uint64) bool {
	if !it.First() {
		return false
	}
	if from == 0 || globalOf(it) >= from {
		return true
	}
	if !it.Last() || globalOf(it) < from {
		return false
	}
	// The answer lies in (lo, hi]: the entry at lo is before from, the
	// one at hi is not.
	lo, hi := uint64(0), streamPosOf(it, stream)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if !it.SeekGE(streamKey(stream, mid)) {
			return false
		}
		if globalOf(it) >= from {
			hi = streamPosOf(it, stream)
		} else {
			lo = streamPosOf(it, stream)
			if lo >= hi {
				break
			}
		}
	}
	return it.SeekGE(streamKey(stream, hi))
}

// globalOf returns the global position an index entry names (0 for a
// corrupt one, which the caller's reading reports).
func globalOf(it *pdb.Iterator) uint64 {
	if v := it.Value(); len(v) >= 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// streamPosOf returns the stream position of the stream index entry it is
// at.
func streamPosOf(it *pdb.Iterator, stream string) uint64 {
	k := it.Key()
	if len(k) < len(stream)+10 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(stream)+2:])
}

// indexIter returns an iterator over the entries of the index prefix for
// name, from position pos on.
func (s *Store) indexIter(prefix byte, name string, pos uint64) (*pdb.Iterator, error) {
	lower := make([]byte, 0, len(name)+10)
	lower = append(lower, prefix)
	lower = append(lower, name...)
	lower = append(lower, 0)
	upper := append(bytes.Clone(lower[:len(lower)-1]), 1)
	lower = binary.BigEndian.AppendUint64(lower, pos)
	return s.db.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: upper})
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return store.Record{}, store.ErrClosed
	}
	head := s.head.Load()
	v, closer, err := s.db.Get(idKey(id))
	if errors.Is(err, pdb.ErrNotFound) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("looking up event %q: %w", id, err)
	}
	if len(v) < 8 {
		closer.Close()
		return store.Record{}, fmt.Errorf("id index of %q: %w", id, event.ErrCorrupt)
	}
	g := binary.BigEndian.Uint64(v)
	closer.Close()
	if g >= head { // written, not yet acknowledged
		return store.Record{}, store.ErrNotFound
	}
	v, closer, err = s.db.Get(globalKey(g))
	if err != nil {
		return store.Record{}, fmt.Errorf("reading record %d: %w", g, err)
	}
	defer closer.Close()
	d := decoder{left: 1, arena: make([]byte, 0, len(v))}
	return d.record(g, v)
}

// Head implements store.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.isClosed() {
		return 0, store.ErrClosed
	}
	return s.head.Load(), nil
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(ctx context.Context, from uint64) (store.Subscription, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	return store.Follow(s.ReadAll, s.notifier, from), nil
}

// SubscribeApplied implements store.AppliedSubscriber: it follows the
// appends the writer has applied, which are in the log's order but may
// still wait for their fsync.
func (s *Store) SubscribeApplied(ctx context.Context, from uint64) (store.Subscription, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	return store.Follow(s.readApplied, s.appliedN, from), nil
}

// SubscribeWith implements store.OptionSubscriber: the records of the
// streams opts.Streams leaves out are read but not decoded.
func (s *Store) SubscribeWith(ctx context.Context, from uint64, opts store.SubscribeOptions) (store.Subscription, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	end, n := &s.head, s.notifier
	if opts.Applied {
		end, n = &s.applied, s.appliedN
	}
	want := opts.Streams
	return store.Follow(func(ctx context.Context, from uint64, limit int) ([]store.Record, error) {
		return s.readAll(from, limit, end, want)
	}, n, from), nil
}

// Close implements store.Store. It waits for the append in progress, fails
// the ones still queued with store.ErrClosed and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.done
		s.notifier.Close()
		s.appliedN.Close()
		s.closeMu.Lock()
		s.closeMu.closed = true
		for drained := false; !drained; {
			select {
			case r := <-s.reqs:
				r.err = store.ErrClosed
				close(r.done)
			default:
				drained = true
			}
		}
		s.closeMu.Unlock()
		err = s.db.Close()
	})
	return err
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// pebbleLogger sends Pebble's errors to slog and drops its chatter.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(string, ...any) {}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	panic("pebble: " + fmt.Sprintf(format, args...))
}
