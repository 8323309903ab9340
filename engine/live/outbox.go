package live

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/store"
)

// outboxBatch is how many records of ActionsStream an Outbox reads at a
// time while it catches up.
const outboxBatch = 256

// Entry is one action as the outbox holds it.
type Entry struct {
	Action engine.Action
	// Position is the record's position in ActionsStream; an Outbox made
	// with from = Position+1 continues after it.
	Position uint64
	// Record is the log's record of the action event.
	Record store.Record
}

// Outbox follows ActionsStream in order: the actions a Runner decided, for
// a dispatcher to deliver. It reads the stream's records of type
// ActionEventType and passes over any other record the stream may hold.
//
// An Outbox is not safe for concurrent use.
type Outbox struct {
	st     store.Store
	next   uint64 // stream position of the next record of ActionsStream
	buf    []store.Record
	sub    store.Subscription // nil while catching up with ReadStream
	early  bool               // follow with store.SubscribeApplied
	closed bool
	read   atomic.Uint64 // global position after the last record read
	// observe, when set, sees each record outside ActionsStream that the
	// outbox passes while it follows the log.
	observe func(*store.Record)
}

// Read returns the global position after the last record the Outbox has
// read, action or not: the log's head minus Read is how far the outbox is
// behind. It is safe to call from any goroutine.
func (o *Outbox) Read() uint64 { return o.read.Load() }

func (o *Outbox) noteRead(rec *store.Record) {
	if g := rec.GlobalPosition + 1; g > o.read.Load() {
		o.read.Store(g)
	}
}

// NewOutbox returns an Outbox over st's ActionsStream from stream position
// from; 0 is the first action.
func NewOutbox(st store.Store, from uint64) *Outbox {
	return &Outbox{st: st, next: from}
}

// NewEarlyOutbox is NewOutbox for a dispatcher: once caught up, it
// follows the log with store.SubscribeApplied, so an action comes out as
// soon as its record has its place in the log, while the fsync that
// makes it durable may still be under way. That spares a dispatch the
// wait for a second fsync after the trigger event's, and is safe because
// the action derives from durable events only: if a crash of the machine
// loses its record, the runner decides it again with the same id, and a
// dispatcher delivers it again with the same idempotency key — as after
// a crash between a delivery and its record. Anything that shows actions
// to people reads them with NewOutbox.
func NewEarlyOutbox(st store.Store, from uint64) *Outbox {
	return &Outbox{st: st, next: from, early: true}
}

// Observe makes the Outbox call fn with every record of a stream not the
// system's that it reads while it follows the log, in log order, from the
// goroutine that calls Next; it must be called before the first Next.
// Records it skips while catching up with ReadStream are not seen. fn
// must not keep the record's Event past the Outbox's use unless it treats
// it as read-only; it must return quickly. A dispatcher
// uses it to keep the recent events at hand that actions refer to, since
// an action's trigger always comes before the action in the log.
func (o *Outbox) Observe(fn func(*store.Record)) { o.observe = fn }

// Next returns the next action, waiting for it to be appended if need be.
// It returns ctx.Err() if ctx ends first, ErrClosed after Close, and the
// store's error if a read fails. A record whose data does not decode as
// an action is returned with its Record and Position and an error matching
// ErrInvalidAction; the Outbox moves past it.
func (o *Outbox) Next(ctx context.Context) (Entry, error) {
	for {
		if o.closed {
			return Entry{}, ErrClosed
		}
		if len(o.buf) > 0 {
			rec := o.buf[0]
			o.buf[0] = store.Record{}
			o.buf = o.buf[1:]
			if e, ok, err := o.take(rec); ok {
				return e, err
			}
			continue
		}
		if o.sub != nil {
			rec, err := o.sub.Next(ctx)
			if err != nil {
				return Entry{}, err
			}
			o.noteRead(&rec)
			if rec.Stream != ActionsStream {
				if o.observe != nil && rec.Event != nil {
					o.observe(&rec)
				}
				continue
			}
			if rec.StreamPosition < o.next {
				continue
			}
			if e, ok, err := o.take(rec); ok {
				return e, err
			}
			continue
		}
		// Catch up with the stream; once it has nothing more, follow the
		// log from the head read before: every record of the stream below
		// that head was in the read.
		head, err := o.st.Head(ctx)
		if err != nil {
			return Entry{}, err
		}
		recs, err := o.st.ReadStream(ctx, ActionsStream, o.next, outboxBatch)
		if err != nil {
			return Entry{}, err
		}
		if len(recs) > 0 {
			o.buf = recs
			continue
		}
		o.sub, err = store.SubscribeWith(ctx, o.st, head, store.SubscribeOptions{Applied: o.early, Streams: o.wants})
		if err != nil {
			return Entry{}, err
		}
		if head > o.read.Load() {
			o.read.Store(head) // everything before head is read: it held no more actions
		}
	}
}

// wants says which streams' events the Outbox reads: the actions, and
// the events of the streams not the system's when it has an observer
// (Observe), the events actions refer to.
func (o *Outbox) wants(stream string) bool {
	return stream == ActionsStream || (o.observe != nil && !store.IsSystemStream(stream))
}

// take moves past rec and decodes it; ok is false for a record that is
// not an action event.
func (o *Outbox) take(rec store.Record) (e Entry, ok bool, err error) {
	o.next = rec.StreamPosition + 1
	o.noteRead(&rec)
	if rec.Event.Type != ActionEventType {
		return Entry{}, false, nil
	}
	e = Entry{Position: rec.StreamPosition, Record: rec}
	if err := e.Action.UnmarshalJSON(rec.Event.Data); err != nil {
		return e, true, fmt.Errorf("%w: %s at %d: %v", ErrInvalidAction, rec.Event.ID, rec.StreamPosition, err)
	}
	return e, true, nil
}

// Close ends the Outbox. It is idempotent.
func (o *Outbox) Close() error {
	o.closed = true
	o.buf = nil
	if o.sub != nil {
		err := o.sub.Close()
		o.sub = nil
		return err
	}
	return nil
}
