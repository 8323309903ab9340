//go:build unix

package webhook

import "syscall"

// peekFD looks, without blocking or consuming anything, at what the
// socket fd of an idle connection holds to read, and sets c.gone unless
// that is nothing: the agent's end, a reset, an error, or bytes out of
// turn. It is called by syscall.RawConn.Read, and returns true so that
// Read does not wait.
func (c *leanConn) peekFD(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK)
	if err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR {
		c.gone = true
	}
	return true
}
