package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Store = mem.New(store.Options{})
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeJSON(t *testing.T) {
	s := newTestServer(t, Config{MaxBodyBytes: 64})
	type doc struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Inner struct {
			Flag bool `json:"flag"`
		} `json:"inner"`
	}
	cases := []struct {
		name, ct, body string
		code, field    string
	}{
		{"ok", "application/json", `{"name":"a","count":2}`, "", ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a"}`, "", ""},
		{"ok +json", "application/vnd.choreo+json", `{"name":"a"}`, "", ""},
		{"wrong type", "text/plain", `{}`, "unsupported_media_type", ""},
		{"syntax", "application/json", `{"name":}`, "invalid_json", ""},
		{"empty", "application/json", ``, "invalid_json", ""},
		{"truncated", "application/json", `{"name":"a"`, "invalid_json", ""},
		{"field type", "application/json", `{"count":"two"}`, "invalid_field", "count"},
		{"nested field type", "application/json", `{"inner":{"flag":1}}`, "invalid_field", "inner.flag"},
		{"unknown field", "application/json", `{"nmae":"a"}`, "invalid_field", "nmae"},
		{"trailing", "application/json", `{"name":"a"} {}`, "invalid_json", ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", 100) + `"}`, "body_too_large", ""},
		{"name not utf-8", "application/json", "{\"name\":\"a\xff\"}", "invalid_field", "name"},
		{"nested not utf-8", "application/json", "{\"inner\":{\"flag\":\"\xc3\"}}", "invalid_field", "inner.flag"},
		{"top-level key not utf-8", "application/json", "{\"n\xffame\":\"a\"}", "invalid_json", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			r.Header.Set("Content-Type", c.ct)
			var d doc
			err := s.decodeJSON(r, &d)
			if c.code == "" {
				if err != nil {
					t.Fatalf("decodeJSON: %v", err)
				}
				if d.Name != "a" {
					t.Errorf("decoded %+v", d)
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Code != c.code || ae.Field != c.field {
				t.Errorf("error %v, want code %q field %q", err, c.code, c.field)
			}
		})
	}
}

func TestQueryHelpers(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?from=5&limit=2000&type=a&type=b", nil)
	q, err := parseQuery(r, params{names: []string{"from", "limit", "type"}, repeatable: []string{"type"}})
	if err != nil {
		t.Fatal(err)
	}
	if from, err := queryUint(q, "from", 0); err != nil || from != 5 {
		t.Errorf("from = %d, %v", from, err)
	}
	if lim, err := queryLimit(q, 100, 1000); err != nil || lim != 1000 {
		t.Errorf("limit = %d, %v; want capped at 1000", lim, err)
	}
	if def, err := queryUint(q, "absent", 9); err != nil || def != 9 {
		t.Errorf("default = %d, %v", def, err)
	}
	if _, err := parseQuery(httptest.NewRequest(http.MethodGet, "/?a=%zz", nil), takes("a")); err == nil {
		t.Error("malformed query accepted")
	}
}

func TestInvalidUTF8Field(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"{\"name\":\"\xff\"}", "name"},
		{"{\"name\":\"ok\",\"capabilities\":[\"a\",\"b\xfe\"]}", "capabilities[1]"},
		{"{\"capabilities\":[\"a\"],\"metadata\":{\"n\":1,\"k\":{\"x\":[true,null,\"\xff\"]}}}", "metadata.k.x[2]"},
		{"{\"metadata\":{\"k\xff\":1}}", "metadata"},
		{"{\"a\":[[1],{\"b\":2}],\"c\":\"\xed\xa0\x80\"}", "c"},
		{" [ \"ok\" , \"\xff\" ] ", "[1]"},
		{"\"\xff\"", ""},
		{"{\"k\xff\":1}", ""},
		{"{\"name\":\xff}", ""}, // not JSON
	} {
		if got := invalidUTF8Field([]byte(c.body)); got != c.want {
			t.Errorf("invalidUTF8Field(%q) = %q, want %q", c.body, got, c.want)
		}
	}
}

// TestStatusTable: every code has a status, and the route adapter writes
// it with the error document.
func TestStatusTable(t *testing.T) {
	for code, status := range statusOf {
		w := httptest.NewRecorder()
		writeAPIError(w, &apiError{Code: code, Message: "m"})
		if w.Code != status {
			t.Errorf("%s: status %d, want %d", code, w.Code, status)
		}
		var doc map[string]map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc["error"]["code"] != code {
			t.Errorf("%s: body %s", code, w.Body)
		}
		if _, ok := doc["error"]["field"]; ok {
			t.Errorf("%s: an empty field is written", code)
		}
	}
}

func newFuzzServer(f *testing.F) *Server {
	f.Helper()
	s, err := New(Config{Store: mem.New(store.Options{}), MaxBatch: 20})
	if err != nil {
		f.Fatal(err)
	}
	return s
}
