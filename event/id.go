package event

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// NewID returns a new UUIDv7 (RFC 9562) as a lower-case string: 48 bits of
// Unix milliseconds, then a 12-bit counter that keeps ids made in the same
// millisecond by this process in order, then 62 random bits. Ids made
// anywhere sort by time to the millisecond and do not collide.
func NewID() string {
	var u [16]byte
	ms, seq := idClock.next()
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	u[6] = 0x70 | byte(seq>>8)&0x0f
	u[7] = byte(seq)
	if _, err := rand.Read(u[8:]); err != nil {
		panic("event: reading random bytes: " + err.Error()) // crypto/rand never fails on Linux
	}
	u[8] = u[8]&0x3f | 0x80
	return string(AppendUUID(make([]byte, 0, 36), u))
}

// AppendUUID appends u to dst in the canonical 8-4-4-4-12 hexadecimal form.
func AppendUUID(dst []byte, u [16]byte) []byte {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return append(dst, s[:]...)
}

// idClock hands out (millisecond, counter) pairs that never go backwards
// within the process, even when the wall clock does.
var idClock monoClock

type monoClock struct {
	mu  sync.Mutex
	ms  int64
	seq uint16
}

func (c *monoClock) next() (int64, uint16) {
	now := time.Now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case now > c.ms:
		c.ms, c.seq = now, 0
	case c.seq < 0x0fff:
		c.seq++
	default: // counter exhausted in this millisecond: borrow the next one
		c.ms++
		c.seq = 0
	}
	return c.ms, c.seq
}
