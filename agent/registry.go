package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/store"
)

// Heartbeat is what an agent reports to stay live. A nil Load and an empty
// Status keep the current values.
type Heartbeat struct {
	Load   *float64 // within [0, 1]
	Status Status
}

// Registry holds the agents that may be offered actions. See the package
// documentation for how it is kept in the log and how Discover chooses.
//
// All methods are safe for concurrent use.
type Registry struct {
	st     store.Store
	cfg    Config
	log    *slog.Logger
	offers atomic.Uint64 // numbers the offers Discover and Pick make; see slot.offered
	run    atomic.Bool   // Run is running

	// writeMu serialises the calls that append to the log, each from its
	// append until the change is applied, so the registry changes in the
	// order of its records and a restart rebuilds the same state. Order:
	// writeMu before mu.
	writeMu sync.Mutex

	mu struct {
		sync.RWMutex
		agents  map[string]*slot
		byCap   map[string][]*slot // capability → the agents that have it, in no order
		changed chan struct{}      // closed at the next change
		// capChanged holds, for the capabilities someone waits on, a
		// channel closed at the next change to an agent that has it.
		capChanged map[string]chan struct{}
	}
}

// slot is one registered agent.
type slot struct {
	// offered is the number of the latest offer that put this agent first
	// (0 for never): among agents of equal load, the one offered least
	// recently comes first.
	offered atomic.Uint64

	// The fields discovery reads, derived from p by sync; guarded by
	// Registry.mu like p.
	active   bool    // p.Status == StatusActive
	load     float64 // p.Load, with -0 made 0
	loadBits uint64  // math.Float64bits(load): orders as load does, for load >= 0
	hb       int64   // p.LastHeartbeat in Unix nanoseconds

	// p is guarded by Registry.mu; call sync after changing it. Its
	// scalar fields change in place; its Capabilities and Metadata are
	// never changed once stored, only replaced, so copies of p handed out
	// stay valid.
	p Profile
}

// sync derives the discovery fields from s.p.
func (s *slot) sync() {
	s.active = s.p.Status == StatusActive
	s.load = s.p.Load
	if s.load == 0 {
		s.load = 0 // not -0, whose bits would sort last
	}
	s.loadBits = math.Float64bits(s.load)
	s.hb = unixNano(s.p.LastHeartbeat)
}

// unixNano is t.UnixNano, with the zero time as the earliest instant.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// Open restores the registry from the records of StreamAgents in st and
// returns it. st is not closed by the registry. Records that do not decode
// as a valid registration are skipped with a warning.
func Open(ctx context.Context, st store.Store, cfg Config) (*Registry, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Registry{st: st, cfg: cfg, log: cfg.Logger}
	r.mu.agents = make(map[string]*slot)
	r.mu.byCap = make(map[string][]*slot)
	r.mu.changed = make(chan struct{})
	r.mu.capChanged = make(map[string]chan struct{})
	if err := r.restore(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Register adds p to the registry, or replaces the registration of the
// agent with p's id. It checks p (see Profile.Validate) and refuses a new
// agent beyond Config.MaxAgents (ErrTooMany), takes an empty
// Status as StatusActive, drops repeated capabilities, and sets
// LastHeartbeat to now; the registration is in the log before Register
// returns and before Get, List or Discover can see it. The result is the
// profile as registered.
//
// If ctx ends or the log fails, Register returns the error and the
// registry is unchanged; the record may still have reached the log, and
// then takes effect at the next Open. Retrying the call settles it.
func (r *Registry) Register(ctx context.Context, p Profile) (Profile, error) {
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	p = normalize(&p)

	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.RLock()
	_, exists := r.mu.agents[p.ID]
	n := len(r.mu.agents)
	r.mu.RUnlock()
	if !exists && n >= r.cfg.MaxAgents {
		return Profile{}, &Error{Code: CodeTooMany, Field: "id", Msg: fmt.Sprintf("%d agents are registered, the most allowed", n)}
	}
	p.LastHeartbeat = r.cfg.Now()
	if err := r.appendRegistered(ctx, &p); err != nil {
		return Profile{}, err
	}
	r.mu.Lock()
	r.applyLocked(p)
	r.mu.Unlock()
	r.log.Debug("agent registered", "agent_id", p.ID, "protocol", p.Transport(), "capabilities", len(p.Capabilities))
	return p.clone(), nil
}

// Unregister removes the agent with id, once the removal is in the log.
// An unknown id is an *Error matching ErrNotFound.
func (r *Registry) Unregister(ctx context.Context, id string) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.RLock()
	_, ok := r.mu.agents[id]
	r.mu.RUnlock()
	if !ok {
		return notFound(id)
	}
	if err := r.appendUnregistered(ctx, id); err != nil {
		return err
	}
	r.mu.Lock()
	r.removeLocked(id)
	r.mu.Unlock()
	r.log.Debug("agent unregistered", "agent_id", id)
	return nil
}

// Heartbeat records that the agent with id is alive: its LastHeartbeat
// becomes now, and hb's Load and Status, when given, replace the current
// ones. Heartbeats are not written to the log (see the package
// documentation). An unknown id is an *Error matching ErrNotFound: the
// agent should register again. The result is the updated profile.
func (r *Registry) Heartbeat(ctx context.Context, id string, hb Heartbeat) (Profile, error) {
	if err := ctx.Err(); err != nil {
		return Profile{}, err
	}
	if hb.Load != nil {
		if err := checkLoad(*hb.Load); err != nil {
			return Profile{}, err
		}
	}
	if hb.Status != "" && !hb.Status.Valid() {
		return Profile{}, invalid("status", "unknown status %q", clip(string(hb.Status)))
	}
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.mu.agents[id]
	if s == nil {
		return Profile{}, notFound(id)
	}
	if hb.Load != nil {
		s.p.Load = *hb.Load
	}
	if hb.Status != "" {
		s.p.Status = hb.Status
	}
	s.p.LastHeartbeat = now
	s.sync()
	r.notifyLocked(s.p.Capabilities)
	return s.p.clone(), nil
}

// Get returns the profile of the agent with id, and whether there is one.
// The profile is a copy: it shares nothing with the registry.
func (r *Registry) Get(id string) (Profile, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.mu.agents[id]
	if s == nil {
		return Profile{}, false
	}
	return s.p.clone(), true
}

// List returns every registered agent, live or not, sorted by id. The
// profiles are copies: they share nothing with the registry.
func (r *Registry) List() []Profile {
	r.mu.RLock()
	out := make([]Profile, 0, len(r.mu.agents))
	for _, s := range r.mu.agents {
		out = append(out, s.p.clone())
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Profile) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Len returns the number of registered agents.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.mu.agents)
}

