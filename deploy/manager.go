package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// maxAttempts bounds the appends one Deploy or Remove tries when other
// appends to Stream keep getting in first.
const maxAttempts = 32

// Deployment is one deployed version of a choreography.
//
// Source and Choreography are shared with the manager: treat them as
// read-only. They are left out of JSON; an API shows Source as text.
type Deployment struct {
	Name    string `json:"name"`
	Version int    `json:"version"` // 1 for the first deployment of Name, then one more for each
	SHA256  string `json:"sha256"`  // the hex SHA-256 of Source
	// Source is the document exactly as it was deployed.
	Source     []byte    `json:"-"`
	DeployedAt time.Time `json:"deployed_at"`
	// Position is the global position of the deployment record: the
	// version acts on the records after it.
	Position uint64 `json:"position"`
	Rules    int    `json:"rules"` // patterns, sequences and complex patterns
	// Choreography is the compiled document while the version runs (it
	// is current, or replaced and still finishing); nil otherwise.
	Choreography *choreography.Choreography `json:"-"`
	// End is the global position of the record that ended the version —
	// the next version's deployment or the removal — or 0 while it is
	// current. The version acts on no record from End on.
	End uint64 `json:"end,omitempty"`
	// Removed says that End is a removal.
	Removed bool `json:"removed,omitempty"`
}

// Manager deploys, replaces and removes choreographies, records each
// change in Stream, and runs every deployed version over the log. See the
// package documentation.
//
// All methods are safe for concurrent use.
type Manager struct {
	st    store.Store
	cfg   Config
	log   *slog.Logger
	clock live.Clock

	// applied is how many records of Stream the manager has applied: the
	// stream position of the next. It changes under writeMu.
	applied atomic.Uint64

	// writeMu serialises the appends to Stream and the application of its
	// records, so that the state follows the stream in order. Holding it
	// is enough to read mu.names. Order: writeMu before mu.
	writeMu sync.Mutex

	mu struct {
		sync.Mutex
		names   map[string]*entry
		runs    map[*run]struct{} // the runners to run: versions current or finishing
		opened  bool              // Open has planned the runners; records applied from now on start them
		closed  bool
		running bool
		cancel  context.CancelFunc // of the running Run
		done    chan struct{}      // closed when the running Run returns
	}

	wake  chan struct{} // receives when runners were added
	nudge chan struct{} // receives when Stream may hold records to apply
}

// entry is the history of one name.
type entry struct {
	versions []*version // versions[i] is version i+1
	current  *version   // nil when the name is removed
}

// version is one deployed version, guarded by Manager.mu. Its fields
// change under Manager.writeMu too, so that holding writeMu is enough to
// read them, except run and d.Choreography, which a finished runner
// clears under mu alone.
type version struct {
	d       Deployment
	retired bool // its EventRetired record is in the log
	run     *run // its runner while it has one
}

// run is a version's runner.
type run struct {
	v       *version
	r       *live.Runner
	ch      *choreography.Choreography // what r runs
	started bool                       // Run has a goroutine running it; guarded by Manager.mu
}

// prepared is what Deploy compiled before appending its record.
type prepared struct {
	ch  *choreography.Choreography
	eng *engine.Engine
}

// Open reads Stream in st and returns the manager of the deployments it
// records, with a runner ready for each version that still has records to
// act on; Run runs them. st is not closed by the manager. Records that do
// not decode are logged and skipped.
func Open(ctx context.Context, st store.Store, cfg Config) (*Manager, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{
		st: st, cfg: cfg, log: cfg.Logger, clock: cfg.RunnerConfig.Clock,
		wake: make(chan struct{}, 1), nudge: make(chan struct{}, 1),
	}
	m.mu.names = make(map[string]*entry)
	m.mu.runs = make(map[*run]struct{})

	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if err := m.syncLocked(ctx); err != nil {
		return nil, err
	}
	m.plan()
	return m, nil
}

