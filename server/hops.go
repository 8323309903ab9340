package server

import (
	"context"
	"errors"

	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// deriveHops gives each event whose causationid names an action of the
// outbox at least that action's hops plus one, as the dispatcher does for
// the events an agent answers with. An agent that publishes its results
// through the API, rather than in its answer, would otherwise start its
// events at whatever hops it sent (0 when it sent none), and a loop
// through it would never reach the bound that stops loops. A causation
// that names no action, or one the log does not hold, changes nothing.
func (s *Server) deriveHops(ctx context.Context, events []*event.Event) error {
	var last string // a batch often names one action throughout
	var hops int
	for _, e := range events {
		if e.CausationID == "" {
			continue
		}
		if e.CausationID != last {
			rec, err := s.cfg.Store.Get(ctx, e.CausationID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				hops = -1
			case err != nil:
				return err
			case rec.Stream != live.ActionsStream || rec.Event.Type != live.ActionEventType:
				hops = -1
			default:
				hops = rec.Event.Hops + 1
			}
			last = e.CausationID
		}
		e.Hops = max(e.Hops, hops)
	}
	return nil
}
