package pebble

import (
	"sync"

	"github.com/choreohq/choreo/store"
)

// Bounds of the tail: the latest records, which every follower of the log
// reads moments after they are written.
const (
	tailRecords = 8192    // a power of two
	tailBytes   = 8 << 20 // of memory the encoded records keep
)

// tail keeps the encoded records of the latest appends in memory, as the
// writer applied them, so that subscriptions reading what was just
// appended decode it from there rather than open a Pebble iterator for
// every few records. Records are held by global position, densely, the
// oldest dropped first; a read that starts before the oldest goes to
// Pebble.
type tail struct {
	mu    sync.RWMutex
	first uint64              // global position of the oldest record held
	n     int                 // records held: first … first+n-1
	bytes int                 // the capacities of the records held: the memory they keep
	ring  [tailRecords][]byte // a record at position p is at p % tailRecords
}

// push adds the records applied from global position pos on. The writer
// calls it in log order, before the records count as applied.
func (t *tail) push(pos uint64, vals [][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n > 0 && pos != t.first+uint64(t.n) {
		t.drop()
	}
	if t.n == 0 {
		t.first = pos
	}
	for _, v := range vals {
		for t.n > 0 && (t.n == tailRecords || t.bytes+cap(v) > tailBytes) {
			i := t.first % tailRecords
			t.bytes -= cap(t.ring[i])
			t.ring[i] = nil
			t.first++
			t.n--
		}
		if t.n == 0 {
			t.first = pos
		}
		t.ring[(t.first+uint64(t.n))%tailRecords] = v
		t.n++
		t.bytes += cap(v)
		pos++
	}
}

// drop forgets every record held. t.mu is held.
func (t *tail) drop() {
	clear(t.ring[:])
	t.n, t.bytes = 0, 0
}

// get returns the record at global position g, if the tail holds it. The
// record is never changed once pushed.
func (t *tail) get(g uint64) ([]byte, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.n == 0 || g < t.first || g >= t.first+uint64(t.n) {
		return nil, false
	}
	return t.ring[g%tailRecords], true
}

// read decodes the records from global position from up to, not
// including, to, if the tail holds from; ok is false if it does not. The
// encoded records are never changed once pushed, so they are decoded
// outside the lock, and the records decoded share their bytes.
func (t *tail) read(from, to uint64, d *decoder) (out []store.Record, ok bool, err error) {
	var buf [64][]byte
	vals := buf[:0]
	t.mu.RLock()
	if t.n == 0 || from < t.first || from >= t.first+uint64(t.n) {
		t.mu.RUnlock()
		return nil, false, nil
	}
	to = min(to, t.first+uint64(t.n))
	for p := from; p < to; p++ {
		vals = append(vals, t.ring[p%tailRecords])
	}
	t.mu.RUnlock()
	if d.want != nil {
		// Size the decoder's slabs for the events it will decode.
		d.left = 0
		for _, v := range vals {
			if raw, err := parseRecord(v); err != nil || d.want(raw.stream) {
				d.left++
			}
		}
	}
	out = make([]store.Record, 0, len(vals))
	for i, v := range vals {
		rec, err := d.shared(from+uint64(i), v)
		if err != nil {
			return nil, true, err
		}
		out = append(out, rec)
	}
	return out, true, nil
}
