package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Runner folds the log through an engine and appends the actions it
// decides to ActionsStream, and clock events to TimersStream when timers
// fall due. See the package documentation.
type Runner struct {
	st  store.Store
	eng *engine.Engine
	cfg Config
	log *slog.Logger

	mu struct {
		sync.Mutex
		closed  bool
		running bool
		cancel  context.CancelFunc // of the running Run
		done    chan struct{}      // closed when the running Run returns
	}

	// Owned by Run, one call at a time; kept between calls so that a Run
	// after a cancelled one resumes where it stopped.
	next      uint64         // global position of the next record to read
	pending   []*event.Event // action events decided but not yet sent to the store
	inflight  []flight       // appends of action events on their way, oldest first
	acts      []engine.Action
	lastTimer time.Time // the latest time of a clock event processed
	sent      time.Time // the time of a clock event appended and not yet processed
	timer     Timer     // armed for armedFor, or nil
	armedFor  time.Time
	fresh     int // records given to the engine since the latest snapshot in engM

	stop    atomic.Uint64 // the position StopAt set; noStop for none
	stopped chan struct{} // receives when StopAt lowers stop
	dropped atomic.Int64  // actions decided on records before Config.EmitFrom
	engM    atomic.Pointer[engine.Metrics]

	m metrics
}

// noStop is Runner.stop before any StopAt.
const noStop = math.MaxUint64

// engineSnapEvery is how many records Run gives the engine, at most,
// between two snapshots of its metrics while records keep coming.
const engineSnapEvery = 4096

// errStop ends run when the runner has reached its StopAt position.
var errStop = errors.New("live: stop position reached")

// New returns a runner that feeds eng from st. The runner uses eng from
// global position 0 on: eng must be fresh, and must not be used by anyone
// else while Run runs.
func New(st store.Store, eng *engine.Engine, cfg Config) (*Runner, error) {
	if st == nil || eng == nil {
		return nil, fmt.Errorf("%w: nil store or engine", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Runner{st: st, eng: eng, cfg: cfg, log: cfg.Logger, stopped: make(chan struct{}, 1)}
	r.stop.Store(noStop)
	r.snapEngine()
	return r, nil
}

// StopAt makes Run stop before the record at global position pos: Run
// gives the engine every record before pos, appends their actions, and
// then returns nil, without processing the record at pos or any after it.
// A clock event at or after pos therefore fires no timer of this runner.
// If Run has already processed records at or after pos when StopAt is
// called, it returns as soon as it has appended the actions it decided;
// those of the records it processed are in the log or on their way to it.
// Once the stop is reached, every later Run returns nil at once.
//
// A later call with a lower position moves the stop back; one with a
// higher position changes nothing. StopAt may be called before Run, and
// is safe for concurrent use.
func (r *Runner) StopAt(pos uint64) {
	for {
		cur := r.stop.Load()
		if pos >= cur {
			return
		}
		if r.stop.CompareAndSwap(cur, pos) {
			break
		}
	}
	select {
	case r.stopped <- struct{}{}:
	default:
	}
}

// ActionsDropped returns how many actions the engine decided on records
// before Config.EmitFrom, which the runner dropped instead of appending.
// It is safe for concurrent use.
func (r *Runner) ActionsDropped() int64 { return r.dropped.Load() }

// EngineMetrics returns the metrics of the runner's engine, as of Run's
// latest snapshot of them: Run takes one whenever it has processed every
// record it has read, at least every 4096 records while records keep
// coming, and when it returns. It is safe for concurrent use, also while
// Run runs, unlike the engine's own Metrics.
func (r *Runner) EngineMetrics() engine.Metrics {
	m := *r.engM.Load()
	m.Rules = slices.Clone(m.Rules)
	return m
}

// snapEngine publishes a snapshot of the engine's metrics; only the
// goroutine that owns the engine may call it.
func (r *Runner) snapEngine() {
	m := r.eng.Metrics()
	r.engM.Store(&m)
	r.fresh = 0
}

// maxInflight is how many appends of action batches a runner keeps on
// their way to the log at once.
const maxInflight = 8

// flight is an append of action events on its way to the log.
type flight struct {
	evs  []*event.Event
	next uint64 // once it is in, the actions of every record before next are; 0 for none
	p    store.Pending
}

// item is a record or the error that ended the subscription.
type item struct {
	rec store.Record
	err error
}

// Run follows the log and blocks until ctx ends, Close is called, or the
// store fails for good (it is closed, or its subscription breaks). It
// returns ctx.Err() when ctx ends, ErrClosed after Close, and otherwise
// the store's error. Appends that fail for a reason that may pass are
// retried with backoff and reported in Metrics.
//
// When the runner reaches the position given to StopAt, Run returns nil
// (see StopAt).
//
// After Run returns for a cancelled ctx or a store error, Run may be
// called again: it resumes where it stopped, appending first the actions
// it had decided and not yet written. Only one Run may be in progress.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	switch {
	case r.mu.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.mu.running:
		r.mu.Unlock()
		return ErrRunning
	}
	done := make(chan struct{})
	r.mu.running, r.mu.cancel, r.mu.done = true, cancel, done
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.mu.running, r.mu.cancel, r.mu.done = false, nil, nil
		r.mu.Unlock()
		close(done)
	}()

	err := r.run(ctx)
	if len(r.inflight) > 0 {
		// Run ends on an error: the appends on their way may or may not
		// land. The next Run sends their events again; the log keeps each
		// once.
		r.abandon()
	}
	r.stopTimer()
	if r.fresh > 0 {
		r.snapEngine()
	}
	if errors.Is(err, errStop) {
		return nil
	}
	if err != nil && ctx.Err() != nil {
		if r.isClosed() {
			return ErrClosed
		}
		return ctx.Err()
	}
	return err
}

