package webhook

import (
	"container/list"
	"strings"
	"sync"
)

// dedup remembers the responses given for recent idempotency keys. Keys
// being handled are in the map only; kept keys are also in the LRU list,
// whose length is at most max.
type dedup struct {
	max int
	mu  struct {
		sync.Mutex
		entries map[string]*dedupEntry
		lru     list.List // of *dedupEntry, most recently used first
	}
}

// dedupEntry is one key: in flight until done is closed, then kept (with
// its response) or forgotten.
type dedupEntry struct {
	key  string
	done chan struct{}
	// Set before done is closed, read-only after.
	kept bool
	resp response
	elem *list.Element // in the LRU list when kept; guarded by dedup.mu
}

func newDedup(max int) *dedup {
	d := &dedup{max: max}
	d.mu.entries = make(map[string]*dedupEntry)
	return d
}

// begin returns the entry for key. owner is true when the caller created
// it and must call finish; otherwise the caller waits on the entry's done.
func (d *dedup) begin(key string) (e *dedupEntry, owner bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.mu.entries[key]; e != nil {
		if e.elem != nil {
			d.mu.lru.MoveToFront(e.elem)
		}
		return e, false
	}
	// A copy of the key: the message id is a piece of the request's
	// whole body, which the entry would keep for as long as it is kept.
	key = strings.Clone(key)
	e = &dedupEntry{key: key, done: make(chan struct{})}
	d.mu.entries[key] = e
	return e, true
}

// finish ends the entry made by begin: it keeps resp for the key if keep,
// else forgets the key, and wakes the waiters.
func (d *dedup) finish(e *dedupEntry, resp response, keep bool) {
	d.mu.Lock()
	e.kept, e.resp = keep, resp
	if keep {
		e.elem = d.mu.lru.PushFront(e)
		for d.mu.lru.Len() > d.max {
			old := d.mu.lru.Remove(d.mu.lru.Back()).(*dedupEntry)
			delete(d.mu.entries, old.key)
		}
	} else {
		delete(d.mu.entries, e.key)
	}
	d.mu.Unlock()
	close(e.done)
}
