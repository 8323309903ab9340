package dispatch

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// outcome is what one step of a delivery leaves to append: the events an
// agent gave back, then records for the outbox stream and the dead-letter
// stream. The recorder appends the results of a batch of outcomes before
// their records, so a crash between the two leaves the action undone: it
// is delivered again, and its results, whose ids derive from the action
// id, are not written twice.
type outcome struct {
	action  *engine.Action
	results []*event.Event
	records []*event.Event // for live.ActionsStream
	dlq     []*event.Event // for DeadLetterStream
	dead    *DeadLetter    // enters the queue once its record is durable
	done    *Delivered     // goes into the batch's DeliveredType record
	rec     Delivered      // done's storage, in the same allocation
	took    time.Duration  // of a delivery
}

// resultChunk is the most result events appended in one batch.
const resultChunk = 1000

// maxRecordBytes bounds the data of one DeliveredType record.
const maxRecordBytes = 256 << 10

// emit hands o to the recorder.
func (d *Dispatcher) emit(o *outcome) { d.records <- o }

// maxRecordFlights bounds the batches of records on their way to the log
// at once, and pipelineBatch is the fewest outcomes sent while another
// batch is on its way. Records are appended deferred
// (store.AppendDeferred): each append may wait a few milliseconds for an
// fsync to share. Under a light load the recorder keeps one batch in
// flight and gathers the next meanwhile, so that its appends stay few;
// when outcomes come faster than that batch lands, as when a backlog
// drains with nothing else writing to the log, it sends the next
// batches without waiting, so that the wait for an fsync to share does
// not cap the deliveries per second.
const (
	maxRecordFlights = 8
	pipelineBatch    = 128
)

// recordFlight is a batch of outcomes whose records are on their way to
// the log.
type recordFlight struct {
	batch []*outcome
	recs  []*event.Event // for live.ActionsStream, appended as p
	p     store.Pending
	// dead maps the id of each dead-letter record of the batch that is in
	// the log to its position in DeadLetterStream.
	dead map[string]uint64
}

// recorder appends outcomes in batches of up to Config.RecordBatch until
// d.records is closed. It counts a batch in the metrics, and enters its
// dead letters in the queue, once its records are durable, in the order
// of the batches.
func (d *Dispatcher) recorder(ctx context.Context) {
	flights := make([]recordFlight, 0, maxRecordFlights)
	landOldest := func() {
		d.land(ctx, &flights[0])
		flights[0] = recordFlight{}
		flights = append(flights[:0], flights[1:]...)
	}
	var batch []*outcome
	for {
		if len(batch) > 0 && len(flights) < maxRecordFlights && (len(flights) == 0 || len(batch) >= pipelineBatch) {
			flights = append(flights, d.send(ctx, batch))
			batch = nil
			continue
		}
		var landed <-chan struct{}
		if len(flights) > 0 {
			landed = flights[0].p.Done()
		}
		in := d.records
		if len(batch) >= d.cfg.RecordBatch {
			in = nil // full: wait for a batch to land
		}
		select {
		case <-landed:
			landOldest()
		case o, ok := <-in:
			if !ok {
				if len(batch) > 0 {
					flights = append(flights, d.send(ctx, batch))
				}
				for len(flights) > 0 {
					landOldest()
				}
				return
			}
			if batch == nil {
				batch = make([]*outcome, 0, min(d.cfg.RecordBatch, 64))
			}
			batch = append(batch, o)
		more:
			for len(batch) < d.cfg.RecordBatch {
				select {
				case o, ok := <-d.records:
					if !ok {
						break more // seen again by the next receive
					}
					batch = append(batch, o)
				default:
					break more
				}
			}
		}
	}
}

