package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
)

// frame is one server-sent event, or a comment.
type frame struct {
	id, event, data, comment string
}

// stream is an open subscription.
type stream struct {
	t      *testing.T
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

// subscribe opens GET /v1/subscribe?query with header.
func (e *env) subscribe(t *testing.T, query string, header http.Header) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/v1/subscribe?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{t: t, resp: resp, br: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	if resp.StatusCode != 200 {
		return s
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	if f := s.next(); f.comment != "subscribed" {
		t.Fatalf("first frame %+v, want the subscribed comment", f)
	}
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads the next frame.
func (s *stream) next() frame {
	s.t.Helper()
	f, err := s.read()
	if err != nil {
		s.t.Fatalf("reading the stream: %v", err)
	}
	return f
}

func (s *stream) read() (frame, error) {
	var f frame
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			return f, nil
		case strings.HasPrefix(line, ": "):
			f.comment = line[2:]
		case strings.HasPrefix(line, "id: "):
			f.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if f.data != "" {
				s.t.Errorf("a second data line: %q", line)
			}
			f.data = line[6:]
		default:
			s.t.Errorf("unexpected line %q", line)
		}
	}
}

// nextEvent skips heartbeats and returns the next event.
func (s *stream) nextEvent() frame {
	s.t.Helper()
	for {
		if f := s.next(); f.comment == "" {
			return f
		}
	}
}

// record decodes the frame's data.
func (f frame) record(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(f.data), &m); err != nil {
		t.Fatalf("data %q: %v", f.data, err)
	}
	if fmt.Sprint(m["global_position"]) != f.id {
		t.Errorf("id %s, global_position %v", f.id, m["global_position"])
	}
	return m
}

func TestSubscribe(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.post("", ceJSON, ev("e0", "order_received", "o1")).positions(t)
	e.post("", ceJSON, ev("e1", "payment_processed", "o1")).positions(t)
	e.post("", ceJSON, ev("e2", "order_received", "o2")).positions(t)

	s := e.subscribe(t, "", nil)
	for i, want := range []string{"order_received", "payment_processed", "order_received"} {
		f := s.nextEvent()
		if f.id != fmt.Sprint(i) || f.event != want {
			t.Fatalf("event %d: %+v", i, f)
		}
		if rec := f.record(t); rec["id"] != fmt.Sprintf("e%d", i) || rec["stream"] == nil {
			t.Errorf("record %v", rec)
		}
	}
	// Live: events appended after the stream opened.
	e.post("", ceBatch, "["+ev("e3", "shipped", "o1")+","+ev("e4", "delivered", "o1")+"]").positions(t)
	for i := 3; i < 5; i++ {
		if f := s.nextEvent(); f.id != fmt.Sprint(i) {
			t.Fatalf("live event: %+v, want id %d", f, i)
		}
	}

	// Resume after id 3: Last-Event-ID wins over from.
	r := e.subscribe(t, "from=0", http.Header{"Last-Event-ID": {"3"}})
	if f := r.nextEvent(); f.id != "4" {
		t.Errorf("resumed at %+v, want id 4", f)
	}
	// from alone.
	r = e.subscribe(t, "from=2", nil)
	if f := r.nextEvent(); f.id != "2" {
		t.Errorf("from=2 starts at %+v", f)
	}
}