func (r *Runner) run(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if r.next >= r.stop.Load() {
		if err := r.settle(ctx); err != nil {
			return err
		}
		return errStop
	}
	sub, err := store.SubscribeWith(ctx, r.st, r.next, store.SubscribeOptions{Streams: EngineStreams})
	if err != nil {
		return r.fail(fmt.Errorf("subscribing from %d: %w", r.next, err))
	}
	recs := make(chan item, r.cfg.Buffer)
	readCtx, stopRead := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			rec, err := sub.Next(readCtx)
			select {
			case recs <- item{rec, err}:
			case <-readCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer func() {
		stopRead()
		wg.Wait()
		sub.Close()
	}()

	halt := false // a record at or past the stop was read
	for {
		// The snapshot goes first, so that one who sees the position of
		// the flush also sees the engine's metrics up to it.
		if r.fresh > 0 && (len(recs) == 0 || r.fresh >= engineSnapEvery) {
			r.snapEngine()
		}
		if err := r.flush(ctx); err != nil {
			return err
		}
		if halt || r.next >= r.stop.Load() {
			if err := r.settle(ctx); err != nil {
				return err
			}
			return errStop
		}
		timerC, err := r.timers(ctx, len(recs) > 0)
		if err != nil {
			return err
		}
		var landed <-chan struct{}
		if len(r.inflight) > 0 {
			landed = r.inflight[0].p.Done()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-landed:
			// The loop's head settles it.
		case <-r.stopped:
			// The loop's head checks the new stop.
		case <-timerC:
			r.timer = nil
		case it := <-recs:
			for {
				if it.err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return r.fail(fmt.Errorf("reading the log at %d: %w", r.next, it.err))
				}
				if it.rec.GlobalPosition >= r.stop.Load() {
					halt = true
					break
				}
				r.handle(it.rec)
				// Back to the loop's head when the reader is drained, a batch
				// of actions is ready, or the engine's snapshot is due: a long
				// catch-up deciding few actions still flushes them and
				// updates the metrics as it goes.
				if len(recs) == 0 || len(r.pending) >= r.cfg.MaxBatch || r.fresh >= engineSnapEvery {
					break
				}
				it = <-recs
			}
		}
	}
}

// EngineStreams says whether the events of stream may be given to the
// engine (see EngineInput): those of every stream but the system's, and
// of TimersStream. A runner reads the log with it, so that the records of
// the other streams (the actions and the dispatcher's records, as many as
// the events) are not decoded.
func EngineStreams(stream string) bool {
	return !store.IsSystemStream(stream) || stream == TimersStream
}

// EngineInput says what a runner gives the engine for rec, so that tools
// re-folding a log (choreo replay) do exactly as it does. Records of the
// system streams ("$…") are not given, except the clock events of
// TimersStream (clock is then true); a clock event anywhere else is not
// given either: only the runner's clock events move the clock, not an
// agent's. An event without a time is given with the time the log
// recorded it (a copy; rec is not changed), so a replay places it at the
// same moment.
func EngineInput(rec *store.Record) (ev *event.Event, clock, ok bool) {
	ev = rec.Event
	if ev == nil { // a record read without its event (EngineStreams)
		return nil, false, false
	}
	clock = ev.Type == engine.TimerEventType
	if strings.HasPrefix(rec.Stream, "$") {
		if rec.Stream != TimersStream || !clock {
			return nil, false, false
		}
	} else if clock {
		return nil, false, false
	}
	if ev.Time.IsZero() && !rec.Recorded.IsZero() {
		withTime := *ev
		withTime.Time = rec.Recorded.UTC()
		ev = &withTime
	}
	return ev, clock, true
}

