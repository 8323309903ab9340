package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/choreohq/choreo/server"
)

// TestPublishInvalidUTF8: an event with bytes that are not UTF-8 in its
// attributes or its JSON data is refused in every mode, naming the field,
// and the log is left as it was; binary data stays bytes.
func TestPublishInvalidUTF8(t *testing.T) {
	e := newEnv(t, server.Config{})
	const head = `{"specversion":"1.0","id":"u1","source":"s","type":"t"`
	binary := func(ct string) http.Header {
		return http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"u2"}, "Ce-Source": {"s"}, "Ce-Type": {"t"}, "Content-Type": {ct}}
	}
	cases := []struct {
		name   string
		header http.Header
		body   string
		field  string
	}{
		{"structured data", http.Header{"Content-Type": {ceJSON}}, head + ",\"data\":\"\xff\xfe\"}", "data"},
		{"plain JSON data", http.Header{"Content-Type": {"application/json"}}, head + ",\"data\":{\"note\":\"\xff\"}}", "data"},
		{"text data", http.Header{"Content-Type": {ceJSON}}, head + ",\"datacontenttype\":\"text/plain\",\"data\":\"\xff\"}", "data"},
		{"source", http.Header{"Content-Type": {ceJSON}}, "{\"specversion\":\"1.0\",\"id\":\"u1\",\"source\":\"a\xff\",\"type\":\"t\"}", "source"},
		{"type", http.Header{"Content-Type": {ceJSON}}, "{\"specversion\":\"1.0\",\"id\":\"u1\",\"source\":\"s\",\"type\":\"\xfe\"}", "type"},
		{"subject", http.Header{"Content-Type": {ceJSON}}, head + ",\"subject\":\"\xc3\"}", "subject"},
		{"id", http.Header{"Content-Type": {ceJSON}}, "{\"specversion\":\"1.0\",\"id\":\"\xff\",\"source\":\"s\",\"type\":\"t\"}", "id"},
		{"extension", http.Header{"Content-Type": {ceJSON}}, head + ",\"tenant\":\"\xff\"}", "tenant"},
		{"batch element", http.Header{"Content-Type": {ceBatch}}, "[" + ev("b1", "t", "") + "," + head + ",\"data\":\"\xff\"}]", "events[1].data"},
		{"binary mode JSON body", binary("application/json"), "\"\xff\"", "data"},
		{"binary mode +json body", binary("application/vnd.x+json; charset=utf-8"), "{\"a\": \"\xfe\"}", "data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.head()
			r := e.do(http.MethodPost, "/v1/events", c.header, []byte(c.body))
			if r.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", r.status, r.body)
			}
			if !utf8.Valid(r.body) {
				t.Errorf("error body %q is not UTF-8", r.body)
			}
			got := r.err(t)
			field := ""
			if got.Error.Field != nil {
				field = *got.Error.Field
			}
			if got.Error.Code != "invalid_field" || field != c.field || !strings.Contains(got.Error.Message, "UTF-8") {
				t.Errorf("code, field, message = %q, %q, %q; want invalid_field, %q, not valid UTF-8", got.Error.Code, field, got.Error.Message, c.field)
			}
			if after := e.head(); after != before {
				t.Errorf("the log grew from %d to %d events", before, after)
			}
		})
	}

	// Binary data is bytes: accepted in both modes, and served as base64.
	e.do(http.MethodPost, "/v1/events", binary("application/octet-stream"), []byte{0xff, 0xfe}).positions(t)
	e.post("", ceJSON, `{"specversion":"1.0","id":"u3","source":"s","type":"t","datacontenttype":"application/octet-stream","data_base64":"//4="}`).positions(t)
	// Valid text outside ASCII is text.
	e.post("", ceJSON, `{"specversion":"1.0","id":"u4","source":"café","type":"t","data":{"k":"日本 \u00e9"}}`).positions(t)
	r := e.get("/v1/events")
	if !utf8.Valid(r.body) || !json.Valid(r.body) {
		t.Fatalf("GET /v1/events: not valid UTF-8 JSON: %q", r.body)
	}
	p := r.page(t)
	if len(p.Events) != 3 {
		t.Fatalf("%d events in the log, want 3: %s", len(p.Events), r.body)
	}
	if got := p.Events[0]["data_base64"]; got != "//4=" {
		t.Errorf("binary data served as %v, want //4=", got)
	}
	if got := p.Events[2]["source"]; got != "café" {
		t.Errorf("source served as %v, want café", got)
	}
}

// TestRegisterAgentInvalidUTF8: a profile with a string that is not UTF-8
// is refused, naming the field, instead of being registered with U+FFFD in
// place of the bytes.
func TestRegisterAgentInvalidUTF8(t *testing.T) {
	e, _ := opsEnv(t)
	for _, c := range []struct{ name, body, field string }{
		{"capability", "{\"id\":\"a1\",\"capabilities\":[\"x\",\"inv\xff\"],\"endpoint\":\"a1\",\"protocol\":\"inproc\"}", "capabilities[1]"},
		{"name", "{\"id\":\"a1\",\"name\":\"\xfe\",\"capabilities\":[\"x\"],\"endpoint\":\"a1\",\"protocol\":\"inproc\"}", "name"},
		{"endpoint", "{\"id\":\"a1\",\"capabilities\":[\"x\"],\"endpoint\":\"http://h/\xff\"}", "endpoint"},
		{"metadata value", "{\"id\":\"a1\",\"capabilities\":[\"x\"],\"endpoint\":\"a1\",\"protocol\":\"inproc\",\"metadata\":{\"k\":{\"v\":\"\xff\"}}}", "metadata.k.v"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.send("POST", "/v1/agents", "application/json", c.body)
			wantStatus(t, r, http.StatusBadRequest, "invalid_field")
			got := r.err(t)
			if got.Error.Field == nil || *got.Error.Field != c.field || !strings.Contains(got.Error.Message, "UTF-8") {
				t.Errorf("field %v, message %q; want %q, not valid UTF-8", got.Error.Field, got.Error.Message, c.field)
			}
		})
	}
	wantStatus(t, e.send("POST", "/v1/agents/a1/heartbeat", "application/json", "{\"status\":\"\xff\"}"), http.StatusBadRequest, "invalid_field")
	if r := e.get("/v1/agents"); strings.Contains(string(r.body), `"a1"`) {
		t.Fatalf("a refused profile was registered: %s", r.body)
	}
}
