package store

import (
	"context"
	"sync"
)

// Notifier tells subscribers how far the log reaches. A backend calls
// Advance after each commit, once the new records can be read; Follow
// waits on it. It is safe for concurrent use.
type Notifier struct {
	mu     sync.Mutex
	head   uint64
	closed bool
	ch     chan struct{} // closed and replaced on every change
}

// NewNotifier returns a Notifier whose head is head.
func NewNotifier(head uint64) *Notifier {
	return &Notifier{head: head, ch: make(chan struct{})}
}

// Advance raises the head to head and wakes every waiter. A lower head is
// ignored.
func (n *Notifier) Advance(head uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if head <= n.head || n.closed {
		return
	}
	n.head = head
	close(n.ch)
	n.ch = make(chan struct{})
}

// Close wakes every waiter for good; their subscriptions end with ErrClosed.
func (n *Notifier) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.ch)
	}
}

func (n *Notifier) state() (head uint64, changed <-chan struct{}, closed bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.head, n.ch, n.closed
}

// ReadFunc reads up to limit records from global position from on.
type ReadFunc func(ctx context.Context, from uint64, limit int) ([]Record, error)

// followBatch is how many records a subscription reads at a time.
const followBatch = 512

// Follow returns a Subscription from global position from that reads with
// read and waits on n — the Subscribe of any backend that has both.
func Follow(read ReadFunc, n *Notifier, from uint64) Subscription {
	return &follower{read: read, n: n, next: from}
}

type follower struct {
	read   ReadFunc
	n      *Notifier
	next   uint64
	buf    []Record
	closed bool
}

func (f *follower) Next(ctx context.Context) (Record, error) {
	for {
		if f.closed {
			return Record{}, ErrClosed
		}
		if len(f.buf) > 0 {
			r := f.buf[0]
			f.buf[0] = Record{}
			f.buf = f.buf[1:]
			f.next = r.GlobalPosition + 1
			return r, nil
		}
		head, changed, closed := f.n.state()
		if closed {
			return Record{}, ErrClosed
		}
		if head > f.next {
			recs, err := f.read(ctx, f.next, followBatch)
			if err != nil {
				return Record{}, err
			}
			if len(recs) > 0 {
				f.buf = recs
				continue
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

func (f *follower) Close() error {
	f.closed = true
	f.buf = nil
	return nil
}