// send appends a batch of outcomes: the events agents gave back, durably,
// then the records for the outbox stream, deferred, then the dead
// letters, durably. It returns the batch in flight, for land.
func (d *Dispatcher) send(ctx context.Context, batch []*outcome) recordFlight {
	var byStream map[string][]*outcome
	for _, o := range batch {
		if len(o.results) > 0 {
			if byStream == nil {
				byStream = make(map[string][]*outcome)
			}
			stream := resultStream(o.action)
			byStream[stream] = append(byStream[stream], o)
		}
	}
	for stream, os := range byStream {
		var evs []*event.Event
		for _, o := range os {
			evs = append(evs, o.results...)
		}
		if !d.appendResults(ctx, stream, evs) {
			// Run is stopping and the results are not in the log: the
			// actions stay open, to be delivered again by the next Run.
			for _, o := range os {
				o.done = nil
			}
		}
	}
	var recs, dlq []*event.Event
	for _, o := range batch {
		recs = append(recs, o.records...)
		dlq = append(dlq, o.dlq...)
	}
	// Deliveries go in records of at most maxRecordBytes, well under the
	// log's event size limit, written from the outcomes themselves.
	for rest := batch; ; {
		n, size, end := 0, 0, 0
		for end < len(rest) && (n == 0 || size < maxRecordBytes) {
			if dl := rest[end].done; dl != nil {
				size += dl.size()
				n++
			}
			end++
		}
		if n == 0 {
			break
		}
		data := make([]byte, 0, size+32)
		data = append(data, deliveriesOpen...)
		n = 0
		for _, o := range rest[:end] {
			if o.done != nil {
				if n > 0 {
					data = append(data, ',')
				}
				data = o.done.appendJSON(data)
				n++
			}
		}
		recs = append(recs, &event.Event{
			SpecVersion: event.SpecVersion, ID: event.NewID(), Source: Source, Type: DeliveredType,
			Time: time.Now().UTC(), DataContentType: "application/json", Data: append(data, deliveriesClose...),
		})
		rest = rest[end:]
	}
	f := recordFlight{batch: batch, recs: recs, p: store.Settled(nil, nil)}
	if len(recs) > 0 {
		f.p = store.AppendDeferred(ctx, d.st, live.ActionsStream, store.Any, recs)
	}
	f.dead = d.appendDeadLetters(ctx, dlq)
	return f
}

// appendDeadLetters appends the records of dead letters and returns where
// those in the log are in DeadLetterStream, by record id. A record missing
// from the result did not land (the store is closed, or refused it): its
// action stays open in the log, and the next Run delivers it again.
func (d *Dispatcher) appendDeadLetters(ctx context.Context, evs []*event.Event) map[string]uint64 {
	if len(evs) == 0 {
		return nil
	}
	at := make(map[string]uint64, len(evs))
	if ps, err := d.st.Append(ctx, DeadLetterStream, store.Any, evs); err == nil {
		for i, e := range evs {
			at[e.ID] = ps[i].Stream
		}
		return at
	}
	if !d.appendRetrying(ctx, DeadLetterStream, evs, false) {
		return at // the store is closed or broken, or Run is stopping
	}
	// Landed in parts, or refused: ask the log where each one is.
	rctx := context.WithoutCancel(ctx)
	for _, e := range evs {
		if rec, err := d.st.Get(rctx, e.ID); err == nil && rec.Stream == DeadLetterStream {
			at[e.ID] = rec.StreamPosition
		}
	}
	return at
}

// land waits for the records of f to be durable, appending them again if
// that failed, and then counts the batch in the metrics and enters its
// dead letters in the queue.
func (d *Dispatcher) land(ctx context.Context, f *recordFlight) {
	if _, err := f.p.Wait(); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return // the next run delivers these actions again
		}
		if errors.Is(err, store.ErrBroken) {
			d.stopBroken(err)
			return
		}
		d.m.recordErrors.Add(1)
		d.log.Warn("dispatch: appending records failed; retrying", "stream", live.ActionsStream, "err", err)
		if !d.appendRetrying(ctx, live.ActionsStream, f.recs, true) {
			return
		}
	}
	// The figures of the whole batch, under one lock; the rule of the
	// last outcome is at hand for the next, as a batch is often all of
	// one rule.
	var delivered int64
	var last *RuleStats
	d.m.mu.Lock()
	for _, o := range f.batch {
		for _, r := range o.records {
			if r.Type == AttemptType {
				last = d.m.ruleAfter(last, o.action)
				last.FailedAttempts++
			}
		}
		if o.done != nil {
			last = d.m.ruleAfter(last, o.action)
			last.Delivered++
			last.ResponseTime += o.took
			delivered++
		}
	}
	d.m.mu.Unlock()
	d.m.delivered.Add(delivered)
	for _, o := range f.batch {
		if pos, ok := f.dead[recID(o.dlq)]; o.dead != nil && ok { // else its record is not in the log
			d.m.deadLettered.Add(1)
			d.m.mu.Lock()
			d.m.rule(o.action).DeadLettered++
			d.m.mu.Unlock()
			d.mu.Lock()
			if d.mu.dead == nil {
				d.mu.dead = make(map[string]deadRef)
			}
			// A copy of the id: it shares the memory of the whole
			// action as decoded from the outbox.
			d.mu.dead[strings.Clone(o.action.ID)] = refOf(o.dead, pos)
			d.mu.Unlock()
		}
	}
}