// plan prepares a runner for every version that still has records to act
// on: the current ones, and those replaced or removed whose retirement is
// not in the log. A version whose end is the record right after its
// deployment has nothing to act on. The caller holds writeMu.
func (m *Manager) plan() {
	var runs []*run
	for _, e := range m.mu.names {
		for _, v := range e.versions {
			if v.retired || (v.d.End != 0 && v.d.End <= v.d.Position+1) {
				continue
			}
			rn, err := m.prepare(v, nil)
			if err != nil {
				m.log.Error("choreography version cannot run", "choreography", v.d.Name, "version", v.d.Version, "error", err)
				continue
			}
			runs = append(runs, rn)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rn := range runs {
		rn.v.run = rn
		rn.v.d.Choreography, rn.v.d.Rules = rn.ch, rules(rn.ch)
		m.mu.runs[rn] = struct{}{}
	}
	m.mu.opened = true
}

// Deploy deploys source as the next version of the choreography name,
// and returns the deployment and whether it is new.
//
// The source, YAML or JSON, must load (choreography.Parse): otherwise the
// error is the choreography.Problems listing every problem, with line and
// column, or the engine's *engine.RuleError. Its name, when it has one,
// must be name (else an *Error of code CodeNameMismatch). A source
// identical to the current version's is not deployed again: Deploy
// returns the current version and false.
//
// Otherwise the deployment record is in the log before Deploy returns.
// From that record on, the previous version, if any, acts on nothing, and
// the new version acts on every record after it (when Run runs). If ctx
// ends or the log fails, Deploy returns the error; the record may still
// have reached the log, and then takes effect when the manager next reads
// Stream (see Run). Retrying the call settles it: a retry finds the
// source deployed and returns false.
func (m *Manager) Deploy(ctx context.Context, name string, source []byte) (Deployment, bool, error) {
	if m.isClosed() {
		return Deployment{}, false, ErrClosed
	}
	if !utf8.Valid(source) {
		return Deployment{}, false, choreography.Problems{{Code: choreography.CodeSyntax, Msg: "the document is not valid UTF-8"}}
	}
	ch, err := choreography.Parse(name, source)
	if err != nil {
		return Deployment{}, false, err
	}
	if ch.Name != name {
		return Deployment{}, false, &Error{Code: CodeNameMismatch, Field: "name",
			Msg: fmt.Sprintf("the document is named %q, not %q", ch.Name, name)}
	}
	eng, err := engine.New([]*choreography.Choreography{ch}, m.cfg.EngineConfig)
	if err != nil {
		return Deployment{}, false, err
	}
	hash := sum(source)
	source = slices.Clone(source)

	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	for attempt := 1; ; attempt++ {
		if err := m.syncLocked(ctx); err != nil {
			return Deployment{}, false, err
		}
		e := m.mu.names[name]
		version := 1
		if e != nil {
			if cur := e.current; cur != nil && cur.d.SHA256 == hash {
				return m.copyOf(cur), false, nil
			}
			version = len(e.versions) + 1
		}
		at := m.clock.Now().UTC()
		ev, err := record(EventDeployed, name, deployedRecord{
			Name: name, Version: version, Source: string(source), SHA256: hash, DeployedAt: at, Rules: rules(ch),
		}, at)
		if err != nil {
			return Deployment{}, false, err
		}
		pos, err := m.st.Append(ctx, Stream, m.expected(), []*event.Event{ev})
		if errors.Is(err, store.ErrWrongVersion) && attempt < maxAttempts {
			continue // another manager got in first: read its records and try again
		}
		if err != nil {
			return Deployment{}, false, fmt.Errorf("deploy: recording %s version %d: %w", name, version, err)
		}
		rec := store.Record{Event: ev, Stream: Stream, StreamPosition: pos[0].Stream, GlobalPosition: pos[0].Global}
		v := m.apply(&rec, &prepared{ch: ch, eng: eng})
		if v == nil {
			return Deployment{}, false, fmt.Errorf("deploy: recording %s version %d: %w", name, version, errMalformed)
		}
		return m.copyOf(v), true, nil
	}
}

// Remove removes the choreography name: its current version acts on
// nothing from the removal record on. It returns an *Error of code
// CodeNotFound when name has no current deployment. The removal record is
// in the log before Remove returns; if ctx ends or the log fails, see
// Deploy.
func (m *Manager) Remove(ctx context.Context, name string) error {
	if m.isClosed() {
		return ErrClosed
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	for attempt := 1; ; attempt++ {
		if err := m.syncLocked(ctx); err != nil {
			return err
		}
		e := m.mu.names[name]
		if e == nil || e.current == nil {
			return notFound(name)
		}
		version := e.current.d.Version
		ev, err := record(EventRemoved, name, removedRecord{Name: name, Version: version}, m.clock.Now().UTC())
		if err != nil {
			return err
		}
		pos, err := m.st.Append(ctx, Stream, m.expected(), []*event.Event{ev})
		if errors.Is(err, store.ErrWrongVersion) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return fmt.Errorf("deploy: recording the removal of %s: %w", name, err)
		}
		rec := store.Record{Event: ev, Stream: Stream, StreamPosition: pos[0].Stream, GlobalPosition: pos[0].Global}
		m.apply(&rec, nil)
		return nil
	}
}

// Get returns the current version of name, and false when name has none.
func (m *Manager) Get(name string) (Deployment, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.mu.names[name]
	if e == nil || e.current == nil {
		return Deployment{}, false
	}
	return e.current.d, true
}

// List returns the current version of every deployed choreography, by
// name.
func (m *Manager) List() []Deployment {
	m.mu.Lock()
	out := make([]Deployment, 0, len(m.mu.names))
	for _, e := range m.mu.names {
		if e.current != nil {
			out = append(out, e.current.d)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Deployment) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// History returns every version of name ever deployed, the oldest first,
// removed ones included; nil when there is none.
func (m *Manager) History(name string) []Deployment {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.mu.names[name]
	if e == nil {
		return nil
	}
	out := make([]Deployment, len(e.versions))
	for i, v := range e.versions {
		out[i] = v.d
	}
	return out
}

func (m *Manager) copyOf(v *version) Deployment {
	m.mu.Lock()
	defer m.mu.Unlock()
	return v.d
}

// Close stops Run and waits for it to return; later calls of Run, Deploy
// and Remove return ErrClosed. It is idempotent, does not close the
// store, and returns nil.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.mu.closed = true
	cancel, done := m.mu.cancel, m.mu.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.closed
}

// expected is the version of Stream the applied records make; the caller
// holds writeMu.
func (m *Manager) expected() store.ExpectedVersion {
	n := m.applied.Load()
	if n == 0 {
		return store.NoStream
	}
	return store.Exact(n - 1)
}

// syncLocked applies the records of Stream the manager has not applied.
// The caller holds writeMu.
func (m *Manager) syncLocked(ctx context.Context) error {
	for {
		recs, err := m.st.ReadStream(ctx, Stream, m.applied.Load(), readPage)
		if err != nil {
			return fmt.Errorf("deploy: reading %s: %w", Stream, err)
		}
		if len(recs) == 0 {
			return nil
		}
		for i := range recs {
			m.apply(&recs[i], nil)
		}
	}
}

// apply applies one record of Stream, the next one, and returns the
// version it deployed, if it is a deployment. pre holds what Deploy
// compiled for its own record. The caller holds writeMu.
func (m *Manager) apply(rec *store.Record, pre *prepared) *version {
	defer m.applied.Store(rec.StreamPosition + 1)
	switch rec.Event.Type {
	case EventDeployed:
		return m.applyDeployed(rec, pre)
	case EventRemoved:
		r, err := decodeName(rec)
		if err != nil {
			m.skip(rec, err)
			return nil
		}
		e := m.mu.names[r.Name]
		if e == nil || e.current == nil || e.current.d.Version != r.Version {
			m.skip(rec, fmt.Errorf("%w: version %d of %s is not current", errMalformed, r.Version, r.Name))
			return nil
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.endLocked(e.current, rec.GlobalPosition, true)
		e.current = nil
	case EventRetired:
		r, err := decodeName(rec)
		if err != nil {
			m.skip(rec, err)
			return nil
		}
		if e := m.mu.names[r.Name]; e != nil && r.Version <= len(e.versions) {
			m.mu.Lock()
			e.versions[r.Version-1].retired = true
			m.mu.Unlock()
		}
	default:
		// Types this version does not know are left for the versions that do.
	}
	return nil
}

func (m *Manager) applyDeployed(rec *store.Record, pre *prepared) *version {
	d, err := decodeDeployed(rec)
	if err != nil {
		m.skip(rec, err)
		return nil
	}
	e := m.mu.names[d.Name]
	want := 1
	if e != nil {
		want = len(e.versions) + 1
	}
	if d.Version != want {
		m.skip(rec, fmt.Errorf("%w: version %d of %s out of order", errMalformed, d.Version, d.Name))
		return nil
	}
	v := &version{d: Deployment{
		Name: d.Name, Version: d.Version, SHA256: d.SHA256, Source: []byte(d.Source),
		DeployedAt: d.DeployedAt, Position: rec.GlobalPosition, Rules: d.Rules,
	}}
	m.mu.Lock()
	opened := m.mu.opened
	m.mu.Unlock()
	var rn *run
	if opened {
		// Replayed versions wait for plan, which knows which of them
		// retired; a new one runs at once.
		if rn, err = m.prepare(v, pre); err != nil {
			m.log.Error("choreography version cannot run", "choreography", d.Name, "version", d.Version, "error", err)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if e == nil {
		e = &entry{}
		m.mu.names[d.Name] = e
	}
	if e.current != nil {
		m.endLocked(e.current, rec.GlobalPosition, false)
	}
	e.versions = append(e.versions, v)
	e.current = v
	if rn != nil {
		v.run = rn
		v.d.Choreography, v.d.Rules = rn.ch, rules(rn.ch)
		m.mu.runs[rn] = struct{}{}
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	return v
}

// endLocked ends v at the record at pos. The caller holds writeMu and mu.
func (m *Manager) endLocked(v *version, pos uint64, removed bool) {
	v.d.End, v.d.Removed = pos, removed
	if rn := v.run; rn != nil && !rn.started && pos <= v.d.Position+1 {
		// Ended by the very next record: nothing to act on, no need to run.
		delete(m.mu.runs, rn)
		v.run = nil
	}
	if v.run != nil {
		v.run.r.StopAt(pos)
	} else {
		// Not running, or its runner already stopped at the record.
		v.d.Choreography = nil
	}
}

func (m *Manager) skip(rec *store.Record, err error) {
	m.log.Warn("skipping choreography record",
		"stream_position", rec.StreamPosition, "event_id", rec.Event.ID, "type", rec.Event.Type, "error", err)
}

// prepare compiles v's source, unless pre holds it compiled, and returns
// a runner for v that emits from the record after v's deployment and
// stops at v.d.End, if set.
func (m *Manager) prepare(v *version, pre *prepared) (*run, error) {
	if pre == nil {
		ch, err := choreography.Parse(v.d.Name, v.d.Source)
		if err != nil {
			return nil, err
		}
		if ch.Name != v.d.Name {
			return nil, fmt.Errorf("deploy: the source of %s version %d is named %q", v.d.Name, v.d.Version, ch.Name)
		}
		eng, err := engine.New([]*choreography.Choreography{ch}, m.cfg.EngineConfig)
		if err != nil {
			return nil, err
		}
		pre = &prepared{ch: ch, eng: eng}
	}
	rc := m.cfg.RunnerConfig
	rc.EmitFrom = v.d.Position + 1
	if rc.Logger == nil {
		rc.Logger = m.log.With("choreography", v.d.Name, "version", v.d.Version)
	}
	ws := &watchStore{Store: m.st, m: m, name: v.d.Name, after: v.d.Position}
	r, err := live.New(ws, pre.eng, rc)
	if err != nil {
		return nil, err
	}
	ws.runner = r
	if v.d.End != 0 {
		r.StopAt(v.d.End)
	}
	return &run{v: v, r: r, ch: pre.ch}, nil
}

// rules counts the rules of ch.
func rules(ch *choreography.Choreography) int {
	return len(ch.Patterns) + len(ch.Sequences) + len(ch.Complex)
}