func TestSubscribeFilters(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.post("stream=s1", ceJSON, ev("e0", "a", "c1")).positions(t)
	e.post("stream=s2", ceJSON, ev("e1", "b", "c1")).positions(t)
	e.post("stream=s1", ceJSON, ev("e2", "c", "c2")).positions(t)
	e.post("stream=s2", ceJSON, ev("e3", "a", "c2")).positions(t)
	e.post("stream=s2", ceJSON, ev("e4", "d", "c2")).positions(t)
	cases := []struct {
		query string
		ids   string
	}{
		{"type=a", "0,3"},
		{"type=a&type=c", "0,2,3"},
		{"stream=s2", "1,3,4"},
		{"correlation=c1", "0,1"},
		{"correlation=c2&type=a", "3"},
		{"stream=s1&type=c", "2"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			s := e.subscribe(t, c.query, nil)
			var got []string
			for range strings.Split(c.ids, ",") {
				got = append(got, s.nextEvent().id)
			}
			if strings.Join(got, ",") != c.ids {
				t.Errorf("ids %v, want %s", got, c.ids)
			}
			// Nothing else arrives: the next event is a later match.
			e.post("stream=zz", ceJSON, ev("", "zz", "")).positions(t)
			if len(got) > 0 {
				done := make(chan frame, 1)
				go func() { f, _ := s.read(); done <- f }()
				select {
				case f := <-done:
					if f.id != "" {
						t.Errorf("an unselected event arrived: %+v", f)
					}
				case <-time.After(100 * time.Millisecond):
				}
				s.close()
				<-done
			}
		})
	}
}

func TestSubscribeHeartbeat(t *testing.T) {
	e := newMemEnv(t, server.Config{Heartbeat: 20 * time.Millisecond})
	s := e.subscribe(t, "", nil)
	if f := s.next(); f.comment != "heartbeat" {
		t.Errorf("idle stream sent %+v, want a heartbeat comment", f)
	}
	// Events still flow between heartbeats.
	e.post("", ceJSON, ev("h1", "t", "")).positions(t)
	if f := s.nextEvent(); f.id != "0" {
		t.Errorf("event %+v", f)
	}
	if f := s.next(); f.comment != "heartbeat" {
		t.Errorf("then %+v, want a heartbeat", f)
	}
}

func TestSubscribeErrors(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	cases := []struct {
		query  string
		header http.Header
		code   string
		field  string
	}{
		{"from=x", nil, "invalid_query", "from"},
		{"from=1&from=2", nil, "invalid_query", "from"},
		{"type=", nil, "invalid_query", "type"},
		{"correlation=", nil, "invalid_query", "correlation"},
		{"stream=", nil, "invalid_query", "stream"},
		{"topic=x", nil, "invalid_query", "topic"},
		{"", http.Header{"Last-Event-ID": {"abc"}}, "invalid_header", "Last-Event-ID"},
		{"", http.Header{"Last-Event-ID": {"18446744073709551615"}}, "invalid_header", "Last-Event-ID"},
	}
	for _, c := range cases {
		r := e.do(http.MethodGet, "/v1/subscribe?"+c.query, c.header, nil)
		got := r.err(t)
		if r.status != 400 || got.Error.Code != c.code || got.Error.Field == nil || *got.Error.Field != c.field {
			t.Errorf("%s %v: %d %+v, want 400 %s %s", c.query, c.header, r.status, got.Error, c.code, c.field)
		}
	}
}

