package webhook_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
)

// rawServer is a TCP server on 127.0.0.1 that runs serve on each
// connection it accepts, numbered from 1, and counts them. It is closed,
// with its connections, when the test ends.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	reqs  atomic.Int64 // requests read by readRequest
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newRawServer(t *testing.T, serve func(s *rawServer, n int64, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				serve(s, n, c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// url returns the URL of the server's endpoint, with a token in the query
// that errors must not show.
func (s *rawServer) url() string {
	return "http://" + s.ln.Addr().String() + "/hook?token=secret-token"
}

// readRequest reads a request and its body from br.
func (s *rawServer) readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, err
	}
	s.reqs.Add(1)
	return req, body, nil
}

// answer returns a serve function that answers every request on a
// connection with resp, and closes the connection after it when close is
// set.
func answer(resp string, close bool) func(*rawServer, int64, net.Conn, *bufio.Reader) {
	return func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := s.readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil || close {
				return
			}
		}
	}
}

const oneEvent = `[{"type":"done"}]`

// okResponse is a 200 response with one event.
var okResponse = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(oneEvent), oneEvent)

// deliverN delivers to url n times, one after another, and fails the test
// unless each gives one event.
func deliverN(t *testing.T, tr *webhook.Transport, url string, n int) {
	t.Helper()
	for i := range n {
		res, err := tr.Deliver(context.Background(), delivery(url))
		if err != nil || len(res.Events) != 1 || res.Events[0].Type != "done" {
			t.Fatalf("delivery %d: got %v, %v; want one event", i, res.Events, err)
		}
	}
}

// checkRetryable fails the test unless err is a retryable error that does
// not show the endpoint's query.
func checkRetryable(t *testing.T, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("Deliver succeeded, want an error")
	case dispatch.IsPermanent(err):
		t.Errorf("error %v is permanent, want retryable", err)
	case strings.Contains(err.Error(), "secret-token"):
		t.Errorf("error %q shows the endpoint's query", err)
	}
}

func TestFastPathRequest(t *testing.T) {
	type seen struct {
		req  *http.Request
		body []byte
	}
	ch := make(chan seen, 1)
	srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
		req, body, err := s.readRequest(br)
		if err != nil {
			return
		}
		ch <- seen{req, body}
		_, _ = io.WriteString(c, okResponse)
	})
	tr := newTransport(t, webhook.Config{Secret: []byte("k"), UserAgent: "agent/1", Now: func() time.Time { return t0 }})
	u := strings.Replace(srv.url(), "http://", "http://user:p%40ss@", 1)
	deliverN(t, tr, u, 1)
	got := <-ch
	r := got.req
	if r.Method != http.MethodPost || r.RequestURI != "/hook?token=secret-token" || r.Host != srv.ln.Addr().String() || r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		t.Errorf("request %s %s %s, Host %s", r.Method, r.RequestURI, r.Proto, r.Host)
	}
	if user, pw, ok := r.BasicAuth(); !ok || user != "user" || pw != "p@ss" {
		t.Errorf("basic auth %q %q %v, want the URL's user information", user, pw, ok)
	}
	if r.ContentLength != int64(len(got.body)) || len(r.TransferEncoding) > 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v, for a body of %d bytes", r.ContentLength, r.TransferEncoding, len(got.body))
	}
	for k, want := range map[string]string{
		"Content-Type":               "application/json",
		"User-Agent":                 "agent/1",
		webhook.HeaderIdempotencyKey: actionID,
		webhook.HeaderAction:         "process_payment",
		webhook.HeaderAttempt:        "2",
		webhook.HeaderCorrelation:    "order-1",
		webhook.HeaderTimestamp:      fmt.Sprint(t0.Unix()),
	} {
		if v := r.Header.Values(k); len(v) != 1 || v[0] != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if err := webhook.Verify([]byte("k"), r, got.body, time.Minute, t0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if n := webhook.FastPathDials(tr); n != 1 {
		t.Errorf("fast path dialed %d connections, want 1", n)
	}
}

func TestFastPathKeepAlive(t *testing.T) {
	srv := newRawServer(t, answer(okResponse, false))
	tr := newTransport(t, webhook.Config{})
	deliverN(t, tr, srv.url(), 20)
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("20 deliveries opened %d connections, want 1", n)
	}
}

