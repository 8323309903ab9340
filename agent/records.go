package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// StreamAgents is the system stream that holds the registry's records.
const StreamAgents = "$agents"

// The records of StreamAgents.
const (
	// EventRegistered records a registration or its replacement; its data
	// is the Profile as JSON and its subject the agent id.
	EventRegistered = "choreo.agent.registered"
	// EventUnregistered records a removal; its data is {"id": "<agent id>"}
	// and its subject the agent id.
	EventUnregistered = "choreo.agent.unregistered"
	// EventSource is the source of the registry's records.
	EventSource = "choreo/registry"
)

// readPage is how many records restore reads at a time.
const readPage = 512

type unregistered struct {
	ID string `json:"id"`
}

func (r *Registry) appendRegistered(ctx context.Context, p *Profile) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("agent: encoding profile %s: %w", p.ID, err)
	}
	if err := r.append(ctx, EventRegistered, p.ID, data, p.LastHeartbeat); err != nil {
		return fmt.Errorf("agent: recording registration of %s: %w", p.ID, err)
	}
	return nil
}

func (r *Registry) appendUnregistered(ctx context.Context, id string) error {
	data, err := json.Marshal(unregistered{ID: id})
	if err != nil {
		return fmt.Errorf("agent: encoding removal of %s: %w", id, err)
	}
	if err := r.append(ctx, EventUnregistered, id, data, r.cfg.Now()); err != nil {
		return fmt.Errorf("agent: recording removal of %s: %w", id, err)
	}
	return nil
}

// append writes one record about agent id, of event time at.
func (r *Registry) append(ctx context.Context, typ, id string, data []byte, at time.Time) error {
	ev := &event.Event{
		SpecVersion:     event.SpecVersion,
		Source:          EventSource,
		Type:            typ,
		Time:            at,
		DataContentType: "application/json",
		Subject:         id,
		Data:            data,
	}
	_, err := r.st.Append(ctx, StreamAgents, store.Any, []*event.Event{ev})
	return err
}

// restore replays StreamAgents into the empty registry.
func (r *Registry) restore(ctx context.Context) error {
	var from uint64
	for {
		recs, err := r.st.ReadStream(ctx, StreamAgents, from, readPage)
		if err != nil {
			return fmt.Errorf("agent: reading %s: %w", StreamAgents, err)
		}
		if len(recs) == 0 {
			return nil
		}
		r.mu.Lock()
		for i := range recs {
			r.replayLocked(&recs[i])
		}
		r.mu.Unlock()
		from = recs[len(recs)-1].StreamPosition + 1
	}
}

// replayLocked applies one record of StreamAgents. A registration's
// LastHeartbeat is the time of its record: heartbeats are not logged.
func (r *Registry) replayLocked(rec *store.Record) {
	ev := rec.Event
	switch ev.Type {
	case EventRegistered:
		var p Profile
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			r.skip(rec, err)
			return
		}
		if err := p.Validate(); err != nil {
			r.skip(rec, err)
			return
		}
		p = normalize(&p)
		p.LastHeartbeat = ev.Time
		if p.LastHeartbeat.IsZero() {
			p.LastHeartbeat = rec.Recorded
		}
		r.applyLocked(p)
	case EventUnregistered:
		var u unregistered
		if err := json.Unmarshal(ev.Data, &u); err != nil || u.ID == "" {
			if err == nil {
				err = missing("id")
			}
			r.skip(rec, err)
			return
		}
		r.removeLocked(u.ID)
	default:
		// Types this version does not know are left for the versions that do.
	}
}

func (r *Registry) skip(rec *store.Record, err error) {
	r.log.Warn("skipping agent registry record",
		"stream_position", rec.StreamPosition, "event_id", rec.Event.ID, "type", rec.Event.Type, "error", err)
}
