package dispatch

import (
	"context"
	"sync"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// triggerCacheSize is how many trigger events the dispatcher keeps: one
// event often triggers several actions, delivered close together.
const triggerCacheSize = 4096

// trigger is an event that caused an action, with its JSON form.
type trigger struct {
	ev   *event.Event
	json []byte
}

// triggers caches recent trigger events by id, evicting the oldest.
type triggers struct {
	mu   sync.Mutex
	byID map[string]*trigger
	ring [triggerCacheSize]string
	next int
}

// get returns the event with id from the cache or the log; nil if the log
// has no such event. The error is the store's, other than ErrNotFound.
func (c *triggers) get(ctx context.Context, st store.Store, id string) (*trigger, error) {
	c.mu.Lock()
	t, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	rec, err := st.Get(ctx, id)
	if err == store.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t = &trigger{ev: rec.Event, json: rec.Event.AppendJSON(nil)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = make(map[string]*trigger, triggerCacheSize)
	}
	if _, ok := c.byID[id]; !ok {
		if old := c.ring[c.next]; old != "" {
			delete(c.byID, old)
		}
		c.ring[c.next] = id
		c.next = (c.next + 1) % triggerCacheSize
		c.byID[id] = t
	}
	return t, nil
}
