package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// DeadLetters returns the dead-letter queue, oldest first. It is rebuilt
// from the log when Run starts.
func (d *Dispatcher) DeadLetters() []DeadLetter {
	all, _ := d.DeadLetterPage(DLQFilter{})
	return all
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
// whether more follow the page.
func (d *Dispatcher) DeadLetterPage(f DLQFilter) (page []DeadLetter, more bool) {
	d.mu.Lock()
	sel := make([]*DeadLetter, 0, len(d.mu.dead))
	for _, dl := range d.mu.dead {
		if (f.Reason == "" || dl.Reason == f.Reason) &&
			(f.AfterID == "" && f.AfterTime.IsZero() || cmp.Or(dl.Time.Compare(f.AfterTime), cmp.Compare(dl.ActionID, f.AfterID)) > 0) {
			sel = append(sel, dl)
		}
	}
	d.mu.Unlock()
	// A dead letter is never changed once in the queue: it can be read
	// outside the lock.
	slices.SortFunc(sel, func(a, b *DeadLetter) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ActionID, b.ActionID))
	})
	if f.Limit > 0 && len(sel) > f.Limit {
		sel, more = sel[:f.Limit], true
	}
	page = make([]DeadLetter, len(sel))
	for i, dl := range sel {
		page[i] = *dl
	}
	return page, more
}

// DeadLetter returns the dead letter of action id.
func (d *Dispatcher) DeadLetter(id string) (DeadLetter, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, ok := d.mu.dead[id]
	if !ok {
		return DeadLetter{}, false
	}
	return *dl, true
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
	dl, ok := d.mu.dead[id]
	if ok {
		delete(d.mu.dead, id)
	}
	d.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
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
		d.mu.Lock()
		d.mu.dead[id] = dl
		d.mu.Unlock()
		return nil, err
	}
	return dl, nil
}
