package webhook

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// FuzzLeanExchange answers a request of the fast path with arbitrary
// bytes: reading them must neither panic nor hang, must keep to the body
// limits, and must reuse the connection only after a whole response.
func FuzzLeanExchange(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]extra",
		"HTTP/1.1 503 Busy\r\nContent-Length: 600\r\n\r\n" + strings.Repeat("b", 600),
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\n[]",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add([]byte(seed))
	}
	const maxBody = 64
	req := []byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			if _, err := io.ReadFull(server, make([]byte, len(req))); err != nil {
				return
			}
			_, _ = server.Write(data)
		}()
		c := &leanClient{}
		lc := &leanConn{nc: client, br: bufio.NewReaderSize(client, leanReadBufSize)}
		status, body, got, reuse, err := c.exchangeOn(lc, req, maxBody)
		client.Close()
		<-done
		switch {
		case err != nil:
			if reuse || status != 0 || body != nil {
				t.Fatalf("error %v with status %d, %d bytes, reuse %v", err, status, len(body), reuse)
			}
			if len(data) == 0 && got {
				t.Fatalf("got part of a response from nothing: %v", err)
			}
		case status < 200 || status > 999:
			t.Fatalf("status %d", status)
		case status <= 299 && len(body) > maxBody:
			t.Fatalf("2xx body of %d bytes, over %d", len(body), maxBody)
		case status > 299 && len(body) > excerptBytes:
			t.Fatalf("error body excerpt of %d bytes, over %d", len(body), excerptBytes)
		case reuse && lc.br.Buffered() > 0:
			t.Fatal("connection reused with bytes unread")
		}
		if errors.Is(err, ErrResponseTooLarge) && !got {
			t.Fatal("too large without reading a response")
		}
	})
}