func TestFastPathAgentClosesIdleConnection(t *testing.T) {
	t.Run("found before sending", func(t *testing.T) {
		// The agent closes each connection after one response: the
		// transport finds it closed before reusing it.
		srv := newRawServer(t, answer(okResponse, true))
		tr := newTransport(t, webhook.Config{})
		for range 3 {
			deliverN(t, tr, srv.url(), 1)
			time.Sleep(20 * time.Millisecond) // for the close to arrive
		}
		if c, r := srv.conns.Load(), srv.reqs.Load(); c != 3 || r != 3 {
			t.Errorf("3 deliveries: %d connections, %d requests; want 3 and 3", c, r)
		}
	})
	t.Run("found after sending", func(t *testing.T) {
		// The agent closes its first connection when the second request
		// arrives on it, without answering, as when an idle timeout and
		// the request cross: the request is sent again on a new
		// connection.
		srv := newRawServer(t, func(s *rawServer, n int64, c net.Conn, br *bufio.Reader) {
			for i := 0; ; i++ {
				if _, _, err := s.readRequest(br); err != nil {
					return
				}
				if n == 1 && i == 1 {
					c.(*net.TCPConn).SetLinger(0) // a reset, at once
					return
				}
				if _, err := io.WriteString(c, okResponse); err != nil {
					return
				}
			}
		})
		tr := newTransport(t, webhook.Config{})
		deliverN(t, tr, srv.url(), 3)
		if c, r := srv.conns.Load(), srv.reqs.Load(); c != 2 || r != 4 {
			t.Errorf("3 deliveries: %d connections, %d requests; want 2 and 4", c, r)
		}
	})
	t.Run("not on a new connection", func(t *testing.T) {
		srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
			_, _, _ = s.readRequest(br)
		})
		tr := newTransport(t, webhook.Config{})
		_, err := tr.Deliver(context.Background(), delivery(srv.url()))
		checkRetryable(t, err)
		if c := srv.conns.Load(); c != 1 {
			t.Errorf("%d connections, want 1: a request on a new connection is not sent again", c)
		}
	})
	t.Run("not once the response started", func(t *testing.T) {
		srv := newRawServer(t, func(s *rawServer, n int64, c net.Conn, br *bufio.Reader) {
			for i := 0; ; i++ {
				if _, _, err := s.readRequest(br); err != nil {
					return
				}
				resp := okResponse
				if i == 1 {
					resp = okResponse[:10]
				}
				if _, err := io.WriteString(c, resp); err != nil || i == 1 {
					return
				}
			}
		})
		tr := newTransport(t, webhook.Config{})
		deliverN(t, tr, srv.url(), 1)
		_, err := tr.Deliver(context.Background(), delivery(srv.url()))
		checkRetryable(t, err)
		if c, r := srv.conns.Load(), srv.reqs.Load(); c != 1 || r != 2 {
			t.Errorf("%d connections, %d requests; want 1 and 2: a request answered in part is not sent again", c, r)
		}
	})
}

func TestFastPathConnectionReuse(t *testing.T) {
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\n[{\"ty\r\n" + fmt.Sprintf("%x\r\n%s\r\n", len(oneEvent)-5, oneEvent[5:]) + "0\r\nTrailer: x\r\n\r\n"
	tests := []struct {
		name  string
		resp  string
		conns int64 // for 3 deliveries
	}{
		{"keep-alive", okResponse, 1},
		{"connection close", strings.Replace(okResponse, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1), 3},
		{"HTTP/1.0", strings.Replace(okResponse, "HTTP/1.1", "HTTP/1.0", 1), 3},
		{"HTTP/1.0 keep-alive", strings.Replace(strings.Replace(okResponse, "HTTP/1.1", "HTTP/1.0", 1), "\r\n\r\n", "\r\nConnection: keep-alive\r\n\r\n", 1), 1},
		{"chunked", chunked, 1},
		{"informational first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" + okResponse, 1},
		{"no reason phrase, bare LF", strings.ReplaceAll(strings.Replace(okResponse, " OK", "", 1), "\r\n", "\n"), 1},
		{"length and chunked", strings.Replace(chunked, "\r\n\r\n", "\r\nContent-Length: 99\r\n\r\n", 1), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The agent keeps its connections open: the transport alone
			// decides not to reuse them.
			srv := newRawServer(t, answer(tt.resp, false))
			tr := newTransport(t, webhook.Config{})
			deliverN(t, tr, srv.url(), 3)
			if n := srv.conns.Load(); n != tt.conns {
				t.Errorf("3 deliveries opened %d connections, want %d", n, tt.conns)
			}
		})
	}
	t.Run("to the end of the connection", func(t *testing.T) {
		srv := newRawServer(t, answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"+oneEvent, true))
		tr := newTransport(t, webhook.Config{})
		deliverN(t, tr, srv.url(), 3)
		if n := srv.conns.Load(); n != 3 {
			t.Errorf("3 deliveries opened %d connections, want 3", n)
		}
	})
	t.Run("long error body", func(t *testing.T) {
		// An error body longer than the transport drains closes the
		// connection; a short one does not.
		long := strings.Repeat("busy ", 20000)
		srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
			for i := 0; ; i++ {
				if _, _, err := s.readRequest(br); err != nil {
					return
				}
				body := "busy"
				if i%2 == 1 {
					body = long
				}
				if _, err := fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
					return
				}
			}
		})
		tr := newTransport(t, webhook.Config{})
		for i, want := range []string{"busy", long[:512], "busy"} {
			_, err := tr.Deliver(context.Background(), delivery(srv.url()))
			se, ok := errors.AsType[*webhook.StatusError](err)
			if !ok || se.StatusCode != 503 || se.Body != want || dispatch.IsPermanent(err) {
				t.Fatalf("delivery %d: got %v, want a retryable 503 with the body's start", i, err)
			}
		}
		if n := srv.conns.Load(); n != 2 {
			t.Errorf("3 deliveries opened %d connections, want 2", n)
		}
	})
}

