package server_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/choreohq/choreo/server"
)

// TestEveryRouteRefusesUnknownParameters walks every route the server
// mounts, with every service and A2A, and sends it an unknown query
// parameter along with a request that would otherwise succeed: each API
// route refuses it before doing anything; the probes, the scrape endpoint
// and the agent card take it.
func TestEveryRouteRefusesUnknownParameters(t *testing.T) {
	e, _ := opsEnv(t)
	if err := e.srv.MountA2A(server.A2AConfig{BaseURL: e.url}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.send("PUT", "/v1/choreographies/shop", "application/yaml", shopDoc), http.StatusCreated, "")
	wantStatus(t, e.send("POST", "/v1/agents", "application/json",
		`{"id":"inv","capabilities":["inventory_management"],"endpoint":"inv","protocol":"inproc"}`), http.StatusCreated, "")
	head := e.head()

	// Bodies that the routes would accept.
	bodies := map[string][2]string{
		"POST /v1/events":                {ceJSON, ev("walk-1", "t", "walk")},
		"POST /v1/agents":                {"application/json", `{"id":"walker","capabilities":["x"],"endpoint":"walker","protocol":"inproc"}`},
		"POST /v1/agents/{id}/heartbeat": {"application/json", `{"load":0.5}`},
		"PUT /v1/choreographies/{name}":  {"application/yaml", strings.Replace(shopDoc, "check_inventory", "walk", 1)},
		"POST " + server.A2APath:         {"application/json", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"messageId":"m","role":"user","parts":[{"kind":"data","data":{"type":"t","source":"s"}}]}}}`},
	}
	path := strings.NewReplacer("{id}", "inv", "{name}", "shop", "{id...}", "walk-0", "{stream...}", "walk")
	routes := server.RouteQueries(e.srv)
	if len(routes) < 30 {
		t.Fatalf("only %d routes mounted: %v", len(routes), routes)
	}
	for pattern, checked := range routes {
		method, p, _ := strings.Cut(pattern, " ")
		p = path.Replace(p)
		api := strings.HasPrefix(p, "/v1/") || p == server.A2APath
		t.Run(pattern, func(t *testing.T) {
			if api != checked {
				t.Fatalf("checks its parameters: %v; want %v", checked, api)
			}
			b := bodies[pattern]
			r := e.send(method, p+"?bogus=1", b[0], b[1])
			if !api {
				if r.status >= 300 {
					t.Fatalf("status %d, want the parameter ignored: %s", r.status, r.body)
				}
				return
			}
			wantStatus(t, r, http.StatusBadRequest, server.CodeInvalidQuery)
			got := r.err(t).Error
			if got.Field == nil || *got.Field != "bogus" {
				t.Errorf("field %v, want bogus", got.Field)
			}
			if strings.HasSuffix(got.Message, "takes ") {
				t.Errorf("message %q lists no parameters", got.Message)
			}
		})
	}

	// Nothing was done.
	if h := e.head(); h != head {
		t.Errorf("the log grew from %d to %d records", head, h)
	}
	wantStatus(t, e.get("/v1/agents/inv"), http.StatusOK, "")
	wantStatus(t, e.get("/v1/agents/walker"), http.StatusNotFound, server.CodeNotFound)
	if r := e.get("/v1/choreographies/shop"); !strings.Contains(string(r.body), `"version":1`) {
		t.Errorf("the choreography changed: %s", r.body)
	}
}

func TestUnknownParameterMessages(t *testing.T) {
	e, _ := opsEnv(t)
	for _, c := range []struct{ path, want string }{
		{"/v1/agents?x=1", "unknown parameter; this endpoint takes none"},
		{"/v1/correlations/c?x=1", "unknown parameter; this endpoint takes none"},
		{"/v1/events?x=1", "unknown parameter; this endpoint takes from, limit"},
	} {
		r := e.get(c.path)
		wantStatus(t, r, http.StatusBadRequest, server.CodeInvalidQuery)
		if got := r.err(t).Error.Message; got != c.want {
			t.Errorf("%s: message %q, want %q", c.path, got, c.want)
		}
	}
}

// Paths are taken as sent: one that HTTP path cleaning would change is
// not found, in JSON, rather than redirected to another resource.
func TestUncleanPaths(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	e.post("stream=b", ceJSON, ev("in-b", "t", "")).positions(t)
	for _, p := range []string{"//v1/events", "/v1/streams/a/../b", "/v1/streams/./b", "/v1//events", "/v1/streams"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if method == http.MethodPost && p == "/v1/streams" {
				continue // 405: the route exists, for GET
			}
			r := e.do(method, p, http.Header{"Content-Type": {ceJSON}}, []byte(ev("unclean", "t", "")))
			wantStatus(t, r, http.StatusNotFound, server.CodeNotFound)
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("%s %s: Location %q, want no redirect", method, p, loc)
			}
		}
	}
	r := e.get("/v1/streams/a/../b")
	if msg := r.err(t).Error.Message; !strings.Contains(msg, "%2F") {
		t.Errorf("message %q does not say how to send the name", msg)
	}
	// Encoded, the name reads as the stream it is: empty.
	if p := e.get("/v1/streams/a%2F..%2Fb").page(t); len(p.Events) != 0 {
		t.Errorf("stream a/../b: %d events, want none", len(p.Events))
	}
	if e.head() != 1 {
		t.Errorf("head = %d, want 1: nothing published", e.head())
	}
}

// A body with a content coding is refused, not read as malformed JSON.
func TestContentEncodingRefused(t *testing.T) {
	e, _ := opsEnv(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(ev("gz-1", "t", "")))
	zw.Close()
	for _, c := range []struct{ method, path, ct, coding string }{
		{"POST", "/v1/events", ceJSON, "gzip"},
		{"POST", "/v1/events", ceJSON, "identity, br"},
		{"POST", "/v1/agents", "application/json", "deflate"},
		{"PUT", "/v1/choreographies/shop", "application/yaml", "gzip"},
		{"POST", "/v1/agents/inv/heartbeat", "application/json", "zstd"},
	} {
		h := http.Header{"Content-Type": {c.ct}, "Content-Encoding": {c.coding}}
		r := e.do(c.method, c.path, h, gz.Bytes())
		wantStatus(t, r, http.StatusUnsupportedMediaType, server.CodeUnsupportedEncoding)
		if got := r.err(t).Error; got.Field == nil || *got.Field != "Content-Encoding" {
			t.Errorf("%s %s: field %v, want Content-Encoding", c.method, c.path, got.Field)
		}
		if ae := r.header.Get("Accept-Encoding"); ae != "identity" {
			t.Errorf("%s %s: Accept-Encoding %q, want identity", c.method, c.path, ae)
		}
	}
	// identity is no coding at all.
	h := http.Header{"Content-Type": {ceJSON}, "Content-Encoding": {"identity"}}
	e.do("POST", "/v1/events", h, []byte(ev("id-1", "t", ""))).positions(t)
}

// A limit too large for any integer type is lowered to the maximum like
// any other large one; what is not a positive integer stays an error.
func TestHugeLimitLowered(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	batch := make([]string, 1000)
	for i := range batch {
		batch[i] = `{"specversion":"1.0","source":"s","type":"t"}`
	}
	e.post("stream=big", ceBatch, "["+strings.Join(batch, ",")+"]").positions(t)
	e.post("stream=big", ceJSON, ev("one-more", "t", "")).positions(t)
	for _, p := range []string{"/v1/events?limit=99999999999999999999", "/v1/streams/big?limit=184467440737095516160", "/v1/events?limit=5000"} {
		if got := e.get(p).page(t); len(got.Events) != 1000 || got.Next != 1000 {
			t.Errorf("%s: %d events, next %d; want 1000 and 1000", p, len(got.Events), got.Next)
		}
	}
	for _, v := range []string{"-1", "0", "abc", "1.5", "-99999999999999999999", ""} {
		r := e.get("/v1/events?limit=" + v)
		wantStatus(t, r, http.StatusBadRequest, server.CodeInvalidQuery)
	}
	r := e.get("/v1/events?from=99999999999999999999")
	wantStatus(t, r, http.StatusBadRequest, server.CodeInvalidQuery)
	if msg := r.err(t).Error.Message; !strings.Contains(msg, "largest") {
		t.Errorf("from out of range: message %q", msg)
	}
}

// A correlation id (or the id it defaults to) that cannot name a stream
// is reported on the event, whether or not ?stream= is given.
func TestBadCorrelationReportedOnEvent(t *testing.T) {
	e := newEnv(t, server.Config{}) // no Limits: the store checks the events
	for _, c := range []struct {
		name, ct, body, field string
	}{
		{"control character", ceJSON, ev("c1", "t", "", `"correlationid":"a\u0001b"`), "correlationid"},
		{"invalid UTF-8", ceJSON, ev("c2", "t", "", "\"correlationid\":\"a\xffb\""), "correlationid"},
		{"id without correlation", ceJSON, ev(`c3\u0007`, "t", ""), "id"},
		{"batch", ceBatch, "[" + ev("c4", "t", "", `"correlationid":"x\u001fy"`) + "," + ev("c5", "t", "ok") + "]", "events[0].correlationid"},
	} {
		for _, query := range []string{"", "stream=given"} {
			t.Run(c.name+"/"+query, func(t *testing.T) {
				r := e.post(query, c.ct, c.body)
				wantStatus(t, r, http.StatusBadRequest, "invalid_field")
				if got := r.err(t).Error; got.Field == nil || *got.Field != c.field {
					t.Errorf("field %v, want %q (%s)", got.Field, c.field, got.Message)
				}
			})
		}
	}
	// A correlation id that is fine as an id but names a reserved stream
	// is still the stream's business.
	wantStatus(t, e.post("", ceJSON, ev("c6", "t", "$actions")), http.StatusBadRequest, server.CodeReservedStream)
	if e.head() != 0 {
		t.Errorf("head = %d, want 0", e.head())
	}
}

// Binary-mode errors say what is missing or assumed.
func TestBinaryModeMessages(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	h := http.Header{"Ce-Id": {"b1"}, "Ce-Source": {"s"}, "Ce-Type": {"t"}, "Content-Type": {"text/plain"}}
	r := e.do(http.MethodPost, "/v1/events", h, []byte("hello"))
	wantStatus(t, r, http.StatusBadRequest, "missing_field")
	if got := r.err(t).Error; got.Field == nil || *got.Field != "specversion" || !strings.Contains(got.Message, "ce-specversion") {
		t.Errorf("no ce-specversion: field %v, message %q", got.Field, got.Message)
	}
	delete(h, "Content-Type")
	r = e.do(http.MethodPost, "/v1/events", h, []byte("hello"))
	wantStatus(t, r, http.StatusBadRequest, "missing_field")

	h = http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"b2"}, "Ce-Source": {"s"}, "Ce-Type": {"t"}}
	r = e.do(http.MethodPost, "/v1/events", h, []byte("hello"))
	wantStatus(t, r, http.StatusBadRequest, "invalid_field")
	got := r.err(t).Error
	if strings.Contains(got.Message, `Content-Type "application/json"`) || !strings.Contains(got.Message, "without a Content-Type") {
		t.Errorf("no Content-Type: message %q", got.Message)
	}
	if e.head() != 0 {
		t.Errorf("head = %d, want 0", e.head())
	}
}