// fold counts a record of type typ about a in the metrics.
func (d *Dispatcher) fold(typ string, a *engine.Action, took time.Duration) {
	switch typ {
	case DeliveredType:
		d.m.delivered.Add(1)
		d.m.mu.Lock()
		rs := d.m.rule(a)
		rs.Delivered++
		rs.ResponseTime += took
		d.m.mu.Unlock()
	case AttemptType:
		d.m.mu.Lock()
		d.m.rule(a).FailedAttempts++
		d.m.mu.Unlock()
	}
}

// resultStream is the stream of the events an agent gave back for a: its
// correlation's, or, for an action with no correlation (a global
// threshold's), one that cannot name a stream, or one that names a system
// stream ("$actions": an agent must not write the dispatcher's records),
// a stream of its own named by its id.
func resultStream(a *engine.Action) string {
	if !strings.HasPrefix(a.CorrelationID, "$") && store.CheckStream(a.CorrelationID) == nil {
		return a.CorrelationID
	}
	return a.ID
}

// appendResults appends the events agents gave back. An event the store
// refuses (invalid, or its id already used for other content because an
// agent answered a repeated delivery differently) is logged and left out:
// the first answer stands. It returns false if some event could be neither
// appended nor refused: the store is closed, or Run is stopping.
func (d *Dispatcher) appendResults(ctx context.Context, stream string, evs []*event.Event) bool {
	ok := true
	for len(evs) > resultChunk {
		ok = d.appendResults(ctx, stream, evs[:resultChunk]) && ok
		evs = evs[resultChunk:]
	}
	_, err := d.st.Append(ctx, stream, store.Any, evs)
	if err == nil {
		d.m.results.Add(int64(len(evs)))
		return ok
	}
	if !refused(err) || len(evs) == 1 {
		if !refused(err) {
			return d.appendRetrying(ctx, stream, evs, false) && ok
		}
		d.m.resultsRefused.Add(1)
		d.log.Warn("dispatch: an agent's event was refused", "id", evs[0].ID, "type", evs[0].Type, "code", store.Code(err), "err", err)
		return ok
	}
	for _, e := range evs { // find the culprits one by one
		_, err := d.st.Append(ctx, stream, store.Any, []*event.Event{e})
		switch {
		case err == nil:
			d.m.results.Add(1)
		case refused(err):
			d.m.resultsRefused.Add(1)
			d.log.Warn("dispatch: an agent's event was refused", "id", e.ID, "type", e.Type, "code", store.Code(err), "err", err)
		default:
			ok = d.appendRetrying(ctx, stream, []*event.Event{e}, false) && ok
		}
	}
	return ok
}

// refused reports an append error about the events themselves, which a
// retry would not change.
func refused(err error) bool {
	var ee *store.EventError
	return errors.As(err, &ee) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalidStream) ||
		errors.Is(err, store.ErrBatchTooLarge)
}

// appendRetrying appends evs, retrying failures that may pass while Run
// runs. It returns false if the store is closed or broken (which ends
// Run), or if an append fails
// once Run is stopping: the outcomes are then not recorded, and the next
// Run delivers those actions again, under the same keys. A deferred append
// (store.AppendDeferred) shares the fsync of the appends after it: for
// records of deliveries, which come in a steady stream and whose loss in a
// crash only means delivering again under the same key.
func (d *Dispatcher) appendRetrying(ctx context.Context, stream string, evs []*event.Event, deferred bool) bool {
	wait := defaultRecordRetryDelay
	for len(evs) > 0 {
		var err error
		if deferred {
			_, err = store.AppendDeferred(ctx, d.st, stream, store.Any, evs).Wait()
		} else {
			_, err = d.st.Append(ctx, stream, store.Any, evs)
		}
		if err == nil {
			return true
		}
		if errors.Is(err, store.ErrClosed) {
			return false
		}
		if errors.Is(err, store.ErrBroken) {
			d.stopBroken(err)
			return false
		}
		d.m.recordErrors.Add(1)
		if refused(err) && len(evs) > 1 {
			// Our own records are bounded in size; find the one refused.
			ok := true
			for _, e := range evs {
				ok = d.appendRetrying(ctx, stream, []*event.Event{e}, deferred) && ok
			}
			return ok
		}
		if refused(err) { // a bug, not a passing failure
			d.log.Error("dispatch: the store refused a dispatcher record", "stream", stream, "type", evs[0].Type, "err", err)
			return true
		}
		d.log.Warn("dispatch: appending records failed; retrying", "stream", stream, "err", err)
		select {
		case <-d.stopping:
			d.log.Error("dispatch: stopping with outcomes not recorded; their actions will be delivered again", "stream", stream, "err", err)
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	return true
}

// recID is the id of an outcome's dead-letter record, or "".
func recID(dlq []*event.Event) string {
	if len(dlq) == 0 {
		return ""
	}
	return dlq[0].ID
}
