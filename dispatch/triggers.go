package dispatch

import (
	"context"
	"strings"
	"sync"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Bounds of the trigger cache: one event often triggers several actions,
// delivered close together, and an action comes soon after its trigger.
const (
	triggerCacheSize  = 4096     // events
	triggerCacheBytes = 16 << 20 // their encoded size
	// maxCachedTrigger is the largest event the outbox's feed caches;
	// larger triggers are read from the log when an action needs them.
	maxCachedTrigger = 64 << 10
)

// trigger is an event that caused an action; its JSON form is made the
// first time a delivery needs it.
type trigger struct {
	ev   *event.Event
	size int // of the buffer its binary form is in, counted against triggerCacheBytes
	once sync.Once
	js   []byte
}

func (t *trigger) json() []byte {
	t.once.Do(func() { t.js = t.ev.AppendJSON(nil) })
	return t.js
}

// triggers caches recent events by id, evicting the oldest. The outbox
// feeds it the events it passes on its way to the actions (put), so the
// trigger of an action just decided is usually at hand; get reads the log
// for one that is not.
type triggers struct {
	mu    sync.Mutex
	byID  map[string]*trigger
	ring  [triggerCacheSize]string
	next  int // ring slot of the next event
	first int // ring slot of the oldest event
	n     int // events cached
	bytes int // their size
}

// put remembers a copy of rec's event, unless the event is large or lies
// in a system stream (names starting with "$": actions, registrations,
// dead letters), whose events trigger no rule. The copy holds its own
// bytes: the record's share a buffer with other records of the read.
func (c *triggers) put(rec *store.Record) {
	e := rec.Event
	if strings.HasPrefix(rec.Stream, "$") || len(e.Data)+len(e.DataBase64) > maxCachedTrigger {
		return
	}
	t := compact(e)
	if t == nil {
		return // the log's own record: cannot happen
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(t.ev.ID, t)
}

// compact returns a trigger holding a copy of e in one buffer of its own,
// counted at that buffer's size, or nil if the copy does not decode. What
// the cache keeps is then what it counts, whatever e shares memory with:
// a decoded event's strings and data are pieces of its whole record, and
// an event with data_base64, large extensions or large string fields has
// little or no Data.
func compact(e *event.Event) *trigger {
	b := e.AppendBinary(nil)
	var cp event.Event
	if event.DecodeBinaryShared(b, &cp) != nil {
		return nil
	}
	return &trigger{ev: &cp, size: cap(b)}
}

// add caches t under id unless id is cached already, evicting the oldest
// events while the cache is over its bounds. c.mu is held.
func (c *triggers) add(id string, t *trigger) *trigger {
	if c.byID == nil {
		c.byID = make(map[string]*trigger, triggerCacheSize)
	}
	if old, ok := c.byID[id]; ok {
		return old
	}
	for c.n > 0 && (c.n == triggerCacheSize || c.bytes+t.size > triggerCacheBytes) {
		old := c.ring[c.first]
		c.bytes -= c.byID[old].size
		delete(c.byID, old)
		c.ring[c.first] = ""
		c.first = (c.first + 1) % triggerCacheSize
		c.n--
	}
	c.ring[c.next] = id
	c.next = (c.next + 1) % triggerCacheSize
	c.byID[id] = t
	c.n++
	c.bytes += t.size
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
	t = compact(rec.Event)
	if t == nil || t.ev.ID != id {
		// Cannot happen (the log's own record, under the id asked
		// for): pass the event on, uncached.
		return &trigger{ev: rec.Event}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.add(t.ev.ID, t), nil // keyed by the copy's id, not the caller's
}