func TestFastPathOversized(t *testing.T) {
	big := "[" + strings.Repeat(`{"type":"x"},`, 400) + `{"type":"x"}]`
	for _, tt := range []struct {
		name string
		resp string
		want error // the Refused of a delivery; nil: any retryable error
	}{
		{"content length", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(big), big), webhook.ErrResponseTooLarge},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\n" + big, webhook.ErrResponseTooLarge},
		{"chunked", fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(big), big), webhook.ErrResponseTooLarge},
		{"head", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("f", 1000)+"\r\n", 70) + "Content-Length: 2\r\n\r\n[]", nil},
		{"header line", "HTTP/1.1 200 OK\r\nX-Filler: " + strings.Repeat("f", 20000) + "\r\nContent-Length: 2\r\n\r\n[]", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, answer(tt.resp, true))
			tr := newTransport(t, webhook.Config{MaxResponseBytes: 1024})
			res, err := tr.Deliver(context.Background(), delivery(srv.url()))
			if tt.want == nil {
				checkRetryable(t, err)
			} else if err != nil || !errors.Is(res.Refused, tt.want) {
				t.Errorf("Deliver: got %v, refused %v; want delivered, refused %v", err, res.Refused, tt.want)
			}
		})
	}
}

func TestFastPathGarbage(t *testing.T) {
	for _, resp := range []string{
		"SSH-2.0-OpenSSH_9.6\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 2O0 OK\r\n\r\n",
		"HTTP/1.1 020 Odd\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6) + okResponse,
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n[]",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]XX0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]",
		"HTTP/1.1 200 OK\r\nContent-Le",
		"\x00\x01\x02\xff\xfe",
		"\r\n\r\n",
	} {
		t.Run(fmt.Sprintf("%.20q", resp), func(t *testing.T) {
			srv := newRawServer(t, answer(resp, true))
			tr := newTransport(t, webhook.Config{})
			_, err := tr.Deliver(context.Background(), delivery(srv.url()))
			checkRetryable(t, err)
		})
	}
}

func TestFastPathHangingAgent(t *testing.T) {
	for _, tt := range []struct {
		name string
		resp string // written before hanging
	}{
		{"silent", ""},
		{"in the head", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"in the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
				if _, _, err := s.readRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, tt.resp)
				_, _ = io.Copy(io.Discard, br) // until the transport gives up
			})
			for _, withCtx := range []bool{true, false} {
				ctx := context.Background()
				cfg := webhook.Config{Timeout: 100 * time.Millisecond}
				if withCtx {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
					defer cancel()
					cfg.Timeout = time.Hour
				}
				tr := newTransport(t, cfg)
				start := time.Now()
				_, err := tr.Deliver(ctx, delivery(srv.url()))
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Deliver (context deadline %v): got %v, want DeadlineExceeded", withCtx, err)
				}
				checkRetryable(t, err)
				if el := time.Since(start); el > 2*time.Second {
					t.Errorf("Deliver took %v past a 100ms deadline", el)
				}
			}
		})
	}
}

