package dispatch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// deadRef is what the queue keeps in memory of a dead letter: enough to
// order, filter and find it; the dead letter itself is read from its
// record in DeadLetterStream when asked for. A dead letter holds the
// whole action and its last error: about 750 bytes in memory, against
// about 150 for its reference and its key.
type deadRef struct {
	at     int64  // DeadLetter.Time, Unix nanoseconds
	reason string // DeadLetter.Reason
	rec    string // the id of its DeadLetterType record
}

var reasons = []string{ReasonMaxAttempts, ReasonRejected, ReasonNoAgent, ReasonUnavailable, ReasonLoop}

// refOf returns the reference of dl, whose record has id rec.
func refOf(dl *DeadLetter, rec string) deadRef {
	reason := strings.Clone(dl.Reason)
	if i := slices.Index(reasons, dl.Reason); i >= 0 {
		reason = reasons[i] // one copy of each, not one per dead letter
	}
	return deadRef{at: dl.Time.UnixNano(), reason: reason, rec: strings.Clone(rec)}
}

// readDead reads the dead letter of ref from the log.
func (d *Dispatcher) readDead(ctx context.Context, ref deadRef) (DeadLetter, error) {
	return readDeadLetter(ctx, d.st, ref.rec)
}

// readDeadLetter reads the dead letter of the DeadLetterType record id.
func readDeadLetter(ctx context.Context, st store.Store, id string) (DeadLetter, error) {
	rec, err := st.Get(ctx, id)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dispatch: reading dead-letter record %s: %w", id, err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(rec.Event.Data, &dl); err != nil {
		return DeadLetter{}, fmt.Errorf("dispatch: dead-letter record %s does not decode: %w", id, err)
	}
	return dl, nil
}

// DeadLetters returns the whole dead-letter queue, oldest first. It is
// rebuilt from the log when Run starts.
func (d *Dispatcher) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	all, _, err := d.DeadLetterPage(ctx, DLQFilter{})
	return all, err
}

// DLQFilter selects dead letters in DeadLetterPage.
type DLQFilter struct {
	Reason string // only those with this reason (a Reason constant); empty: any
	// AfterTime and AfterID start the page after the dead letter of
	// action AfterID dead-lettered at AfterTime, in the queue's order
	// (oldest first, ties by action id); that dead letter need not be in
	// the queue any more. Zero: from the oldest.
	AfterTime time.Time
	AfterID   string
	Limit     int // at most this many; <= 0: no bound
}

// DeadLetterPage returns the dead letters f selects, oldest first, and
// whether more follow the page. It reads them from the log.
func (d *Dispatcher) DeadLetterPage(ctx context.Context, f DLQFilter) (page []DeadLetter, more bool, err error) {
	type entry struct {
		id  string
		ref deadRef
	}
	from := !f.AfterTime.IsZero() || f.AfterID != ""
	after := f.AfterTime.UnixNano()
	d.mu.Lock()
	sel := make([]entry, 0, min(len(d.mu.dead), 1024))
	for id, ref := range d.mu.dead {
		if (f.Reason == "" || ref.reason == f.Reason) && (!from || cmp.Or(cmp.Compare(ref.at, after), cmp.Compare(id, f.AfterID)) > 0) {
			sel = append(sel, entry{id, ref})
		}
	}
	d.mu.Unlock()
	slices.SortFunc(sel, func(a, b entry) int { return cmp.Or(cmp.Compare(a.ref.at, b.ref.at), cmp.Compare(a.id, b.id)) })
	if f.Limit > 0 && len(sel) > f.Limit {
		sel, more = sel[:f.Limit], true
	}
	page = make([]DeadLetter, len(sel))
	for i, e := range sel {
		if page[i], err = d.readDead(ctx, e.ref); err != nil {
			return nil, false, err
		}
	}
	return page, more, nil
}

// DeadLetter returns the dead letter of action id, read from the log, or
// ErrNotFound.
func (d *Dispatcher) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	d.mu.Lock()
	ref, ok := d.mu.dead[id]
	d.mu.Unlock()
	if !ok {
		return DeadLetter{}, ErrNotFound
	}
	return d.readDead(ctx, ref)
}

// Retry sends dead letter id back for delivery with the same action id,
// so with the same idempotency key. It appends a RetryType record first,
// then hands the action to the running Run without waiting; if Run stops
// before delivering it, the next Run finds the retry in the log. It
// returns ErrNotFound if id is not in the queue, and ErrRecovering while
// Run is rebuilding the queue from the log (or has not run).
func (d *Dispatcher) Retry(ctx context.Context, id string) error {
	d.ops.RLock()
	defer d.ops.RUnlock()
	dl, err := d.take(ctx, id, RetryType)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.retryWake != nil {
		d.mu.retryQueue = append(d.mu.retryQueue, dl.Action)
		select {
		case d.mu.retryWake <- struct{}{}:
		default: // already signalled
		}
	}
	return nil
}

// Recovered reports whether the dead-letter queue has been rebuilt from
// the log by Run, so that DeadLetters, Retry and Discard answer for it.
func (d *Dispatcher) Recovered() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.recovered
}

// Discard removes dead letter id from the queue for good, appending a
// DiscardType record. It returns ErrNotFound if id is not in the queue.
func (d *Dispatcher) Discard(ctx context.Context, id string) error {
	d.ops.RLock()
	defer d.ops.RUnlock()
	_, err := d.take(ctx, id, DiscardType)
	return err
}

// take removes id from the queue and logs why; when the record surely did
// not land it puts id back. d.ops is held.
func (d *Dispatcher) take(ctx context.Context, id, typ string) (*DeadLetter, error) {
	d.mu.Lock()
	if !d.mu.recovered {
		d.mu.Unlock()
		return nil, ErrRecovering
	}
	ref, ok := d.mu.dead[id]
	if ok {
		delete(d.mu.dead, id)
	}
	d.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	putBack := func() {
		d.mu.Lock()
		d.mu.dead[id] = ref
		d.mu.Unlock()
	}
	dl, err := d.readDead(ctx, ref)
	if err != nil {
		putBack()
		return nil, err
	}
	rec := record(typ, &dl.Action, Ref{ActionID: id}, time.Now().UTC())
	// Not cancelled with ctx: an append abandoned half-way may still land,
	// and then putting the dead letter back would contradict the log.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := d.st.Append(actx, DeadLetterStream, store.Any, []*event.Event{rec}); err != nil {
		if actx.Err() != nil {
			// The append may still land: the queue leaves id out rather than
			// contradict the log, and the next Run settles it from there.
			d.log.Warn("dispatch: a dead letter's record may or may not be in the log; the queue shows it again after a restart if not",
				"action", id, "record", typ, "err", err)
			return nil, fmt.Errorf("%w: the %s record may still land; after a restart the queue shows %s again if it did not", err, typ, id)
		}
		putBack()
		return nil, err
	}
	return &dl, nil
}