// handle gives one record to the engine and queues its actions.
func (r *Runner) handle(rec store.Record) {
	r.next = rec.GlobalPosition + 1
	ev, clock, ok := EngineInput(&rec)
	if !ok {
		r.m.skipped.Add(1)
		return
	}
	if clock {
		if ev.Time.After(r.lastTimer) {
			r.lastTimer = ev.Time
		}
		if !r.sent.IsZero() && !ev.Time.Before(r.sent) {
			r.sent = time.Time{}
		}
	}
	r.m.events.Add(1)
	r.fresh++
	r.acts = r.eng.AppendProcess(r.acts[:0], ev)
	if rec.GlobalPosition < r.cfg.EmitFrom {
		r.dropped.Add(int64(len(r.acts)))
	} else {
		for i := range r.acts {
			r.pending = append(r.pending, ActionEvent(&r.acts[i]))
		}
	}
	clear(r.acts) // drop references to trigger ids
}

// timers arms the clock for the engine's next timer, or appends its
// clock event when it is due and the runner has caught up with the log.
// busy says records are waiting, so the runner has not caught up. It
// returns the channel to wait on, nil when there is none.
func (r *Runner) timers(ctx context.Context, busy bool) (<-chan time.Time, error) {
	due, ok := r.eng.NextTimer()
	if !ok || !r.sent.IsZero() {
		// No timer, or its clock event is on its way back.
		r.stopTimer()
		return nil, nil
	}
	at := due.Add(r.cfg.TimerDelay)
	if wait := at.Sub(r.cfg.Clock.Now()); wait > 0 {
		if r.timer == nil || !r.armedFor.Equal(at) {
			r.stopTimer()
			r.timer, r.armedFor = r.cfg.Clock.NewTimer(wait), at
		}
		return r.timer.C(), nil
	}
	r.stopTimer()
	if busy {
		return nil, nil // the records will bring us back here
	}
	head, err := r.st.Head(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.fail(fmt.Errorf("reading the head: %w", err))
	}
	r.m.head.Store(head)
	if r.next < head {
		return nil, nil
	}
	// A timer can fall due at or before a clock event already processed
	// (an absence started by a late event): its clock event needs a later
	// time, for the one at due is behind us.
	t := due
	if !t.After(r.lastTimer) && !r.lastTimer.IsZero() {
		t = r.lastTimer.Add(time.Nanosecond)
	}
	// conflicts counts the ids found taken, failures the appends that
	// failed otherwise (the store's passing trouble, retried with backoff).
	var own string
	for conflicts, failures := 0, 0; ; {
		clock := TimerEvent(t)
		if conflicts >= 8 {
			// Ids of the next nanoseconds taken too: an id of its own, the
			// same through retries. Another runner's clock event for the
			// same time may then be appended too, which is harmless: a clock
			// event only moves the clock.
			if own == "" {
				own = event.NewID()
			}
			clock.ID = own
		}
		_, err := r.st.Append(ctx, TimersStream, store.Any, []*event.Event{clock})
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrConflict) {
			// Its id is taken by something else: try the next nanosecond.
			t = t.Add(time.Nanosecond)
			conflicts++
			continue
		}
		if err := r.retry(ctx, fmt.Errorf("appending the clock event for %s: %w", t.Format(time.RFC3339Nano), err), failures); err != nil {
			return nil, err
		}
		failures++
	}
	r.sent = t
	r.m.timers.Add(1)
	return nil, nil
}

