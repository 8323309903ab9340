package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/choreohq/choreo/event"
)

// DefaultPartitions is the number of partitions a store is created with
// when none is given.
const DefaultPartitions = 64

// MaxStreamLen is the longest stream name, in bytes.
const MaxStreamLen = 512

// Record is an event as the log holds it: the event and where it stands.
type Record struct {
	// Event is the event. It is nil only in the records a subscription
	// made with SubscribeWith passes over: those of the streams its
	// SubscribeOptions.Streams leaves out.
	Event          *event.Event
	Stream         string
	StreamPosition uint64    // 0-based position within Stream
	GlobalPosition uint64    // 0-based position in the whole log
	Partition      uint32    // event.Partition(correlation id, partitions)
	Recorded       time.Time // when the store committed it (wall clock, informational)
}

// Position is where an appended event landed.
type Position struct {
	Stream uint64 // position within its stream
	Global uint64 // position in the whole log
}

// ExpectedVersion states what the appender believes about a stream before
// its append: Any, NoStream, or Exact(v) where v is the stream position of
// the stream's last event.
type ExpectedVersion int64

const (
	// Any skips the check.
	Any ExpectedVersion = -2
	// NoStream requires that the stream has no events yet.
	NoStream ExpectedVersion = -1
)

// Exact requires that the stream's last event is at stream position v.
func Exact(v uint64) ExpectedVersion { return ExpectedVersion(v) }

