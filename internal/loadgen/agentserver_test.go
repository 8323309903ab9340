package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// startTestAgentServer serves h on 127.0.0.1 until the end of the test,
// and returns the server and its address.
func startTestAgentServer(t *testing.T, cfg agentServerConfig) (*agentServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startAgentServer(ln, cfg)
	t.Cleanup(func() { s.shutdown(5 * time.Second) })
	return s, ln.Addr().String()
}

// echo answers with a digest of the request: method, target, protocol,
// host, content length, transfer encoding, selected headers, and the
// body's length and SHA-256.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Test", r.Header.Get("X-Test"))
	fmt.Fprintf(w, "%s %s %s host=%s cl=%d te=%v close=%v len=%d sha=%s path=%s",
		r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding, r.Close,
		len(body), hex.EncodeToString(sum[:8]), r.URL.Path)
})

// newTestClient returns a client with its own keep-alive connections,
// closed at the end of the test.
func newTestClient(t *testing.T, tr *http.Transport) *http.Client {
	t.Helper()
	if tr == nil {
		tr = &http.Transport{MaxIdleConnsPerHost: 100}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do makes a request with the client and returns the response's status,
// headers and body, and whether it came on a reused connection. The
// header "Connection: close" is kept.
func do(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, string, bool) {
	t.Helper()
	var reused bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Close {
		resp.Header.Set("Connection", "close")
	}
	return resp.StatusCode, resp.Header, string(b), reused
}

func TestAgentServerKeepAlive(t *testing.T) {
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: echo})
	c := newTestClient(t, nil)
	for i := range 5 {
		body := strings.Repeat("x", i*1000)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/a/b?q="+strconv.Itoa(i), strings.NewReader(body))
		req.Header.Set("X-Test", "v"+strconv.Itoa(i))
		status, h, got, reused := do(t, c, req)
		sum := sha256.Sum256([]byte(body))
		want := fmt.Sprintf("POST /a/b?q=%d HTTP/1.1 host=%s cl=%d te=[] close=false len=%d sha=%s path=/a/b",
			i, addr, len(body), len(body), hex.EncodeToString(sum[:8]))
		if status != http.StatusOK || got != want {
			t.Errorf("request %d: %d %q, want 200 %q", i, status, got, want)
		}
		if h.Get("X-Test") != "v"+strconv.Itoa(i) || h.Get("Content-Type") != "text/plain" || h.Get("Date") == "" {
			t.Errorf("request %d: headers %v", i, h)
		}
		if i > 0 && !reused {
			t.Errorf("request %d: connection not reused", i)
		}
	}
}

func TestAgentServerConcurrent(t *testing.T) {
	var calls atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		echo(w, r)
	})
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: h})
	c := newTestClient(t, nil)
	const workers, each = 32, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf(`{"worker":%d,"i":%d}`, w, i)
				resp, err := c.Post("http://"+addr+"/", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "len="+strconv.Itoa(len(body))+" ") {
					t.Errorf("%d %q", resp.StatusCode, b)
				}
			}
		})
	}
	wg.Wait()
	if calls.Load() != workers*each {
		t.Errorf("%d calls, want %d", calls.Load(), workers*each)
	}
}

// unknownLength hides the length of a reader from net/http, which then
// sends it chunked.
type unknownLength struct{ io.Reader }

func TestAgentServerChunked(t *testing.T) {
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: echo})
	c := newTestClient(t, nil)
	for _, n := range []int{0, 1, 5000, 300 << 10} {
		body := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", unknownLength{bytes.NewReader(body)})
		if req.ContentLength != 0 || req.Body == nil {
			t.Fatalf("request not chunked: length %d", req.ContentLength)
		}
		status, _, got, _ := do(t, c, req)
		sum := sha256.Sum256(body)
		want := fmt.Sprintf("cl=-1 te=[chunked] close=false len=%d sha=%s", n, hex.EncodeToString(sum[:8]))
		if status != http.StatusOK || !strings.Contains(got, want) {
			t.Errorf("%d bytes: %d %q, want %q", n, status, got, want)
		}
	}
	// Over the server's limit.
	_, addr = startTestAgentServer(t, agentServerConfig{Handler: echo, MaxBodyBytes: 1000})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", unknownLength{bytes.NewReader(make([]byte, 1001))})
	status, _, got, _ := do(t, c, req)
	if status != http.StatusBadRequest || !strings.Contains(got, errAgentBodyTooLarge.Error()) {
		t.Errorf("body over the limit: %d %q", status, got)
	}
}