func (r *Runner) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// flush sends the pending action events to the store, MaxBatch at a
// time, without waiting for them to land: up to maxInflight appends are on
// their way at once, in order, so that a slow fsync delays the actions of
// the next records no more than those of the last. It then settles the
// appends that have landed.
func (r *Runner) flush(ctx context.Context) error {
	for len(r.pending) > 0 {
		if len(r.inflight) >= maxInflight {
			if err := r.settleOne(ctx); err != nil {
				return err
			}
		}
		n := min(len(r.pending), r.cfg.MaxBatch)
		f := flight{evs: r.pending[:n:n]}
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			f.next = r.next
		}
		f.p = store.AppendDeferred(ctx, r.st, ActionsStream, store.Any, f.evs)
		r.inflight = append(r.inflight, f)
	}
	// The in-flight appends hold the old array; the next events go to a
	// new one.
	r.pending = nil
	for len(r.inflight) > 0 {
		select {
		case <-r.inflight[0].p.Done():
		default:
			return nil
		}
		if err := r.settleOne(ctx); err != nil {
			return err
		}
	}
	r.m.position.Store(r.next)
	return nil
}

// settle waits for every append on its way to land.
func (r *Runner) settle(ctx context.Context) error {
	for len(r.inflight) > 0 {
		if err := r.settleOne(ctx); err != nil {
			return err
		}
	}
	if len(r.pending) == 0 {
		r.m.position.Store(r.next)
	}
	return nil
}

// settleOne waits for the oldest append on its way to land. One that
// failed is appended again, synchronously (see appendActions): it then
// lands after the appends that followed it, which changes nothing but the
// order of the stream, for every action has its own id. An error ends
// Run, and leaves the events of every append still on its way pending.
func (r *Runner) settleOne(ctx context.Context) error {
	f := r.inflight[0]
	select {
	case <-f.p.Done():
	case <-ctx.Done():
		r.abandon()
		return ctx.Err()
	}
	if _, err := f.p.Wait(); err == nil {
		r.m.actions.Add(int64(len(f.evs)))
	} else if err := r.appendActions(ctx, f.evs); err != nil {
		r.abandon()
		return err
	}
	r.inflight[0] = flight{}
	r.inflight = r.inflight[1:]
	if f.next != 0 {
		r.m.position.Store(f.next)
	}
	return nil
}

// abandon gives up waiting for the appends on their way: their events go
// back to the front of the pending ones, to be sent again.
func (r *Runner) abandon() {
	var evs []*event.Event
	for _, f := range r.inflight {
		evs = append(evs, f.evs...)
	}
	r.pending = append(evs, r.pending...)
	clear(r.inflight)
	r.inflight = r.inflight[:0]
}

func (r *Runner) appendActions(ctx context.Context, evs []*event.Event) error {
	for attempt := 0; ; attempt++ {
		_, err := r.st.Append(ctx, ActionsStream, store.Any, evs)
		switch {
		case err == nil:
			r.m.actions.Add(int64(len(evs)))
			return nil
		case refused(err) && len(evs) > 1:
			// One event spoils the batch: find it by appending one by one.
			for _, ev := range evs {
				if err := r.appendActions(ctx, []*event.Event{ev}); err != nil {
					return err
				}
			}
			return nil
		case refused(err):
			r.m.rejected.Add(1)
			r.setErr(fmt.Errorf("appending action %s: %w", evs[0].ID, err))
			r.log.Error("action refused by the log, dropped", "action_id", evs[0].ID, "error", err)
			return nil
		}
		if err := r.retry(ctx, fmt.Errorf("appending %d actions: %w", len(evs), err), attempt); err != nil {
			return err
		}
	}
}

// refused reports whether the store refused the events themselves, so
// that retrying cannot help.
func refused(err error) bool {
	var ee *store.EventError
	return errors.Is(err, store.ErrConflict) || errors.As(err, &ee) ||
		errors.Is(err, store.ErrBatchTooLarge)
}

// retry records err and waits before attempt+1, or returns the error that
// ends Run: ctx's, or the store's when it is closed or broken.
func (r *Runner) retry(ctx context.Context, err error, attempt int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrBroken) {
		return r.fail(err)
	}
	r.setErr(err)
	d := r.cfg.RetryDelay << min(attempt, 30)
	if d <= 0 || d > r.cfg.MaxRetryDelay {
		d = r.cfg.MaxRetryDelay
	}
	r.log.Warn("append failed, retrying", "error", err, "attempt", attempt+1, "wait", d)
	t := r.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// fail records err and returns it.
func (r *Runner) fail(err error) error {
	err = fmt.Errorf("live: %w", err)
	r.setErr(err)
	return err
}

// Close stops Run and waits for it to return; later calls of Run return
// ErrClosed. It is idempotent, safe for concurrent use, and does not
// close the store. It returns nil.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.mu.closed = true
	cancel, done := r.mu.cancel, r.mu.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (r *Runner) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.closed
}
