package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Run runs the runner of every version that has records to act on, and
// of every version deployed while it runs, until ctx ends or Close is
// called; then it stops them all, waits for them, and returns ctx.Err(),
// or ErrClosed after Close. If a runner fails for good (the store is
// closed or cannot be read, see live.Runner.Run), Run stops the others
// and returns that runner's error.
//
// A replaced or removed version's runner ends by itself once it has
// appended the actions of every record before the version's end; Run
// then records the version's retirement (EventRetired). Every
// Config.SyncInterval, and whenever a runner reads a record of Stream the
// manager has not applied, Run applies the records other managers
// appended to Stream.
//
// After Run returns for a cancelled ctx or a failure, Run may be called
// again: each runner resumes where it stopped. Only one Run may be in
// progress.
func (m *Manager) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	switch {
	case m.mu.closed:
		m.mu.Unlock()
		return ErrClosed
	case m.mu.running:
		m.mu.Unlock()
		return ErrRunning
	}
	done := make(chan struct{})
	m.mu.running, m.mu.cancel, m.mu.done = true, cancel, done
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.mu.running, m.mu.cancel, m.mu.done = false, nil, nil
		m.mu.Unlock()
		close(done)
	}()

	var wg sync.WaitGroup
	failed := make(chan error, 1)
	timer := m.clock.NewTimer(m.cfg.SyncInterval)
	var err error
	for err == nil {
		m.startRuns(runCtx, &wg, failed)
		select {
		case <-runCtx.Done():
			err = runCtx.Err()
		case err = <-failed:
		case <-m.wake:
		case <-m.nudge:
			m.syncRun(runCtx)
		case <-timer.C():
			m.syncRun(runCtx)
			timer = m.clock.NewTimer(m.cfg.SyncInterval)
		}
	}
	timer.Stop()
	cancel()
	wg.Wait()
	switch {
	case m.isClosed():
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// startRuns starts a goroutine for each runner that has none.
func (m *Manager) startRuns(ctx context.Context, wg *sync.WaitGroup, failed chan<- error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for rn := range m.mu.runs {
		if rn.started {
			continue
		}
		rn.started = true
		wg.Go(func() { m.runOne(ctx, rn, failed) })
	}
}

// runOne runs one runner until it ends.
func (m *Manager) runOne(ctx context.Context, rn *run, failed chan<- error) {
	err := rn.r.Run(ctx)
	if err == nil {
		m.retire(ctx, rn)
		return
	}
	m.mu.Lock()
	rn.started = false
	name, version := rn.v.d.Name, rn.v.d.Version
	m.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	err = fmt.Errorf("deploy: running %s version %d: %w", name, version, err)
	m.log.Error("choreography runner failed", "choreography", name, "version", version, "error", err)
	select {
	case failed <- err:
	default:
	}
}

// retire records that rn's version has acted on every record before its
// end, and drops its runner. If the record cannot be appended, the next
// Open runs the version again up to its end, which appends nothing new.
func (m *Manager) retire(ctx context.Context, rn *run) {
	m.mu.Lock()
	name, version := rn.v.d.Name, rn.v.d.Version
	m.mu.Unlock()
	// The runner may have read the record that ends the version before
	// the manager applied it: its position is where it stopped.
	end := rn.r.Metrics().Position
	ev, err := retiredEvent(name, version, end)
	if err == nil {
		_, err = m.st.Append(ctx, Stream, store.Any, []*event.Event{ev})
	}
	if err != nil && ctx.Err() == nil {
		m.log.Warn("recording a retired choreography version", "choreography", name, "version", version, "error", err)
	}

	m.mu.Lock()
	delete(m.mu.runs, rn)
	rn.started = false
	rn.v.run = nil
	if e := m.mu.names[name]; e == nil || e.current != rn.v {
		rn.v.d.Choreography = nil
	}
	m.mu.Unlock()
	m.poke()
}

// syncRun applies the records of Stream the manager has not applied.
func (m *Manager) syncRun(ctx context.Context) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if err := m.syncLocked(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("reading deployments", "error", err)
	}
}

// poke asks Run to apply the records of Stream it has not applied.
func (m *Manager) poke() {
	select {
	case m.nudge <- struct{}{}:
	default:
	}
}

