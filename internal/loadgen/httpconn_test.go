package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is a TCP server on 127.0.0.1 that hands every connection it
// accepts to a handler, and counts connections and requests.
type rawServer struct {
	addr     string
	conns    atomic.Int64
	requests atomic.Int64
}

// newRawServer starts a rawServer running handle on each connection,
// which it closes when handle returns. Everything stops at the end of
// the test.
func newRawServer(t *testing.T, handle func(s *rawServer, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: ln.Addr().String()}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]struct{}{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(open, c)
					mu.Unlock()
				}()
				handle(s, c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// readRequest reads a request with net/http's own parser, body included,
// and counts it.
func (s *rawServer) readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, err
	}
	s.requests.Add(1)
	return req, body, nil
}

// testConn returns a conn to addr over http with the given timeout.
func testConn(t *testing.T, addr string, timeout time.Duration) *conn {
	t.Helper()
	tg, err := newTarget(Config{URL: "http://" + addr, Timeout: timeout}, "/v1/events", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(tg)
	t.Cleanup(c.close)
	return c
}

// request frames a request with body on c's target.
func request(c *conn, body string) []byte {
	return c.t.frame(append(c.t.reserve(nil), body...))
}

// TestReadResponse answers requests with canned responses, valid and
// not, and checks what the client makes of them: status, kept body,
// whether the connection is kept, the error and its code.
func TestReadResponse(t *testing.T) {
	big := strings.Repeat("b", 100<<10)
	for _, tc := range []struct {
		name     string
		response string
		close    bool   // the server closes the connection after responding
		status   int    // wanted, when no error
		body     string // wanted kept body
		kept     bool   // the connection is wanted kept
		err      error  // wanted error (errors.Is), nil for none
		code     string // its classification
	}{
		{name: "content length", response: "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello", status: 201, kept: true},
		{name: "error body kept", response: "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-LENGTH: 2\r\n\r\n{}", status: 400, body: "{}", kept: true},
		{name: "repeated content length", response: "HTTP/1.1 409 Conflict\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", status: 409, body: "abc", kept: true},
		{name: "no reason, bare LF", response: "HTTP/1.1 422\nContent-Length: 1\n\nx", status: 422, body: "x", kept: true},
		{name: "chunked", response: "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"1\"\r\nhello\r\n6 \r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: x\r\n\r\n",
			status: 400, body: "hello world0123456789", kept: true},
		{name: "chunked discarded", response: "HTTP/1.1 201 Created\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 201, kept: true},
		{name: "chunked and content length", response: "HTTP/1.1 201 Created\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 201},
		{name: "connection close", response: "HTTP/1.1 201 Created\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", close: true, status: 201},
		{name: "HTTP/1.0", response: "HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n", close: true, status: 201},
		{name: "HTTP/1.0 keep-alive", response: "HTTP/1.0 201 Created\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", status: 201, kept: true},
		{name: "body to the end", response: "HTTP/1.1 500 Internal Server Error\r\n\r\nall of it", close: true, status: 500, body: "all of it"},
		{name: "no content", response: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", status: 204, kept: true},
		{name: "informational skipped", response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			status: 201, kept: true},
		{name: "error body truncated", response: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 102400\r\n\r\n" + big, close: true,
			status: 503, body: big[:maxErrorBody]},

		{name: "malformed status line", response: "HTTP/1.1 2O1 Created\r\nContent-Length: 0\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "other protocol", response: "SSH-2.0-OpenSSH_9.6\r\n", err: errBadResponse, code: "transport"},
		{name: "HTTP/2", response: "HTTP/2 201 Created\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "status code 0xx", response: "HTTP/1.1 020 Odd\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "switching protocols", response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "too many informational", response: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6) + "HTTP/1.1 201 Created\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "header without colon", response: "HTTP/1.1 201 Created\r\nContent-Length 0\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "folded header", response: "HTTP/1.1 201 Created\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "space before colon", response: "HTTP/1.1 201 Created\r\nContent-Length : 0\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "negative content length", response: "HTTP/1.1 201 Created\r\nContent-Length: -1\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "conflicting content lengths", response: "HTTP/1.1 201 Created\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", err: errBadResponse, code: "transport"},
		{name: "other transfer encoding", response: "HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "malformed chunk size", response: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: errBadResponse, code: "transport"},
		{name: "chunk without CRLF", response: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", err: errBadResponse, code: "transport"},
		{name: "oversize header line", response: "HTTP/1.1 201 Created\r\nX-Big: " + strings.Repeat("h", readBufSize) + "\r\n\r\n", err: errTooLarge, code: "transport"},
		{name: "oversize header block", response: "HTTP/1.1 201 Created\r\n" + strings.Repeat("X-Big: "+strings.Repeat("h", 8000)+"\r\n", 9) + "\r\n", err: errTooLarge, code: "transport"},
		{name: "oversize body", response: "HTTP/1.1 201 Created\r\nContent-Length: 2000000\r\n\r\n", err: errTooLarge, code: "transport"},
		{name: "oversize chunked body", response: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n", err: errTooLarge, code: "transport"},
		{name: "no response", response: "", close: true, err: io.EOF, code: "eof"},
		{name: "early EOF in status line", response: "HTTP/1.1 20", close: true, err: io.ErrUnexpectedEOF, code: "eof"},
		{name: "early EOF in headers", response: "HTTP/1.1 201 Created\r\nContent-Le", close: true, err: io.ErrUnexpectedEOF, code: "eof"},
		{name: "early EOF in body", response: "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc", close: true, err: io.ErrUnexpectedEOF, code: "eof"},
		{name: "early EOF in chunks", response: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", close: true, err: io.ErrUnexpectedEOF, code: "eof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
				for {
					if _, _, err := s.readRequest(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, tc.response); err != nil || tc.close {
						return
					}
				}
			})
			c := testConn(t, srv.addr, 5*time.Second)
			for i := range 2 {
				status, body, err := c.roundTrip(context.Background(), request(c, `{"n":1}`), http.StatusCreated)
				if tc.err != nil {
					if !errors.Is(err, tc.err) || classify(err) != tc.code {
						t.Fatalf("roundTrip: %v (code %s), want %v (code %s)", err, classify(err), tc.err, tc.code)
					}
					if c.nc != nil {
						t.Errorf("connection kept after an error")
					}
					return
				}
				if err != nil {
					t.Fatalf("roundTrip %d: %v", i, err)
				}
				if status != tc.status || string(body) != tc.body {
					t.Fatalf("roundTrip %d: status %d, body %.40q (%d bytes); want %d, %.40q (%d bytes)",
						i, status, body, len(body), tc.status, tc.body, len(tc.body))
				}
				if kept := c.nc != nil; kept != tc.kept {
					t.Fatalf("roundTrip %d: connection kept %v, want %v", i, kept, tc.kept)
				}
			}
			// A kept connection carried the second request: the first
			// response was read to its exact end.
			want := int64(2)
			if tc.kept {
				want = 1
			}
			if got := srv.conns.Load(); got != want {
				t.Errorf("%d connections for 2 requests, want %d", got, want)
			}
		})
	}
}

// TestConnRequest checks the requests of a run with net/http's server:
// method, path under the URL's, Host, the headers configured and those
// the client sets, basic authentication from the URL, and the body.
func TestConnRequest(t *testing.T) {
	type seen struct {
		method, path, host, ctype, ua, key, user, pass string
		length                                         int64
		events                                         int
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var events []json.RawMessage
		json.Unmarshal(body, &events)
		user, pass, _ := r.BasicAuth()
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.Host, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"),
			r.Header.Get("X-Api-Key"), user, pass, r.ContentLength, len(events)})
		mu.Unlock()
		if int64(len(body)) != r.ContentLength {
			http.Error(w, "length", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer ts.Close()
	host := strings.TrimPrefix(ts.URL, "http://")
	rep, err := Run(context.Background(), Config{URL: "http://bench:s%20cret@" + host + "/base/", Events: 4, Batch: 2, Connections: 1,
		Header: map[string]string{"x-api-key": "k1", "Content-Type": "text/plain", "Host": "elsewhere"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.EventsAccepted != 4 || rep.Requests != 2 {
		t.Fatalf("report %+v: want 4 events accepted in 2 requests", rep)
	}
	want := seen{http.MethodPost, "/base/v1/events", host, "application/cloudevents-batch+json", "choreo-bench", "k1", "bench", "s cret", 0, 2}
	for i, g := range got {
		want.length = g.length
		if g != want || g.length < 400 {
			t.Errorf("request %d: %+v, want %+v", i, g, want)
		}
	}
}

// TestConnInterrupt cancels a run's context while a request waits for its
// response: the request ends at once as canceled, and later ones are not
// sent.
func TestConnInterrupt(t *testing.T) {
	got := make(chan struct{})
	srv := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := s.readRequest(br); err != nil {
			return
		}
		close(got)
		io.Copy(io.Discard, br) // never answer; wait for the client's close
	})
	c := testConn(t, srv.addr, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	stop := c.watch(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		<-got
		cancel()
	})
	start := time.Now()
	_, _, err := c.roundTrip(ctx, request(c, "{}"), http.StatusCreated)
	wg.Wait()
	if !errors.Is(err, context.Canceled) || classify(err) != "canceled" {
		t.Fatalf("roundTrip: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the request ended %v after it was sent, long after its cancel", d)
	}
	if _, _, err := c.roundTrip(ctx, request(c, "{}"), http.StatusCreated); !errors.Is(err, context.Canceled) {
		t.Errorf("roundTrip after the cancel: %v, want context.Canceled", err)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: nothing is sent after the cancel", n)
	}
}

// TestConnTimeout gives up on a server that does not answer within the
// request's timeout.
func TestConnTimeout(t *testing.T) {
	srv := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		io.Copy(io.Discard, br)
	})
	c := testConn(t, srv.addr, 50*time.Millisecond)
	start := time.Now()
	_, _, err := c.roundTrip(context.Background(), request(c, "{}"), http.StatusCreated)
	if classify(err) != "timeout" {
		t.Fatalf("roundTrip: %v (code %s), want a timeout", err, classify(err))
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("timed out after %v, before the timeout", d)
	}
}

// TestConnAnswerBeforeWriteFails sends a body far larger than the socket
// buffers to a server that answers 413 without reading it and closes:
// the answer is reported, whether or not the write failed first.
func TestConnAnswerBeforeWriteFails(t *testing.T) {
	const answer = `{"error":{"code":"too_large","message":"no"}}`
	srv := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 45\r\n\r\n"+answer)
	})
	c := testConn(t, srv.addr, 10*time.Second)
	status, body, err := c.roundTrip(context.Background(), request(c, strings.Repeat("x", 16<<20)), http.StatusCreated)
	if err != nil || status != http.StatusRequestEntityTooLarge || string(body) != answer {
		t.Fatalf("roundTrip: %d, %q, %v; want 413 and its body", status, body, err)
	}
	if c.nc != nil {
		t.Errorf("connection kept")
	}
}

// TestConnTLS publishes over https with the verification net/http does:
// a certificate from an unknown authority is refused, one from a trusted
// root is accepted, and the connection is kept alive.
func TestConnTLS(t *testing.T) {
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.TLS == nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	ts.StartTLS()
	defer ts.Close()
	tg, err := newTarget(Config{URL: ts.URL, Timeout: 30 * time.Second}, "/v1/events", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if tg.tls == nil || tg.tls.ServerName != "127.0.0.1" {
		t.Fatalf("TLS config %+v, want ServerName 127.0.0.1", tg.tls)
	}
	c := newConn(tg)
	defer c.close()
	if _, _, err := c.roundTrip(context.Background(), request(c, "{}"), http.StatusCreated); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("roundTrip with an untrusted certificate: %v, want a certificate error", err)
	}
	tg.tls = tg.tls.Clone()
	tg.tls.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for range 3 {
		if status, _, err := c.roundTrip(context.Background(), request(c, "{}"), http.StatusCreated); err != nil || status != http.StatusCreated {
			t.Fatalf("roundTrip: %d, %v; want 201", status, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the refused one and one kept alive", n)
	}
}

// TestFrame checks the request frame builds around a body, whatever the
// length of its Content-Length.
func TestFrame(t *testing.T) {
	tg, err := newTarget(Config{URL: "http://h:1/p"}, "/v1/events", "text/x")
	if err != nil {
		t.Fatal(err)
	}
	buf := tg.reserve(nil)
	for _, n := range []int{0, 9, 10, 12345} {
		buf = append(tg.reserve(buf), strings.Repeat("z", n)...)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(tg.frame(buf))))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil || len(body) != n || req.ContentLength != int64(n) || req.Host != "h:1" || req.URL.Path != "/p/v1/events" {
			t.Errorf("request %+v, body of %d bytes, %v; want %d", req, len(body), err, n)
		}
	}
}

// BenchmarkPublish sends one small request after another to the same
// net/http server, over a conn and over net/http's client: the
// difference is the client's cost (allocations counted are the server's
// and the client's).
func BenchmarkPublish(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	defer ts.Close()
	body := strings.Repeat("e", 400)
	b.Run("conn", func(b *testing.B) {
		tg, err := newTarget(Config{URL: ts.URL, Timeout: time.Minute}, "/v1/events", "application/json")
		if err != nil {
			b.Fatal(err)
		}
		c := newConn(tg)
		defer c.close()
		buf := tg.reserve(nil)
		b.ReportAllocs()
		for b.Loop() {
			buf = append(tg.reserve(buf), body...)
			if status, _, err := c.roundTrip(context.Background(), tg.frame(buf), http.StatusCreated); err != nil || status != http.StatusCreated {
				b.Fatalf("%d, %v", status, err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: time.Minute}
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/events", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// TestConnStrayBytes answers the first request with a body longer than
// its Content-Length: the client must not read the extra bytes as the
// next request's response, but drop the connection and send the next
// request on a new one.
func TestConnStrayBytes(t *testing.T) {
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		for n := 0; ; n++ {
			if _, _, err := s.readRequest(br); err != nil {
				return
			}
			resp := "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
			if n == 0 && s.conns.Load() == 1 {
				resp += "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	c := testConn(t, s.addr, 5*time.Second)
	for i := range 3 {
		status, _, err := c.roundTrip(context.Background(), request(c, "{}"), http.StatusCreated)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("request %d: status %d, error %v; want 201", i, status, err)
		}
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the one with stray bytes dropped, then one kept", n)
	}
}
