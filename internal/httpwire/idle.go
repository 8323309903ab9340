package httpwire

import (
	"net"
	"syscall"
)

// IdleCheck tells whether an idle client connection can carry another
// request: that the server has neither closed its end nor sent anything
// out of turn. It looks at the socket without blocking and without
// consuming anything. The zero value checks no connection and answers
// that it is usable. An IdleCheck is used by one goroutine at a time.
type IdleCheck struct {
	rc   syscall.RawConn // nil where the connection has none
	gone bool
	buf  [1]byte
	fn   func(fd uintptr) bool // c.peek, made once
}

// Reset makes c check nc, a TCP connection (or any with a socket), or no
// connection when nc is nil.
func (c *IdleCheck) Reset(nc net.Conn) {
	c.rc = nil
	if sc, ok := nc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
	}
	if c.fn == nil {
		c.fn = c.peek
	}
}

// Usable reports whether the connection can carry a request. Where the
// system offers no way to look, it reports true: a connection the server
// closed is then found by the request sent on it.
func (c *IdleCheck) Usable() bool {
	if c.rc == nil {
		return true
	}
	c.gone = false
	if err := c.rc.Read(c.fn); err != nil {
		return false
	}
	return !c.gone
}