func (v ExpectedVersion) String() string {
	switch {
	case v == Any:
		return "any"
	case v == NoStream:
		return "no-stream"
	case v >= 0:
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("invalid(%d)", int64(v))
}

// Store is the durable, ordered event log.
//
// Records returned by reads may share their events with the store and with
// other readers: treat them as read-only.
//
// All methods are safe for concurrent use. Global positions are dense: the
// log holds positions 0..n-1 with no gap, after any crash. Stream positions
// are dense within each stream.
//
// After Close, every method returns ErrClosed; Close itself is idempotent.
type Store interface {
	// Append adds events to stream as one atomic batch: all of them become
	// durable and visible together, or none does. Before it returns
	// successfully the batch is on stable storage (for backends that say so).
	//
	// Each event is first completed with event.Fill (in place: a missing id
	// is generated, a missing correlation id set to the event's id) and
	// then checked with Validate; a bad event fails the whole batch with an
	// *EventError naming it, and changes nothing.
	//
	// Appends are idempotent by event id, forever: an event whose id is
	// already in the log with the same content and stream gets its original
	// position back and is not written again; the same id with different
	// content fails the batch with a *ConflictError. A batch made only of
	// such repeats succeeds whatever expected says, so a retried append
	// succeeds. Otherwise expected is checked against the stream's version
	// before the batch's new events are added; a mismatch fails with a
	// *VersionError carrying the actual version.
	//
	// The result has one Position per event, in order. Cancelling ctx
	// abandons the wait, not necessarily the append: the store may still
	// read the events until the append is done, so do not change or reuse
	// them after a cancelled call.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events []*event.Event) ([]Position, error)

	// ReadStream returns up to limit records of stream from stream position
	// from on, in order. An unknown stream reads as empty.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]Record, error)

	// ReadAll returns up to limit records from global position from on, in
	// log order.
	ReadAll(ctx context.Context, from uint64, limit int) ([]Record, error)

	// ReadCorrelation returns up to limit records of the events whose
	// correlation id is correlation (event.Event.Correlation), whatever
	// streams they were appended to, from global position from on, in log
	// order. The system's streams (IsSystemStream) are left out: the
	// records it keeps about a correlation (its actions, deliveries,
	// timers) are not the correlation's events. An unknown correlation
	// reads as empty.
	ReadCorrelation(ctx context.Context, correlation string, from uint64, limit int) ([]Record, error)

	// Get returns the record of the event with id, or ErrNotFound when the
	// log holds no such event (or holds it in an append not yet
	// acknowledged).
	Get(ctx context.Context, id string) (Record, error)

	// Head returns the global position the next appended event will get:
	// the number of events in the log.
	Head(ctx context.Context) (uint64, error)

	// Subscribe follows the log from global position from: first the
	// events already there, then new ones as they are appended, each once,
	// in log order, with no gap. A slow subscriber never slows appends; it
	// reads at its own pace.
	Subscribe(ctx context.Context, from uint64) (Subscription, error)

	// Close releases the store. Pending appends fail with ErrClosed or
	// complete; subscriptions end with ErrClosed.
	Close() error
}

// AsyncAppender is implemented by a store that can take an append
// without making its caller wait for the outcome: a caller that keeps
// several appends in flight shares fsyncs with itself, not only with
// others.
//
// AppendAsync does what Append does, and returns once the append has its
// place in the store's queue: the appends one goroutine makes, with
// AppendAsync or Append, enter the log in the order it made them. An
// append refused before it is queued (bad events, a closed store) is
// returned already settled. ctx bounds the wait for a place in the
// queue; once queued, the append is carried out whatever ctx does.
type AsyncAppender interface {
	AppendAsync(ctx context.Context, stream string, expected ExpectedVersion, events []*event.Event) Pending
}

// Pending is an append on its way to the log.
type Pending interface {
	// Done is closed once the append has its outcome.
	Done() <-chan struct{}
	// Wait waits for the outcome and returns what Append would have.
	Wait() ([]Position, error)
}

// AppendAsync calls st.AppendAsync when st has it, and otherwise st.Append,
// returning its outcome as a settled Pending.
func AppendAsync(ctx context.Context, st Store, stream string, expected ExpectedVersion, events []*event.Event) Pending {
	if a, ok := st.(AsyncAppender); ok {
		return a.AppendAsync(ctx, stream, expected, events)
	}
	pos, err := st.Append(ctx, stream, expected, events)
	return Settled(pos, err)
}

// DeferredAppender is implemented by a durable store that can put off the
// fsync of an append for a few milliseconds, so that the append shares the
// fsync of the appends that follow it instead of costing one of its own.
//
// AppendDeferred does what AppendAsync does: the append takes its place in
// the log at once, in order with the caller's other appends, and its
// outcome is reported once it is durable. Only the moment it becomes
// durable may come later, by at most a bound the store sets. It suits
// records written in a steady stream by a caller that keeps appending
// without waiting for each one: the engine's actions, the dispatcher's
// delivery records.
type DeferredAppender interface {
	AppendDeferred(ctx context.Context, stream string, expected ExpectedVersion, events []*event.Event) Pending
}

// AppendDeferred calls st.AppendDeferred when st has it, and AppendAsync
// otherwise.
func AppendDeferred(ctx context.Context, st Store, stream string, expected ExpectedVersion, events []*event.Event) Pending {
	if a, ok := st.(DeferredAppender); ok {
		return a.AppendDeferred(ctx, stream, expected, events)
	}
	return AppendAsync(ctx, st, stream, expected, events)
}

// Settled returns a Pending whose outcome is already known.
func Settled(pos []Position, err error) Pending { return settled{pos, err} }

type settled struct {
	pos []Position
	err error
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (s settled) Done() <-chan struct{}     { return closedChan }
func (s settled) Wait() ([]Position, error) { return s.pos, s.err }

// AppliedSubscriber is implemented by a store whose appends take their
// place in the log before they are durable, as a durable store's do while
// the fsync that makes them durable is under way.
//
// SubscribeApplied is Subscribe over that tentative log: it also returns
// records already in the log's order but not yet durable, nor
// acknowledged to their appender. A crash of the machine may lose such a
// record, with every record after it; their positions are then given to
// other events. Only a reader whose effects are keyed by what it reads
// and redone harmlessly may use it: a dispatcher whose actions are
// derived from durable events, so that a lost action record is decided
// again with the same id and delivered with the same idempotency key.
// Everything else reads with Subscribe.
type AppliedSubscriber interface {
	SubscribeApplied(ctx context.Context, from uint64) (Subscription, error)
}

// SubscribeApplied returns st.SubscribeApplied when st has it, and
// st.Subscribe otherwise: for a store that acknowledges an append as soon
// as it is in the log, the two are the same.
func SubscribeApplied(ctx context.Context, st Store, from uint64) (Subscription, error) {
	if a, ok := st.(AppliedSubscriber); ok {
		return a.SubscribeApplied(ctx, from)
	}
	return st.Subscribe(ctx, from)
}

// SubscribeOptions are the settings of SubscribeWith.
type SubscribeOptions struct {
	// Applied follows the tentative log, as SubscribeApplied does.
	Applied bool
	// Streams, when not nil, says which streams' events the subscriber
	// reads. The records of the other streams still come, in their
	// places, with their stream, positions, partition and time, but
	// without their event, which a store that implements OptionSubscriber
	// does not decode: a follower of a few streams skips the rest of the
	// log for little more than the cost of reading it. It is called from
	// the goroutine that calls Next, or from the store's, and must be
	// safe for that and quick.
	Streams func(stream string) bool
}

// OptionSubscriber is implemented by a store that can subscribe with
// SubscribeOptions itself, leaving out the events of the streams a
// subscriber does not want without decoding them.
type OptionSubscriber interface {
	SubscribeWith(ctx context.Context, from uint64, opts SubscribeOptions) (Subscription, error)
}

// SubscribeWith subscribes to st from global position from with opts:
// st.SubscribeWith when st has it; otherwise SubscribeApplied or
// Subscribe, with the events of the streams opts.Streams leaves out
// dropped from the records, so that both give the same records.
func SubscribeWith(ctx context.Context, st Store, from uint64, opts SubscribeOptions) (Subscription, error) {
	if o, ok := st.(OptionSubscriber); ok {
		return o.SubscribeWith(ctx, from, opts)
	}
	var sub Subscription
	var err error
	if opts.Applied {
		sub, err = SubscribeApplied(ctx, st, from)
	} else {
		sub, err = st.Subscribe(ctx, from)
	}
	if err != nil || opts.Streams == nil {
		return sub, err
	}
	return &streamSub{Subscription: sub, want: opts.Streams}, nil
}

// streamSub drops the events of the streams want leaves out.
type streamSub struct {
	Subscription
	want func(string) bool
}

func (s *streamSub) Next(ctx context.Context) (Record, error) {
	rec, err := s.Subscription.Next(ctx)
	if err == nil && !s.want(rec.Stream) {
		rec.Event = nil
	}
	return rec, err
}

// Subscription is a cursor over the log made by Store.Subscribe. It is not
// safe for concurrent use.
type Subscription interface {
	// Next returns the next record, waiting for it to be appended if need
	// be. It returns ctx.Err() if ctx ends first, and ErrClosed after the
	// subscription or its store is closed.
	Next(ctx context.Context) (Record, error)
	// Close ends the subscription. It is idempotent.
	Close() error
}

// Options are the settings every backend understands. The zero value works.
type Options struct {
	// Partitions is the number of partitions events are spread over by
	// correlation id. It is fixed when the store is created: zero means
	// DefaultPartitions for a new store and the stored number for an
	// existing one; a different number for an existing store is an error.
	Partitions int
	// Limits bound the events Append accepts; see event.Limits.
	Limits event.Limits
	// MaxBatch is the most events one Append may carry. Zero means 10,000.
	MaxBatch int
}

func (o Options) maxBatch() int {
	if o.MaxBatch <= 0 {
		return 10000
	}
	return o.MaxBatch
}

// SystemStreamPrefix starts the names of the streams the system writes
// itself ($actions, $dlq, $agents…); clients of the API may not.
const SystemStreamPrefix = "$"

// IsSystemStream reports whether name is a stream of the system's.
func IsSystemStream(name string) bool { return strings.HasPrefix(name, SystemStreamPrefix) }

// CheckStream reports whether name may name a stream: 1 to MaxStreamLen
// bytes of valid UTF-8 with no NUL or other control character.
func CheckStream(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidStream)
	}
	if len(name) > MaxStreamLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidStream, MaxStreamLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("%w: %q holds a control character or invalid UTF-8", ErrInvalidStream, name)
		}
	}
	return nil
}

// Prepare checks an append's arguments and completes its events (see
// Store.Append) — the shared first step of every backend's Append.
func Prepare(stream string, expected ExpectedVersion, events []*event.Event, opts Options) error {
	if err := CheckStream(stream); err != nil {
		return err
	}
	if expected < Any {
		return fmt.Errorf("%w: %d", ErrInvalidExpectedVersion, int64(expected))
	}
	if len(events) == 0 {
		return ErrEmptyBatch
	}
	if len(events) > opts.maxBatch() {
		return fmt.Errorf("%w: %d events, the limit is %d", ErrBatchTooLarge, len(events), opts.maxBatch())
	}
	for i, e := range events {
		if e == nil {
			return &EventError{Index: i, Err: &event.Error{Code: event.CodeInvalidJSON, Msg: "null event"}}
		}
		e.Fill()
		if err := e.Validate(opts.Limits); err != nil {
			return &EventError{Index: i, Err: err}
		}
	}
	return nil
}