func TestAgentServerExpectContinue(t *testing.T) {
	reject := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") == "reject" {
			http.Error(w, "no", http.StatusUnsupportedMediaType)
			return
		}
		echo(w, r)
	})
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: reject})
	c := newTestClient(t, &http.Transport{ExpectContinueTimeout: 5 * time.Second})
	body := strings.Repeat("y", 10000)
	var got100 atomic.Bool
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got100Continue: func() { got100.Store(true) },
	}))
	start := time.Now()
	status, _, got, _ := do(t, c, req)
	if status != http.StatusOK || !strings.Contains(got, "len=10000 ") || !got100.Load() {
		t.Errorf("%d %q, 100 Continue %v", status, got, got100.Load())
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("the client waited for 100 Continue")
	}

	// Rejected without reading the body: no 100 Continue, and the
	// connection is closed, since the client may not send the body.
	got100.Store(false)
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("X-Test", "reject")
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got100Continue: func() { got100.Store(true) },
	}))
	status, h, _, _ := do(t, c, req)
	if status != http.StatusUnsupportedMediaType || h.Get("Connection") != "close" || got100.Load() {
		t.Errorf("rejected: %d %v, 100 Continue %v", status, h, got100.Load())
	}
}

func TestAgentServerConnectionClose(t *testing.T) {
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: echo})
	c := newTestClient(t, nil)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("abc"))
	req.Close = true
	status, h, got, _ := do(t, c, req)
	if status != http.StatusOK || h.Get("Connection") != "close" || !strings.Contains(got, "close=true") {
		t.Errorf("%d %v %q", status, h, got)
	}

	// On a raw connection: the server closes it after the response.
	nc := dialTest(t, addr)
	io.WriteString(nc, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	resp, rest := readAllResponses(t, nc)
	if len(resp) != 1 || resp[0].StatusCode != http.StatusOK || !resp[0].Close || rest != nil {
		t.Errorf("responses %v, then %v", resp, rest)
	}
}

func TestAgentServerHTTP10AndPipelining(t *testing.T) {
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: echo})

	// HTTP/1.0 with keep-alive, then without; two pipelined requests.
	nc := dialTest(t, addr)
	io.WriteString(nc, "POST /one HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"+
		"GET /two HTTP/1.0\r\n\r\n")
	resp, rest := readAllResponses(t, nc)
	if len(resp) != 2 || rest != nil {
		t.Fatalf("%d responses, then %v", len(resp), rest)
	}
	if resp[0].Proto != "HTTP/1.0" || resp[0].Close || !strings.Contains(resp[0].body, "POST /one HTTP/1.0 host= cl=3") {
		t.Errorf("first: %s close=%v %q", resp[0].Proto, resp[0].Close, resp[0].body)
	}
	if !resp[1].Close || !strings.Contains(resp[1].body, "GET /two HTTP/1.0") {
		t.Errorf("second: close=%v %q", resp[1].Close, resp[1].body)
	}

	nc = dialTest(t, addr)
	io.WriteString(nc, "\r\nPOST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nA"+
		"POST /b HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n1;ext=1\r\nB\r\n0\r\nTrailer: x\r\n\r\n"+
		"HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET http://other:81/d?e HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	resp, rest = readAllResponses(t, nc, "", "", "HEAD")
	if len(resp) != 4 || rest != nil {
		t.Fatalf("%d responses, then %v", len(resp), rest)
	}
	for i, want := range []string{"POST /a HTTP/1.1 host=h cl=1", "POST /b HTTP/1.1 host=h cl=-1 te=[chunked] close=false len=1", "", "GET http://other:81/d?e HTTP/1.1 host=other:81"} {
		if !strings.Contains(resp[i].body, want) {
			t.Errorf("response %d: %q, want %q", i, resp[i].body, want)
		}
	}
	if resp[2].ContentLength <= 0 {
		t.Errorf("HEAD: Content-Length %d", resp[2].ContentLength)
	}
}