// Live reports whether p's last heartbeat lies within Config.LiveWindow of
// the registry's clock (comparing wall-clock times).
func (r *Registry) Live(p Profile) bool {
	return unixNano(p.LastHeartbeat) >= r.liveSince(r.cfg.Now())
}

// liveSince returns the earliest heartbeat, in Unix nanoseconds, that is
// live at now.
func (r *Registry) liveSince(now time.Time) int64 {
	return now.UnixNano() - int64(r.cfg.LiveWindow)
}

// Changed returns a channel that is closed at the next change of the
// registry: a registration, an unregistration or a heartbeat (including a
// card refreshed by Run). Call it again after each wake-up for the change
// after that. An agent going stale is not a change.
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.mu.changed
}

// ChangedFor is Changed for the changes to agents that have capability:
// its registration (or a new one that adds or drops it), its
// unregistration, its heartbeats. A dispatcher waiting for an agent with
// a capability wakes for those alone, not for every heartbeat of every
// agent.
func (r *Registry) ChangedFor(capability string) <-chan struct{} {
	r.mu.RLock()
	ch := r.mu.capChanged[capability]
	r.mu.RUnlock()
	if ch != nil {
		return ch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch = r.mu.capChanged[capability]; ch == nil {
		ch = make(chan struct{})
		r.mu.capChanged[capability] = ch
	}
	return ch
}

// normalize returns a copy of a valid p that shares nothing with it, with
// its status defaulted and its capabilities without repeats.
func normalize(p *Profile) Profile {
	n := p.clone()
	if n.Status == "" {
		n.Status = StatusActive
	}
	n.Capabilities = dedupe(n.Capabilities)
	return n
}

// dedupe drops repeated strings from s in place, keeping first
// occurrences in order.
func dedupe(s []string) []string {
	out := s[:0]
	for i, c := range s {
		if !slices.Contains(s[:i], c) {
			out = append(out, c)
		}
	}
	return out
}

// applyLocked stores p, replacing any agent with its id, and indexes its
// capabilities. p must not share its slices or maps with anyone.
func (r *Registry) applyLocked(p Profile) {
	s := r.mu.agents[p.ID]
	old := []string(nil)
	if s == nil {
		s = &slot{}
		r.mu.agents[p.ID] = s
	} else if old = s.p.Capabilities; !slices.Equal(old, p.Capabilities) {
		r.unindexLocked(s)
		s.p.Capabilities = nil
	}
	if s.p.Capabilities == nil {
		for _, c := range p.Capabilities {
			r.mu.byCap[c] = append(r.mu.byCap[c], s)
		}
	}
	s.p = p
	s.sync()
	r.notifyLocked(old, p.Capabilities)
}

func (r *Registry) removeLocked(id string) {
	s := r.mu.agents[id]
	if s == nil {
		return
	}
	r.unindexLocked(s)
	delete(r.mu.agents, id)
	r.notifyLocked(s.p.Capabilities)
}

func (r *Registry) unindexLocked(s *slot) {
	for _, c := range s.p.Capabilities {
		list := r.mu.byCap[c]
		if i := slices.Index(list, s); i >= 0 {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			list = list[:last]
		}
		if len(list) == 0 {
			delete(r.mu.byCap, c)
		} else {
			r.mu.byCap[c] = list
		}
	}
}

// notifyLocked wakes those waiting for any change, and those waiting for
// a change to agents with one of the capabilities in caps.
func (r *Registry) notifyLocked(caps ...[]string) {
	close(r.mu.changed)
	r.mu.changed = make(chan struct{})
	for _, cs := range caps {
		for _, c := range cs {
			if ch, ok := r.mu.capChanged[c]; ok {
				close(ch)
				delete(r.mu.capChanged, c)
			}
		}
	}
}
