//go:build unix

package httpwire

import (
	"net"
	"testing"
	"time"
)

// TestIdleCheck checks an idle loopback connection: usable while the
// server is silent, not once it has sent bytes out of turn or closed its
// end; the bytes stay to be read.
func TestIdleCheck(t *testing.T) {
	var zero IdleCheck
	if !zero.Usable() {
		t.Fatal("the zero IdleCheck finds its no connection unusable")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		name string
		act  func(net.Conn)
	}{
		{"out of turn", func(c net.Conn) { _, _ = c.Write([]byte("x")) }},
		{"closed", func(c net.Conn) { _ = c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			var c IdleCheck
			c.Reset(client)
			if !c.Usable() {
				t.Fatal("a silent connection is unusable")
			}
			tc.act(server)
			for deadline := time.Now().Add(10 * time.Second); c.Usable(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("still usable")
				}
			}
			if tc.name == "out of turn" {
				b := make([]byte, 1)
				if _, err := client.Read(b); err != nil || b[0] != 'x' {
					t.Fatalf("read %q, %v after the check: the check consumed it", b, err)
				}
			}
			c.Reset(nil)
			if !c.Usable() {
				t.Fatal("reset to no connection, unusable")
			}
		})
	}
}