func TestFastPathCancel(t *testing.T) {
	got := make(chan struct{}, 2)
	srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := s.readRequest(br); err != nil {
				return
			}
			if s.reqs.Load() == 1 {
				got <- struct{}{}
				_, _ = io.Copy(io.Discard, br) // hang, until the transport closes
				return
			}
			if _, err := io.WriteString(c, okResponse); err != nil {
				return
			}
		}
	})
	tr := newTransport(t, webhook.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got
		cancel()
	}()
	start := time.Now()
	_, err := tr.Deliver(ctx, delivery(srv.url()))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver: got %v, want Canceled", err)
	}
	checkRetryable(t, err)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Deliver took %v to see the cancellation", el)
	}
	// The interrupted connection is not reused.
	deliverN(t, tr, srv.url(), 1)
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestFastPathConcurrent(t *testing.T) {
	var calls atomic.Int64
	srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := s.readRequest(br); err != nil {
				return
			}
			resp := okResponse
			switch calls.Add(1) % 7 {
			case 3:
				resp = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
			case 5:
				resp = strings.Replace(okResponse, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
			}
			if _, err := io.WriteString(c, resp); err != nil || resp != okResponse && resp[9] == '2' {
				return
			}
		}
	})
	tr := newTransport(t, webhook.Config{Secret: []byte("k")})
	const workers, each = 16, 50
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				res, err := tr.Deliver(context.Background(), delivery(srv.url()))
				switch se, isStatus := errors.AsType[*webhook.StatusError](err); {
				case err == nil && len(res.Events) == 1:
					ok.Add(1)
				case isStatus && se.StatusCode == 503:
					failed.Add(1)
				default:
					t.Errorf("Deliver: %v, %v", res.Events, err)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load()+failed.Load() != workers*each || failed.Load() == 0 {
		t.Errorf("%d delivered, %d answered 503, of %d", ok.Load(), failed.Load(), workers*each)
	}
	if n, closes := srv.conns.Load(), int64(workers*each/7+1); n > closes+2*workers {
		t.Errorf("%d connections for %d deliveries, %d of them closed by the agent", n, workers*each, closes)
	}

	// Deliveries racing Close end in success, ErrClosed or a connection
	// error, and leave no connection open.
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := tr.Deliver(context.Background(), delivery(srv.url())); errors.Is(err, webhook.ErrClosed) {
					return
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	_ = tr.Close()
	wg.Wait()
}

func TestFastPathClose(t *testing.T) {
	closed := make(chan struct{}, 1)
	srv := newRawServer(t, func(s *rawServer, _ int64, c net.Conn, br *bufio.Reader) {
		answer(okResponse, false)(s, 0, c, br)
		closed <- struct{}{}
	})
	tr := newTransport(t, webhook.Config{})
	deliverN(t, tr, srv.url(), 1)
	_ = tr.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection is still open after Close")
	}
}

func TestNetHTTPPath(t *testing.T) {
	t.Run("https", func(t *testing.T) {
		srv := newUnstartedServer(t, reply(http.StatusOK, oneEvent))
		srv.StartTLS()
		tr := newTransport(t, webhook.Config{})
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		webhook.HTTPTransport(tr).TLSClientConfig = &tls.Config{RootCAs: roots}
		deliverN(t, tr, srv.URL, 2)
		if n := webhook.FastPathDials(tr); n != 0 {
			t.Errorf("fast path dialed %d connections for https, want 0", n)
		}
	})
	t.Run("proxy", func(t *testing.T) {
		uris := make(chan string, 1)
		proxy := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			uris <- r.RequestURI
			reply(http.StatusOK, oneEvent)(w, r)
		}))
		tr := newTransport(t, webhook.Config{})
		pu, _ := url.Parse(proxy.URL)
		webhook.HTTPTransport(tr).Proxy = http.ProxyURL(pu)
		deliverN(t, tr, "http://agent.invalid/hook", 1)
		if got := <-uris; got != "http://agent.invalid/hook" {
			t.Errorf("proxy got request URI %q", got)
		}
		if n := webhook.FastPathDials(tr); n != 0 {
			t.Errorf("fast path dialed %d connections with a proxy, want 0", n)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, oneEvent))
		tr := newTransport(t, webhook.Config{DisableFastPath: true})
		deliverN(t, tr, srv.URL, 1)
		if n := webhook.FastPathDials(tr); n != -1 {
			t.Errorf("DisableFastPath: fast path dials %d, want none", n)
		}
	})
	t.Run("client given", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, oneEvent))
		tr := newTransport(t, webhook.Config{Client: srv.Client()})
		deliverN(t, tr, srv.URL, 1)
		if n := webhook.FastPathDials(tr); n != -1 {
			t.Errorf("Config.Client: fast path dials %d, want none", n)
		}
	})
	t.Run("bad user agent", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, oneEvent))
		tr := newTransport(t, webhook.Config{UserAgent: "a\r\nX-Injected: 1"})
		_, err := tr.Deliver(context.Background(), delivery(srv.URL))
		if err == nil || webhook.FastPathDials(tr) != -1 {
			t.Errorf("Deliver with a User-Agent holding CRLF: %v, want net/http's error", err)
		}
	})
}
