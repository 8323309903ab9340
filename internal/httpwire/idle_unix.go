//go:build unix

package httpwire

import "syscall"

// peek looks at what the socket fd holds to read, and sets c.gone unless
// that is nothing: the peer's end, a reset, an error, or bytes out of
// turn. It is called by syscall.RawConn.Read, and returns true so that
// Read does not wait.
func (c *IdleCheck) peek(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), c.buf[:], syscall.MSG_PEEK)
	if err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR {
		c.gone = true
	}
	return true
}
