package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a server over real HTTP on 127.0.0.1 and its store.
type env struct {
	t     testing.TB
	store store.Store
	srv   *server.Server
	ts    *httptest.Server
	url   string
}

// newEnv serves cfg (with a durable Pebble store in a temporary directory
// when cfg.Store is nil) over HTTP. Everything is closed at the end of the
// test.
func newEnv(t testing.TB, cfg server.Config) *env {
	t.Helper()
	if cfg.Store == nil {
		s, err := pebble.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Store = s
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	e := &env{t: t, store: cfg.Store, srv: srv, ts: ts, url: ts.URL}
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		cfg.Store.Close()
	})
	return e
}

// newMemEnv is newEnv over the in-memory store.
func newMemEnv(t testing.TB, cfg server.Config) *env {
	cfg.Store = mem.New(store.Options{})
	return newEnv(t, cfg)
}

// response is a response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// apiErr is the API's error document.
type apiErr struct {
	Error struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   *string `json:"field"`
	} `json:"error"`
}

func (r response) err(t testing.TB) apiErr {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("want a JSON error, got %d %q (%v)", r.status, r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return e
}

// do sends a request and reads the whole response.
func (e *env) do(method, path string, header http.Header, body []byte) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends body to POST /v1/events?query with contentType.
func (e *env) post(query, contentType, body string) response {
	e.t.Helper()
	path := "/v1/events"
	if query != "" {
		path += "?" + query
	}
	return e.do(http.MethodPost, path, http.Header{"Content-Type": {contentType}}, []byte(body))
}

func (e *env) get(path string) response {
	e.t.Helper()
	return e.do(http.MethodGet, path, nil, nil)
}

func (e *env) head() uint64 {
	e.t.Helper()
	h, err := e.store.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// position is one entry of a publish response.
type position struct {
	ID             string `json:"id"`
	Stream         string `json:"stream"`
	StreamPosition uint64 `json:"stream_position"`
	GlobalPosition uint64 `json:"global_position"`
}

func (r response) positions(t testing.TB) []position {
	t.Helper()
	if r.status != http.StatusCreated {
		t.Fatalf("publish: status %d, body %s", r.status, r.body)
	}
	var doc struct {
		Events []position `json:"events"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("publish response %q: %v", r.body, err)
	}
	return doc.Events
}

// page is a read response with records as generic maps.
type page struct {
	Events []map[string]any `json:"events"`
	Next   uint64           `json:"next"`
}

func (r response) page(t testing.TB) page {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("read: status %d, body %s", r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("read response %q: %v", r.body, err)
	}
	return p
}

// ev returns a structured-mode event with about 200 bytes of data; extra
// attributes are spliced in as JSON members ("\"subject\":\"x\"").
func ev(id, typ, corr string, extra ...string) string {
	var b strings.Builder
	b.WriteString(`{"specversion":"1.0","source":"agent/test","type":"` + typ + `"`)
	if id != "" {
		b.WriteString(`,"id":"` + id + `"`)
	}
	if corr != "" {
		b.WriteString(`,"correlationid":"` + corr + `"`)
	}
	for _, x := range extra {
		b.WriteString("," + x)
	}
	b.WriteString(`,"data":{"order_id":"o-1","order_value":129.95,"currency":"EUR","customer":"c-1042","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"leave at the door"}}`)
	return b.String()
}

const ceJSON = "application/cloudevents+json"
const ceBatch = "application/cloudevents-batch+json"

func memStore() store.Store { return mem.New(store.Options{}) }