// Metrics is a snapshot of one version's runner.
type Metrics struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Current says the version is the name's current one; otherwise it is
	// replaced or removed and its runner is finishing.
	Current bool `json:"current"`
	// Running says a goroutine of Run is running the runner.
	Running bool `json:"running"`
	// EmitFrom is the global position from which the version acts: the
	// one after its deployment record.
	EmitFrom uint64 `json:"emit_from"`
	// End is the position of the record that ended the version, or 0.
	End uint64 `json:"end,omitempty"`
	// ActionsDropped counts the actions the engine decided on records
	// before EmitFrom: history the version folds but does not act on.
	ActionsDropped int64          `json:"actions_dropped"`
	Runner         live.Metrics   `json:"runner"`
	Engine         engine.Metrics `json:"engine"`
}

// Metrics returns a snapshot of the runner of every version that has one
// — the current versions, and replaced or removed ones still finishing —
// by name and version.
func (m *Manager) Metrics() []Metrics {
	type item struct {
		m Metrics
		r *live.Runner
	}
	m.mu.Lock()
	items := make([]item, 0, len(m.mu.runs))
	for rn := range m.mu.runs {
		d := &rn.v.d
		e := m.mu.names[d.Name]
		items = append(items, item{Metrics{
			Name: d.Name, Version: d.Version, Current: e != nil && e.current == rn.v,
			Running: rn.started, EmitFrom: d.Position + 1, End: d.End,
		}, rn.r})
	}
	m.mu.Unlock()
	out := make([]Metrics, len(items))
	for i, it := range items {
		it.m.Runner = it.r.Metrics()
		it.m.Engine = it.r.EngineMetrics()
		it.m.ActionsDropped = it.r.ActionsDropped()
		out[i] = it.m
	}
	slices.SortFunc(out, func(a, b Metrics) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// watchStore is the store a version's runner reads through. Its
// subscriptions stop the runner at the record that ends the version — the
// name's next deployment or its removal — as they read it, before the
// runner can process anything after it; so the version's end is where the
// log has it, whenever the manager learns of it. They also tell the
// manager of records of Stream it has not applied.
type watchStore struct {
	store.Store
	m      *Manager
	name   string
	after  uint64       // the version's deployment record
	runner *live.Runner // set before the runner runs
}

var (
	_ store.AsyncAppender    = (*watchStore)(nil)
	_ store.DeferredAppender = (*watchStore)(nil)
)

// AppendAsync and AppendDeferred pass the runner's pipelined appends
// through to the store (see store.AsyncAppender and
// store.DeferredAppender): without them the runner would wait for each
// batch of actions to be durable before sending the next, with an fsync
// of its own.
func (w *watchStore) AppendAsync(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event) store.Pending {
	return store.AppendAsync(ctx, w.Store, stream, expected, events)
}

func (w *watchStore) AppendDeferred(ctx context.Context, stream string, expected store.ExpectedVersion, events []*event.Event) store.Pending {
	return store.AppendDeferred(ctx, w.Store, stream, expected, events)
}

// Subscribe subscribes to the store and watches what the subscription
// reads.
func (w *watchStore) Subscribe(ctx context.Context, from uint64) (store.Subscription, error) {
	sub, err := w.Store.Subscribe(ctx, from)
	if err != nil {
		return nil, err
	}
	return &watchSub{Subscription: sub, w: w}, nil
}

// SubscribeWith subscribes to the store with opts, reading the events of
// Stream whatever opts.Streams says, and watches what the subscription
// reads.
func (w *watchStore) SubscribeWith(ctx context.Context, from uint64, opts store.SubscribeOptions) (store.Subscription, error) {
	if want := opts.Streams; want != nil {
		opts.Streams = func(stream string) bool { return stream == Stream || want(stream) }
	}
	sub, err := store.SubscribeWith(ctx, w.Store, from, opts)
	if err != nil {
		return nil, err
	}
	return &watchSub{Subscription: sub, w: w}, nil
}

type watchSub struct {
	store.Subscription
	w *watchStore
}

// Next returns the subscription's next record, having stopped the runner
// at it if it ends the version.
func (s *watchSub) Next(ctx context.Context) (store.Record, error) {
	rec, err := s.Subscription.Next(ctx)
	if err != nil || rec.Stream != Stream {
		return rec, err
	}
	w := s.w
	if rec.GlobalPosition > w.after && ends(&rec, w.name) {
		w.runner.StopAt(rec.GlobalPosition)
	}
	if rec.StreamPosition >= w.m.applied.Load() {
		w.m.poke()
	}
	return rec, nil
}
