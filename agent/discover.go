package agent

import (
	"slices"
	"strings"
	"sync"
)

// Discover returns the agents offered for work that needs every capability
// in caps, best first: see AppendDiscover. It returns nil when there is
// none.
func (r *Registry) Discover(caps []string) []Profile {
	return r.AppendDiscover(nil, caps)
}

// AppendDiscover appends to dst the agents that have every capability in
// caps (any agent when caps is empty), are StatusActive, are live (see
// Live) and carry a load of at most Config.MaxLoad, and returns the
// extended slice. They come least loaded first. Among agents of equal load
// the one least recently put first by a call of AppendDiscover, Discover
// or Pick comes first, then the lower id: repeated discovery rotates the
// first place round-robin among equals, so work spreads over them.
//
// It allocates nothing beyond growing dst. The profiles share their
// Capabilities and Metadata with the registry, which never changes them:
// treat them as read-only (Get returns a copy to change).
func (r *Registry) AppendDiscover(dst []Profile, caps []string) []Profile {
	since := r.liveSince(r.cfg.Now())
	sc := scratchPool.Get().(*scratch)
	c := sc.c[:0]

	r.mu.RLock()
	list, rest, all := r.walkLocked(caps)
	for _, s := range list {
		if r.eligible(s, rest, since) {
			c = append(c, candidate{s.loadBits, s.offered.Load(), s})
		}
	}
	if all {
		for _, s := range r.mu.agents {
			if r.eligible(s, nil, since) {
				c = append(c, candidate{s.loadBits, s.offered.Load(), s})
			}
		}
	}
	var first *slot
	if len(c) > 0 {
		slices.SortFunc(c, compareCandidates)
		dst = slices.Grow(dst, len(c))
		for i := range c {
			dst = append(dst, c[i].s.p)
		}
		first = c[0].s
	}
	r.mu.RUnlock()

	if first != nil {
		first.offered.Store(r.offers.Add(1))
	}
	clear(c)
	if cap(c) <= maxScratch {
		sc.c = c[:0]
		scratchPool.Put(sc)
	}
	return dst
}

// Pick returns the agent Discover would put first, and whether there is
// one, without sorting the others: the cheap choice for a dispatcher that
// needs one agent per action. Like Discover, it rotates the first place
// among agents of equal load. The profile shares its Capabilities and
// Metadata with the registry: treat it as read-only.
func (r *Registry) Pick(caps []string) (Profile, bool) {
	since := r.liveSince(r.cfg.Now())
	var best candidate
	consider := func(s *slot) {
		c := candidate{s.loadBits, s.offered.Load(), s}
		if best.s == nil || compareCandidates(c, best) < 0 {
			best = c
		}
	}

	r.mu.RLock()
	list, rest, all := r.walkLocked(caps)
	for _, s := range list {
		if r.eligible(s, rest, since) {
			consider(s)
		}
	}
	if all {
		for _, s := range r.mu.agents {
			if r.eligible(s, nil, since) {
				consider(s)
			}
		}
	}
	var p Profile
	if best.s != nil {
		p = best.s.p
	}
	r.mu.RUnlock()

	if best.s == nil {
		return Profile{}, false
	}
	best.s.offered.Store(r.offers.Add(1))
	return p, true
}

// candidate is an eligible agent with its sort keys read once, so a sort
// sees consistent keys while other calls move offered.
type candidate struct {
	loadBits uint64
	offered  uint64
	s        *slot
}

func compareCandidates(a, b candidate) int {
	switch {
	case a.loadBits < b.loadBits:
		return -1
	case a.loadBits > b.loadBits:
		return 1
	case a.offered < b.offered:
		return -1
	case a.offered > b.offered:
		return 1
	}
	return strings.Compare(a.s.p.ID, b.s.p.ID)
}

// walkLocked returns the agents to check for caps: the shortest list of
// the capability index among caps, and the capabilities the agents of that
// list must still be checked for. all is true when caps is empty and every
// agent must be checked. A capability no agent has gives nothing.
func (r *Registry) walkLocked(caps []string) (list []*slot, rest []string, all bool) {
	if len(caps) == 0 {
		return nil, nil, true
	}
	for i, c := range caps {
		l, ok := r.mu.byCap[c] // lists in the index are never empty
		if !ok {
			return nil, nil, false
		}
		if i == 0 || len(l) < len(list) {
			list = l
		}
	}
	if len(caps) == 1 {
		return list, nil, false
	}
	return list, caps, false
}

// eligible reports whether s may be offered work needing caps, with
// heartbeats from since on live.
func (r *Registry) eligible(s *slot, caps []string, since int64) bool {
	return s.active && s.hb >= since && s.load <= r.cfg.MaxLoad && s.p.HasAll(caps)
}

// scratch is a reusable candidate buffer, so discovery allocates nothing
// of its own.
type scratch struct{ c []candidate }

// maxScratch is the largest buffer returned to the pool.
const maxScratch = 4096

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}