// TestSubscribeClose: Server.Close ends open streams and refuses new ones.
func TestSubscribeClose(t *testing.T) {
	e := newEnv(t, server.Config{})
	s := e.subscribe(t, "", nil)
	closed := make(chan struct{})
	go func() {
		e.srv.Close()
		close(closed)
	}()
	if _, err := s.read(); err != io.EOF {
		t.Errorf("after Close the stream read %v, want EOF", err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	r := e.get("/v1/subscribe")
	if got := r.err(t); r.status != 503 || got.Error.Code != "closed" {
		t.Errorf("subscribe after Close: %d %s", r.status, got.Error.Code)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// Other endpoints still serve, so in-flight work can drain.
	e.post("", ceJSON, ev("after", "t", "")).positions(t)
}

// TestSubscribeStoreClosed: a stream ends when its store closes.
func TestSubscribeStoreClosed(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	s := e.subscribe(t, "", nil)
	e.store.Close()
	if _, err := s.read(); err != io.EOF {
		t.Errorf("after the store closed the stream read %v, want EOF", err)
	}
}

// TestSubscribeIndentedData: data held with line breaks (written by Go
// code, not through the API) still travels as one data line.
func TestSubscribeIndentedData(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	_, err := e.store.Append(context.Background(), "s", store.Any, []*event.Event{{
		SpecVersion: "1.0", Source: "s", Type: "multi\nline", Data: json.RawMessage("{\n  \"a\": [1,\r\n 2]\n}"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := e.subscribe(t, "", nil).nextEvent()
	if f.event != "" {
		t.Errorf("event field %q for a type with a line break; want it left out", f.event)
	}
	rec := f.record(t)
	if fmt.Sprint(rec["data"]) != "map[a:[1 2]]" || rec["type"] != "multi\nline" {
		t.Errorf("record %v", rec)
	}
}

// flushCounter is a ResponseWriter that counts flushes.
type flushCounter struct {
	mu      sync.Mutex
	header  http.Header
	buf     bytes.Buffer
	flushes int
	status  int
	want    string
	done    chan struct{} // closed once buf holds want
}

func (w *flushCounter) Header() http.Header { return w.header }
func (w *flushCounter) WriteHeader(s int)   { w.status = s }
func (w *flushCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	return len(b), nil
}
func (w *flushCounter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	if w.done != nil && bytes.Contains(w.buf.Bytes(), []byte(w.want)) {
		close(w.done)
		w.done = nil
	}
}

// TestSubscribeFlushesPerBatch: a subscriber far behind gets its backlog
// in large writes, not one flush per event.
func TestSubscribeFlushesPerBatch(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	const n = 2000
	for i := 0; i < n; i += 100 {
		var evs []string
		for j := range 100 {
			evs = append(evs, ev(fmt.Sprintf("f%d", i+j), "t", ""))
		}
		e.post("stream=f", ceBatch, "["+strings.Join(evs, ",")+"]").positions(t)
	}
	w := &flushCounter{header: make(http.Header), want: fmt.Sprintf("id: %d\n", n-1), done: make(chan struct{})}
	done := w.done
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/subscribe", nil)
	served := make(chan struct{})
	go func() {
		e.srv.Handler().ServeHTTP(w, req)
		close(served)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the backlog did not arrive")
	}
	cancel()
	<-served
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := strings.Count(w.buf.String(), "\nid: ") + 0; got < n-1 {
		t.Errorf("%d events written, want %d", got, n)
	}
	if w.flushes > 10 {
		t.Errorf("%d flushes for a backlog of %d events; want a handful", w.flushes, n)
	}
	t.Logf("%d events, %d bytes, %d flushes", n, w.buf.Len(), w.flushes)
}

// TestShutdownWithOpenStreams: an http.Server that closes the Server on
// shutdown drains even with subscription streams open.
func TestShutdownWithOpenStreams(t *testing.T) {
	srv, err := server.New(server.Config{Store: memStore()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	hs.RegisterOnShutdown(func() { srv.Close() })
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	e := &env{t: t, url: "http://" + ln.Addr().String()}
	streams := []*stream{e.subscribe(t, "", nil), e.subscribe(t, "type=x", nil)}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	for _, s := range streams {
		if _, err := s.read(); err != io.EOF {
			t.Errorf("stream read %v after shutdown, want EOF", err)
		}
	}
}

// TestSubscribeStuckClient: a client that stops reading is dropped once a
// write has waited StreamWriteTimeout, so Close does not hang on it.
func TestSubscribeStuckClient(t *testing.T) {
	if testing.Short() {
		t.Skip("writes megabytes")
	}
	e := newMemEnv(t, server.Config{StreamWriteTimeout: 100 * time.Millisecond})
	data := strings.Repeat("x", 4000)
	var batch []*event.Event
	for range 4000 {
		batch = append(batch, &event.Event{SpecVersion: "1.0", Source: "s", Type: "t", Data: json.RawMessage(`"` + data + `"`)})
	}
	for i := 0; i < len(batch); i += 1000 {
		if _, err := e.store.Append(context.Background(), "big", store.Any, batch[i:i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := conn.Write([]byte("GET /v1/subscribe HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Read the first bytes, so the stream is known to be open, then stop.
	if _, err := conn.Read(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		e.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Logf("Close returned after %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits on a client that does not read")
	}
}
