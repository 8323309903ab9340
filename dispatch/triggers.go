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

// trigger is an event that caused an action; its JSON form is made the
// first time a delivery needs it.
type trigger struct {
	ev   *event.Event
	once sync.Once
	js   []byte
}

func (t *trigger) json() []byte {
	t.once.Do(func() { t.js = t.ev.AppendJSON(nil) })
	return t.js
}

// triggers caches recent events by id, evicting the oldest. The outbox
// feeds it every event it passes on its way to the actions (put), so the
// trigger of an action just decided is usually at hand; get reads the log
// for one that is not.
type triggers struct {
	mu   sync.Mutex
	byID map[string]*trigger
	ring [triggerCacheSize]string
	next int
}

// put remembers e, an event of the log.
func (c *triggers) put(e *event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(e.ID, &trigger{ev: e})
}

// add caches t under id unless id is cached already. c.mu is held.
func (c *triggers) add(id string, t *trigger) *trigger {
	if c.byID == nil {
		c.byID = make(map[string]*trigger, triggerCacheSize)
	}
	if old, ok := c.byID[id]; ok {
		return old
	}
	if old := c.ring[c.next]; old != "" {
		delete(c.byID, old)
	}
	c.ring[c.next] = id
	c.next = (c.next + 1) % triggerCacheSize
	c.byID[id] = t
	return t
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
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.add(id, &trigger{ev: rec.Event}), nil
}
