package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// CardResolver fetches the A2A agent card published under baseURL (at
// /.well-known/agent-card.json) and turns it into a Profile: its skills
// become capabilities. The transport package that speaks A2A provides one.
// It must honour ctx.
type CardResolver func(ctx context.Context, baseURL string) (Profile, error)

// maxCardFetches bounds the card fetches Run makes at the same time.
const maxCardFetches = 8

// RegisterCard registers the A2A agent whose card is published under
// cardURL, as Register does: it resolves the card with Config.Resolver,
// sets Protocol to ProtocolA2A and CardURL to cardURL, and takes cardURL as
// the Endpoint when the resolver gives none. Run fetches the card again
// every Config.CardInterval.
//
// Without a resolver it returns an *Error matching ErrNoResolver; a bad
// cardURL is an *Error matching ErrInvalid; a card that cannot be fetched
// is an error matching ErrCard.
func (r *Registry) RegisterCard(ctx context.Context, cardURL string) (Profile, error) {
	if r.cfg.Resolver == nil {
		return Profile{}, &Error{Code: CodeNoResolver, Field: "card_url", Msg: "no card resolver is configured"}
	}
	if cardURL == "" {
		return Profile{}, missing("card_url")
	}
	if err := checkURL("card_url", cardURL); err != nil {
		return Profile{}, err
	}
	p, err := r.cfg.Resolver(ctx, cardURL)
	if err != nil {
		return Profile{}, fmt.Errorf("%w at %s: %w", ErrCard, clip(cardURL), err)
	}
	p.Protocol = ProtocolA2A
	p.CardURL = cardURL
	if p.Endpoint == "" {
		p.Endpoint = cardURL
	}
	return r.Register(ctx, p)
}

// Run keeps the cards of the agents registered with RegisterCard fresh
// until ctx ends, then returns ctx.Err(). When it starts, and then every
// Config.CardInterval, it fetches each card again, a few at a time, each
// fetch bounded by Config.CardTimeout. A fetched card counts as a
// heartbeat; when its skills, name, description, endpoint or metadata
// changed, the new registration is logged as by Register (load and status
// are kept). A card that cannot be fetched is
// logged and otherwise ignored: the agent's heartbeat ages and the agent
// goes stale, until a later fetch or heartbeat succeeds.
//
// Only one Run may be active per Registry: a second returns ErrRunning.
// Without a Config.Resolver, Run just waits for ctx.
func (r *Registry) Run(ctx context.Context) error {
	if !r.run.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.run.Store(false)
	if r.cfg.Resolver == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	// The cards are fetched at once: the heartbeats of restored agents
	// are as old as their registrations, so until a fetch succeeds an
	// A2A agent is not live, and the actions recovered at start would
	// wait for it, or be dead-lettered for want of an agent.
	r.refreshCards(ctx)
	t := time.NewTicker(r.cfg.CardInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			r.refreshCards(ctx)
		}
	}
}

type cardAgent struct{ id, url string }

// refreshCards fetches every card once and returns when all fetches are
// done.
func (r *Registry) refreshCards(ctx context.Context) {
	r.mu.RLock()
	var todo []cardAgent
	for id, s := range r.mu.agents {
		if s.p.CardURL != "" {
			todo = append(todo, cardAgent{id, s.p.CardURL})
		}
	}
	r.mu.RUnlock()

	sem := make(chan struct{}, maxCardFetches)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, a := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r.refreshCard(ctx, a)
		})
	}
}

func (r *Registry) refreshCard(ctx context.Context, a cardAgent) {
	fctx, cancel := context.WithTimeout(ctx, r.cfg.CardTimeout)
	p, err := r.cfg.Resolver(fctx, a.url)
	cancel()
	if err == nil {
		err = checkCard(&p)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("agent card fetch failed", "agent_id", a.id, "card_url", a.url, "error", err)
		}
		return
	}
	caps := dedupe(slices.Clone(p.Capabilities))

	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.RLock()
	s := r.mu.agents[a.id]
	var cur Profile
	if s != nil {
		cur = s.p
	}
	r.mu.RUnlock()
	if s == nil || cur.CardURL != a.url {
		return // unregistered or registered anew meanwhile
	}
	now := r.cfg.Now()
	if p.Endpoint == "" {
		p.Endpoint = cur.Endpoint
	}
	if slices.Equal(cur.Capabilities, caps) && cur.Name == p.Name && cur.Description == p.Description &&
		cur.Endpoint == p.Endpoint && maps.EqualFunc(cur.Metadata, p.Metadata, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) }) {
		r.mu.Lock()
		s.p.LastHeartbeat = now
		s.sync()
		r.notifyLocked(s.p.Capabilities)
		r.mu.Unlock()
		return
	}

	np := cur.clone()
	np.Capabilities, np.Name, np.Description, np.Endpoint, np.LastHeartbeat = caps, p.Name, p.Description, p.Endpoint, now
	// The metadata of an agent registered by card is its card's.
	np.Metadata = nil
	if len(p.Metadata) > 0 {
		np.Metadata = make(map[string]json.RawMessage, len(p.Metadata))
		for k, v := range p.Metadata {
			np.Metadata[k] = slices.Clone(v)
		}
	}
	if err := np.Validate(); err != nil {
		// Recorded, it would be skipped when the registry is restored.
		r.log.Warn("agent card change refused", "agent_id", a.id, "card_url", a.url, "error", err)
		return
	}
	if err := r.appendRegistered(ctx, &np); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("agent card change not recorded", "agent_id", a.id, "error", err)
		}
		return
	}
	r.mu.Lock()
	np.Load, np.Status = s.p.Load, s.p.Status // heartbeats may have come meanwhile
	r.applyLocked(np)
	r.mu.Unlock()
	r.log.Info("agent card changed", "agent_id", a.id, "capabilities", len(caps))
}

// checkCard checks the parts of a fetched card that a refresh takes.
func checkCard(p *Profile) error {
	if err := checkCapabilities(p.Capabilities); err != nil {
		return err
	}
	if p.Endpoint != "" {
		if err := checkEndpoint(p.Endpoint, p.Transport()); err != nil {
			return err
		}
	}
	if err := checkMetadata(p.Metadata); err != nil {
		return err
	}
	if err := checkText("name", p.Name, MaxNameLen); err != nil {
		return err
	}
	return checkText("description", p.Description, MaxDescriptionLen)
}
