//go:build !unix

package loadgen

// peekFD would look at what an idle connection's socket holds to read;
// on this system a server's close of an idle connection is found only by
// the next request, which then fails.
func (c *conn) peekFD(fd uintptr) bool { return true }