// testResponse is a response read in full.
type testResponse struct {
	*http.Response
	body string
}

// readAllResponses reads responses from nc until it closes, and returns
// them with the error that ended the reading: nil for a close after a
// whole response. methods are the requests' methods, when not all POST.
func readAllResponses(t *testing.T, nc net.Conn, methods ...string) ([]testResponse, error) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	var out []testResponse
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			return out, nil
		}
		method := http.MethodPost
		if i < len(methods) && methods[i] != "" {
			method = methods[i]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return out, err
		}
		out = append(out, testResponse{resp, string(b)})
	}
}

// dialTest connects to addr, for the rest of the test.
func dialTest(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func TestAgentServerMalformed(t *testing.T) {
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: echo, MaxHeaderBytes: 8 << 10})
	big := strings.Repeat("a", 9<<10)
	for _, tc := range []struct {
		name, req string
		status    int // 0: the connection may also just close
	}{
		{"garbage", "GARBAGE\r\n\r\n", 400},
		{"one space", "GET /\r\nHost: h\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"extra word", "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bad version", "GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400},
		{"HTTP/2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
		{"control in target", "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bad target", "GET a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n", 400},
		{"folding", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\x00c\r\n\r\n", 400},
		{"bad Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400},
		{"negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
		{"listed Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nA", 400},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nAB", 400},
		{"huge Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad expectation", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nA", 417},
		{"long header", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + big + "\r\n\r\n", 431},
		{"long request line", "GET /" + big + " HTTP/1.1\r\nHost: h\r\n\r\n", 431},
		{"many headers", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-A: b\r\n", 2000) + "\r\n", 431},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nA\r\n0\r\n\r\n", 400},
		{"chunk without CRLF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAB0\r\n\r\n", 400},
		{"truncated body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly this", 400},
		{"truncated chunk", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nonly this", 400},
		{"truncated head", "POST / HTTP/1.1\r\nHost: h\r\nContent-Le", 0},
		{"truncated request line", "POST / HT", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialTest(t, addr)
			if _, err := io.WriteString(nc, tc.req); err != nil {
				t.Fatal(err)
			}
			nc.(*net.TCPConn).CloseWrite()
			resp, err := readAllResponses(t, nc)
			switch {
			case tc.status == 0 && len(resp) == 0 && err == nil:
				// Closed without a response.
			case len(resp) != 1 || err != nil:
				t.Fatalf("%d responses, then %v; want one %d", len(resp), err, tc.status)
			case resp[0].StatusCode != tc.status || !resp[0].Close:
				t.Errorf("%d close=%v %q; want %d and the connection closed", resp[0].StatusCode, resp[0].Close, resp[0].body, tc.status)
			}
		})
	}
	// The server still serves.
	c := newTestClient(t, nil)
	resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("ok"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the malformed requests: %d", resp.StatusCode)
	}
}

func TestAgentServerTimeouts(t *testing.T) {
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: echo,
		IdleTimeout: 100 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond})
	for _, sent := range []string{"", "GET / HTTP/1.1\r\nHost:", "GET / HTTP/1.1\r\nHost: h\r\n\r\n"} {
		nc := dialTest(t, addr)
		io.WriteString(nc, sent)
		start := time.Now()
		resp, err := readAllResponses(t, nc)
		if err != nil || len(resp) > 1 || time.Since(start) > 5*time.Second {
			t.Errorf("after %q: %d responses, %v, %v", sent, len(resp), err, time.Since(start))
		}
	}
}

func TestAgentServerPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("handler failed")
		}
		echo(w, r)
	})
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: h})
	nc := dialTest(t, addr)
	io.WriteString(nc, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, err := readAllResponses(t, nc); len(resp) != 0 || err != nil {
		t.Errorf("after a panic: %d responses, %v; want a close", len(resp), err)
	}
	c := newTestClient(t, nil)
	resp, err := c.Get("http://" + addr + "/fine")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after a panic: %d", resp.StatusCode)
	}
}

func TestAgentServerShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		echo(w, r)
	})
	s, addr := startTestAgentServer(t, agentServerConfig{Handler: h})

	fresh := dialTest(t, addr) // never sends a request
	idle := dialTest(t, addr)  // sent one
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	busy := dialTest(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered

	done := make(chan error, 1)
	go func() { done <- s.shutdown(10 * time.Second) }()
	for _, nc := range []net.Conn{fresh, idle} {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("idle connection: %d, %v; want it closed", n, err)
		}
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Errorf("the listener still accepts")
	}
	select {
	case err := <-done:
		t.Fatalf("shutdown returned %v with a request in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	resp, err := readAllResponses(t, busy, "GET")
	if err != nil || len(resp) != 1 || resp[0].StatusCode != http.StatusOK || !resp[0].Close {
		t.Errorf("request in progress: %d responses, %v", len(resp), err)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestAgentServerShutdownTimeout(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	s, addr := startTestAgentServer(t, agentServerConfig{Handler: h})
	nc := dialTest(t, addr)
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := s.shutdown(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown: %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// TestAgentServerWebhook delivers signed actions to webhook.Handler
// through the server: the signature is checked as with net/http's server,
// and a wrong secret is refused.
func TestAgentServerWebhook(t *testing.T) {
	secret := []byte("webhook secret")
	var got atomic.Int64
	h := webhook.Handler(webhook.HandlerConfig{Secret: secret}, func(_ context.Context, m *dispatch.Message) ([]*event.Event, error) {
		got.Add(1)
		return []*event.Event{{Type: "done", Data: []byte(`{"id":"` + m.MessageID + `"}`)}}, nil
	})
	_, addr := startTestAgentServer(t, agentServerConfig{Handler: h})
	deliver := func(secret []byte, id string) (dispatch.Result, error) {
		tr, err := webhook.New(webhook.Config{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		d := &dispatch.Delivery{
			Action:  &engine.Action{ID: id, Action: "act", CorrelationID: "c"},
			Agent:   agent.Profile{ID: "a", Endpoint: "http://" + addr + "/"},
			Attempt: 1,
			Message: dispatch.Message{MessageID: id, Action: "act", CorrelationID: "c", Attempt: 1},
		}
		return tr.Deliver(context.Background(), d)
	}
	res, err := deliver(secret, "m1")
	if err != nil || len(res.Events) != 1 || string(res.Events[0].Data) != `{"id":"m1"}` {
		t.Errorf("signed delivery: %+v, %v", res, err)
	}
	_, err = deliver([]byte("wrong"), "m2")
	var se *webhook.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized || !strings.Contains(se.Body, webhook.CodeBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	_, err = deliver(nil, "m3")
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %v", err)
	}
	if got.Load() != 1 {
		t.Errorf("%d actions taken, want 1", got.Load())
	}
}

// fakeConn is a connection that reads from a fixed input and keeps what
// is written to it; deadlines are ignored.
type fakeConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzReadRequest reads arbitrary input as requests. It must not panic;
// a request it accepts must have canonical header names, values without
// line ends, and a body of its Content-Length; when net/http reads the
// same request, both must agree on the method, target, protocol, body
// length and body. Then the input is served as a connection's requests,
// which must not panic either and must answer with HTTP/1.x only.
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nA",
		"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nAGET / HTTP/1.0\r\n\r\n",
		"\r\nGET http://x:1/p HTTP/1.1\r\nhost: h\r\nx-a: 1\r\nX-A: 2\r\nConnection: close\r\n\r\n",
		"GET * HTTP/1.1\nHost: h\n\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"GET / HTTP/2.0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	cfg := agentServerConfig{Handler: echo, MaxHeaderBytes: 4 << 10, MaxBodyBytes: 64 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newAgentServer(cfg)
		defer s.cancel()
		c := s.newConn(&fakeConn{r: bytes.NewReader(data)})
		if err := c.readRequest(); err == nil {
			r := &c.req
			body, berr := io.ReadAll(r.Body)
			for k, vs := range r.Header {
				if k != textproto.CanonicalMIMEHeaderKey(k) || k == "Host" {
					t.Errorf("header name %q", k)
				}
				for _, v := range vs {
					if strings.ContainsAny(v, "\r\n\x00") {
						t.Errorf("header value %q", v)
					}
				}
			}
			if berr == nil && r.ContentLength >= 0 && int64(len(body)) != r.ContentLength {
				t.Errorf("body of %d bytes, Content-Length %d", len(body), r.ContentLength)
			}
			if hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data))); err == nil {
				hbody, hberr := io.ReadAll(hr.Body)
				if hr.Method != r.Method || hr.RequestURI != r.RequestURI || hr.Proto != r.Proto ||
					hr.ContentLength != r.ContentLength || hr.Host != r.Host {
					t.Errorf("read %s %s %s host %q length %d; net/http: %s %s %s host %q length %d",
						r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength,
						hr.Method, hr.RequestURI, hr.Proto, hr.Host, hr.ContentLength)
				}
				if berr == nil && hberr == nil && !bytes.Equal(body, hbody) {
					t.Errorf("body %q; net/http: %q", body, hbody)
				}
			}
		}

		fc := &fakeConn{r: bytes.NewReader(data)}
		c = s.newConn(fc)
		s.wg.Add(1)
		c.serve()
		if out := fc.out.Bytes(); len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.")) {
			t.Errorf("answered %q", out)
		}
	})
}

// BenchmarkAgentServer measures signed webhook deliveries to
// webhook.Handler over keep-alive loopback connections, served by
// agentServer and, for comparison, by net/http's server. The client side
// is the package's lean one, so that the figures are mostly the server's.
func BenchmarkAgentServer(b *testing.B) {
	secret := []byte("benchmark secret")
	h := webhook.Handler(webhook.HandlerConfig{Secret: secret}, func(context.Context, *dispatch.Message) ([]*event.Event, error) {
		return nil, nil
	})
	body := []byte(`{"message_id":"0194c3a0-0000-8000-8000-000000000001","action":"bench_sink","correlation_id":"c1","attempt":1,` +
		`"payload":{"choreography_context":{"trigger_event_ids":["bench-1-0000000001"]}}}`)
	for _, bc := range []struct {
		name  string
		serve func(net.Listener) (stop func())
	}{
		{"agentServer", func(ln net.Listener) func() {
			s := startAgentServer(ln, agentServerConfig{Handler: h})
			return func() { s.shutdown(time.Second) }
		}},
		{"net-http", func(ln net.Listener) func() {
			s := &http.Server{Handler: h}
			go s.Serve(ln)
			return func() { s.Close() }
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			stop := bc.serve(ln)
			defer stop()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				defer nc.Close()
				br := bufio.NewReader(nc)
				var resp response
				var req []byte
				for pb.Next() {
					ts := time.Now().Unix()
					req = fmt.Appendf(req[:0], "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
						"Idempotency-Key: k\r\nX-Choreo-Action: bench_sink\r\nX-Choreo-Attempt: 1\r\nX-Choreo-Correlation: c1\r\n"+
						"X-Choreo-Timestamp: %d\r\nX-Choreo-Signature: %s\r\nContent-Length: %d\r\n\r\n%s",
						ln.Addr(), ts, webhook.Sign(secret, ts, body), len(body), body)
					if _, err := nc.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := readHead(br, &resp); err != nil || resp.Status != http.StatusOK {
						b.Errorf("status %d, %v", resp.Status, err)
						return
					}
					if _, err := readBody(br, &resp, nil, maxBody, false); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
