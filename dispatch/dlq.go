package dispatch

import (
	"context"
	"encoding/json"
	"errors"
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
// whole action and its last error: about 820 bytes in memory, against
// about 120 for its reference and its key.
type deadRef struct {
	pos    uint64 // of its DeadLetterType record in DeadLetterStream
	reason string // DeadLetter.Reason
}

var reasons = []string{ReasonMaxAttempts, ReasonRejected, ReasonNoAgent, ReasonUnavailable, ReasonLoop}

// refOf returns the reference of dl, whose record is at pos in
// DeadLetterStream.
func refOf(dl *DeadLetter, pos uint64) deadRef {
	reason := strings.Clone(dl.Reason)
	if i := slices.Index(reasons, dl.Reason); i >= 0 {
		reason = reasons[i] // one copy of each, not one per dead letter
	}
	return deadRef{pos: pos, reason: reason}
}

// errNoRecord says a record is not where recovery or the dead-letter
// queue found it: a bug, not a missing dead letter.
var errNoRecord = errors.New("dispatch: no record at its position")

// readDeadLetters reads the dead letters whose records are at positions
// (ascending) of DeadLetterStream, a batch at a time.
func readDeadLetters(ctx context.Context, st store.Store, positions []uint64) ([]DeadLetter, error) {
	out := make([]DeadLetter, len(positions))
	r := posReader{st: st, stream: DeadLetterStream}
	for i, pos := range positions {
		rec, err := r.at(ctx, pos, positions[len(positions)-1])
		if err != nil {
			return nil, err
		}
		if rec.Event.Type != DeadLetterType {
			return nil, fmt.Errorf("%w: %s at %d is a %s", errNoRecord, DeadLetterStream, pos, rec.Event.Type)
		}
		if err := json.Unmarshal(rec.Event.Data, &out[i]); err != nil {
			return nil, fmt.Errorf("dispatch: the dead-letter record at %d does not decode: %w", pos, err)
		}
	}
	return out, nil
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
	// From starts the page at the dead letters whose records are at this
	// position of DeadLetterStream or later: the next of the page before.
	// Zero: from the oldest.
	From  uint64
	Limit int // at most this many; <= 0: no bound
}

// DeadLetterPage returns the dead letters f selects, oldest first (in the
// order their records entered the log), read from the log, and next: the
// From of the page that follows, or 0 if none does.
func (d *Dispatcher) DeadLetterPage(ctx context.Context, f DLQFilter) (page []DeadLetter, next uint64, err error) {
	d.mu.Lock()
	sel := make([]uint64, 0, min(len(d.mu.dead), 1024))
	for _, ref := range d.mu.dead {
		if ref.pos >= f.From && (f.Reason == "" || ref.reason == f.Reason) {
			sel = append(sel, ref.pos)
		}
	}
	d.mu.Unlock()
	slices.Sort(sel)
	if f.Limit > 0 && len(sel) > f.Limit {
		sel, next = sel[:f.Limit], sel[f.Limit]
	}
	page, err = readDeadLetters(ctx, d.st, sel)
	if err != nil {
		return nil, 0, err
	}
	return page, next, nil
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
	dls, err := readDeadLetters(ctx, d.st, []uint64{ref.pos})
	if err != nil {
		return DeadLetter{}, err
	}
	return dls[0], nil
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
		d.mu.dead[strings.Clone(id)] = ref // the caller's id may share a larger allocation
		d.mu.Unlock()
	}
	// Not cancelled with ctx either: the caller may have gone already.
	dls, err := readDeadLetters(context.WithoutCancel(ctx), d.st, []uint64{ref.pos})
	if err != nil {
		putBack()
		return nil, err
	}
	dl := dls[0]
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
