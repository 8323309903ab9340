//go:build unix

package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// waitClosed waits until the client's end of c's connection has
// something to read: the server's end or reset.
func waitClosed(t *testing.T, c *conn) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.check.Usable(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server's close never reached the client")
		}
	}
}

// TestConnReconnect has the server close each connection after one
// request, while the client keeps it: the client finds the connection
// closed and sends its next requests on new ones, without a failure and
// without sending any request twice.
func TestConnReconnect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset bool          // the server resets rather than closes
		check time.Duration // how long a connection may be idle unchecked
	}{
		{"closed, checked", false, 0},
		{"reset, checked", true, 0},
		// Unchecked, the write of the next request fails with nothing
		// written, and the request goes out again on a new connection.
		{"reset, unchecked", true, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan struct{}, 1)
			srv := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
				if _, _, err := s.readRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
				if tc.reset {
					c.(*net.TCPConn).SetLinger(0)
				}
				c.Close()
				closed <- struct{}{}
			})
			c := testConn(t, srv.addr, 5*time.Second)
			c.t.idleCheck = tc.check
			for i := range 3 {
				status, _, err := c.roundTrip(context.Background(), request(c, "{}"), http.StatusCreated)
				if err != nil || status != http.StatusCreated {
					t.Fatalf("request %d: %d, %v; want 201", i, status, err)
				}
				<-closed
				waitClosed(t, c)
			}
			if n, r := srv.conns.Load(), srv.requests.Load(); n != 3 || r != 3 {
				t.Errorf("%d connections and %d requests, want 3 and 3", n, r)
			}
		})
	}
}
