package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
)

func TestPublishStructured(t *testing.T) {
	e := newEnv(t, server.Config{})
	for _, ct := range []string{ceJSON, "application/json", "Application/CloudEvents+JSON; charset=utf-8"} {
		t.Run(ct, func(t *testing.T) {
			id := "ev-" + strings.NewReplacer("/", "", " ", "", ";", "", "=", "", "+", "").Replace(ct)
			before := e.head()
			pos := e.post("stream=orders-"+id, ct, ev(id, "order_received", "")).positions(t)
			want := []position{{ID: id, Stream: "orders-" + id, StreamPosition: 0, GlobalPosition: before}}
			if fmt.Sprint(pos) != fmt.Sprint(want) {
				t.Errorf("positions = %+v, want %+v", pos, want)
			}
			rec, err := e.store.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Event.Type != "order_received" || rec.Event.CorrelationID != id || rec.Stream != "orders-"+id {
				t.Errorf("stored %+v in %q, want type order_received, correlation %q", rec.Event, rec.Stream, id)
			}
		})
	}
}

func TestPublishDefaults(t *testing.T) {
	e := newEnv(t, server.Config{})

	// No id, no correlation: an id is generated and the event is its own
	// correlation and stream.
	pos := e.post("", ceJSON, ev("", "order_received", "")).positions(t)
	if len(pos) != 1 || pos[0].ID == "" || pos[0].Stream != pos[0].ID {
		t.Fatalf("positions = %+v, want a generated id that is also the stream", pos)
	}
	rec, err := e.store.Get(context.Background(), pos[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Event.CorrelationID != pos[0].ID {
		t.Errorf("correlation = %q, want the event's id %q", rec.Event.CorrelationID, pos[0].ID)
	}

	// With a correlation: the stream is the correlation id.
	pos = e.post("", ceJSON, ev("a1", "order_received", "order-7")).positions(t)
	if pos[0].Stream != "order-7" {
		t.Errorf("stream = %q, want the correlation id order-7", pos[0].Stream)
	}

	// A batch goes to its first event's correlation.
	pos = e.post("", ceBatch, "["+ev("b1", "t", "order-8")+","+ev("b2", "t", "order-9")+"]").positions(t)
	if pos[0].Stream != "order-8" || pos[1].Stream != "order-8" || pos[1].StreamPosition != 1 {
		t.Errorf("positions = %+v, want both in order-8 at 0 and 1", pos)
	}
}

func TestPublishBatch(t *testing.T) {
	e := newEnv(t, server.Config{})
	for _, ct := range []string{ceBatch, "application/json"} {
		t.Run(ct, func(t *testing.T) {
			stream := "batch-" + strings.ReplaceAll(ct, "/", "-")
			before := e.head()
			var evs []string
			for i := range 5 {
				evs = append(evs, ev(fmt.Sprintf("%s-%d", stream, i), "item_added", "c1"))
			}
			pos := e.post("stream="+url.QueryEscape(stream), ct, " [\n"+strings.Join(evs, " ,\n")+"\n] ").positions(t)
			if len(pos) != 5 {
				t.Fatalf("%d positions, want 5", len(pos))
			}
			for i, p := range pos {
				if p.StreamPosition != uint64(i) || p.GlobalPosition != before+uint64(i) || p.Stream != stream {
					t.Errorf("position %d = %+v", i, p)
				}
			}
		})
	}
}

// TestPublishErrors sends bad requests: each gets its status, code and
// field, and none changes the log.
func TestPublishErrors(t *testing.T) {
	e := newEnv(t, server.Config{MaxBodyBytes: 4096, MaxBatch: 3, Limits: event.Limits{MaxSize: 1024}})
	e.post("stream=taken", ceJSON, ev("seed", "t", "")).positions(t)
	big := `{"specversion":"1.0","id":"big","source":"s","type":"t","data":"` + strings.Repeat("x", 2000) + `"}`
	cases := []struct {
		name, query, ct, body string
		status                int
		code, field           string
	}{
		{"bad JSON", "", ceJSON, `{"specversion":"1.0",`, 400, "invalid_json", ""},
		{"not an object", "", ceJSON, `"hello"`, 400, "invalid_json", ""},
		{"empty body", "", ceJSON, ``, 400, "invalid_json", ""},
		{"trailing data", "", ceJSON, ev("x1", "t", "") + `{}`, 400, "invalid_json", ""},
		{"duplicate attribute", "", ceJSON, `{"specversion":"1.0","id":"x","id":"y","source":"s","type":"t"}`, 400, "invalid_json", "id"},
		{"missing source", "", ceJSON, `{"specversion":"1.0","id":"x2","type":"t"}`, 400, "missing_field", "source"},
		{"missing specversion", "", ceJSON, `{"id":"x3","source":"s","type":"t"}`, 400, "missing_field", "specversion"},
		{"wrong specversion", "", ceJSON, `{"specversion":"0.3","id":"x4","source":"s","type":"t"}`, 400, "invalid_field", "specversion"},
		{"bad time", "", ceJSON, ev("x5", "t", "", `"time":"yesterday"`), 400, "invalid_field", "time"},
		{"id too long", "", ceJSON, ev(strings.Repeat("i", 513), "t", ""), 400, "invalid_field", "id"},
		{"correlation with a control character", "", ceJSON, ev("x7", "t", "", `"correlationid":"order\u0000-1"`), 400, "invalid_field", "correlationid"},
		{"data not JSON", "", ceJSON, `{"specversion":"1.0","id":"x6","source":"s","type":"t","datacontenttype":"application/json","data_base64":"AAAA","data":1}`, 400, "invalid_field", "data"},
		{"event too large", "", ceJSON, big, 413, "too_large", ""},
		{"body too large", "", ceJSON, big + strings.Repeat(" ", 4096), 413, "body_too_large", ""},
		{"wrong content type", "", "text/plain", ev("x7", "t", ""), 415, "unsupported_media_type", ""},
		{"form content type", "", "application/x-www-form-urlencoded", ev("x8", "t", ""), 415, "unsupported_media_type", ""},
		{"no content type", "", "", ev("x9", "t", ""), 415, "unsupported_media_type", ""},
		{"empty batch", "", ceBatch, ` [ ] `, 400, "empty_batch", ""},
		{"batch too large", "", ceBatch, "[" + strings.Repeat(`{"specversion":"1.0","source":"s","type":"t"},`, 3) + `{"specversion":"1.0","source":"s","type":"t"}]`, 413, "batch_too_large", ""},
		{"batch not an array", "", ceBatch, ev("x10", "t", ""), 400, "invalid_json", ""},
		{"batch bad element", "", ceBatch, `[` + ev("b1", "t", "") + `,` + ev("b2", "t", "", `"time":"noon"`) + `]`, 400, "invalid_field", "events[1].time"},
		{"batch missing field", "", ceBatch, `[` + ev("b3", "t", "") + `,{"specversion":"1.0","source":"s"}]`, 400, "missing_field", "events[1].type"},
		{"batch element not an object", "", ceBatch, `[` + ev("b4", "t", "") + `,42]`, 400, "invalid_json", "events[1]"},
		{"batch missing comma", "", ceBatch, `[` + ev("b5", "t", "") + ` ` + ev("b6", "t", "") + `]`, 400, "invalid_json", ""},
		{"batch unterminated", "", ceBatch, `[` + ev("b7", "t", ""), 400, "invalid_json", ""},
		{"batch trailing data", "", ceBatch, `[` + ev("b8", "t", "") + `] x`, 400, "invalid_json", ""},
		{"batch reserved type", "", ceBatch, `[` + ev("b9", "t", "") + `,` + ev("b10", "choreo.timer", "") + `]`, 400, "reserved_type", "events[1].type"},
		{"batch duplicate id with other content", "", ceBatch, `[` + ev("b11", "t", "") + `,` + ev("b11", "u", "") + `]`, 409, "duplicate_id_conflict", "events[1].id"},
		{"reserved stream", "stream=%24timers", ceJSON, ev("x11", "t", ""), 400, "reserved_stream", "stream"},
		{"reserved stream by correlation", "", ceJSON, ev("x12", "t", "$dlq"), 400, "reserved_stream", "stream"},
		{"reserved type", "", ceJSON, ev("x13", "choreo.timer", ""), 400, "reserved_type", "type"},
		{"reserved type prefix", "", ceJSON, ev("x14", "choreo.anything", ""), 400, "reserved_type", "type"},
		{"reserved id", "", ceJSON, ev("choreo.timer:2026-01-01T00:00:00Z", "t", ""), 400, "reserved_id", "id"},
		{"batch reserved id", "", ceBatch, `[` + ev("b11", "t", "") + `,` + ev("choreo.x", "t", "") + `]`, 400, "reserved_id", "events[1].id"},
		{"extension spelt like a record member", "", ceJSON, ev("x15", "t", "", `"stream":"s"`), 400, "invalid_field", "stream"},
		{"bad extension name", "", ceJSON, ev("x16", "t", "", `"Bad_Name":"s"`), 400, "invalid_field", "Bad_Name"},
		{"empty stream", "stream=", ceJSON, ev("x17", "t", ""), 400, "invalid_stream", "stream"},
		{"control character in stream", "stream=a%01b", ceJSON, ev("x18", "t", ""), 400, "invalid_stream", "stream"},
		{"unknown parameter", "streem=x", ceJSON, ev("x19", "t", ""), 400, "invalid_query", "streem"},
		{"repeated parameter", "stream=a&stream=b", ceJSON, ev("x20", "t", ""), 400, "invalid_query", "stream"},
		{"bad expected version", "expected_version=-3", ceJSON, ev("x21", "t", ""), 400, "invalid_query", "expected_version"},
		{"wrong expected version", "stream=taken&expected_version=no_stream", ceJSON, ev("x22", "t", ""), 409, "wrong_expected_version", "expected_version"},
		{"same id other content", "stream=taken", ceJSON, ev("seed", "other", ""), 409, "duplicate_id_conflict", "id"},
		{"same id other stream", "stream=elsewhere", ceJSON, ev("seed", "t", ""), 409, "duplicate_id_conflict", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.head()
			r := e.post(c.query, c.ct, c.body)
			if r.status != c.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, c.status, r.body)
			}
			got := r.err(t)
			field := ""
			if got.Error.Field != nil {
				field = *got.Error.Field
				if field == "" {
					t.Errorf("field is present but empty; want it omitted")
				}
			}
			if got.Error.Code != c.code || field != c.field {
				t.Errorf("code, field = %q, %q; want %q, %q (message %q)", got.Error.Code, field, c.code, c.field, got.Error.Message)
			}
			if got.Error.Message == "" {
				t.Error("empty message")
			}
			if after := e.head(); after != before {
				t.Errorf("the log grew from %d to %d events", before, after)
			}
		})
	}
}

func TestPublishChunkedTooLarge(t *testing.T) {
	e := newMemEnv(t, server.Config{MaxBodyBytes: 1000})
	// A body of unknown length (chunked) is cut at the limit too.
	body := io.NopCloser(strings.NewReader(strings.Repeat(" ", 2000) + ev("c1", "t", "")))
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/events", body)
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != 0 {
		t.Fatalf("ContentLength = %d, want unknown", req.ContentLength)
	}
	req.Header.Set("Content-Type", ceJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
	if e.head() != 0 {
		t.Error("the log changed")
	}
}

func TestExpectedVersion(t *testing.T) {
	e := newEnv(t, server.Config{})
	steps := []struct {
		id, expected string
		status       int
		msg          string // part of the error message
	}{
		{"v0", "no_stream", 201, ""},
		{"v1", "no_stream", 409, "actual 0"},
		{"v1", "0", 201, ""},
		{"v2", "0", 409, "actual 1"},
		{"v2", "5", 409, "actual 1"},
		{"v2", "any", 201, ""},
		{"v3", "2", 201, ""},
	}
	for i, s := range steps {
		r := e.post("stream=acct&expected_version="+s.expected, ceJSON, ev(s.id, "t", ""))
		if r.status != s.status {
			t.Fatalf("step %d: status %d, want %d: %s", i, r.status, s.status, r.body)
		}
		if s.status == 409 {
			got := r.err(t)
			if got.Error.Code != "wrong_expected_version" || !strings.Contains(got.Error.Message, s.msg) {
				t.Errorf("step %d: error %+v, want wrong_expected_version with %q", i, got.Error, s.msg)
			}
		}
	}
}

func TestPublishIdempotent(t *testing.T) {
	e := newEnv(t, server.Config{})
	body := "[" + ev("d1", "t", "") + "," + ev("d2", "t", "") + "]"
	first := e.post("stream=dup", ceBatch, body).positions(t)
	head := e.head()
	// A retry gets the same positions and writes nothing, whatever the
	// expected version says.
	for _, q := range []string{"stream=dup", "stream=dup&expected_version=no_stream", "stream=dup&expected_version=7"} {
		again := e.post(q, ceBatch, body).positions(t)
		if fmt.Sprint(again) != fmt.Sprint(first) {
			t.Errorf("%s: positions %+v, want %+v", q, again, first)
		}
	}
	single := e.post("stream=dup", ceJSON, ev("d1", "t", "")).positions(t)
	if single[0] != first[0] {
		t.Errorf("single repeat at %+v, want %+v", single[0], first[0])
	}
	if e.head() != head {
		t.Errorf("repeats grew the log from %d to %d", head, e.head())
	}
}

func TestPublishBinaryMode(t *testing.T) {
	e := newEnv(t, server.Config{})
	h := http.Header{
		"Ce-Specversion":   {"1.0"},
		"Ce-Id":            {"bin-1"},
		"Ce-Source":        {"agent/payments"},
		"Ce-Type":          {"payment_processed"},
		"Ce-Subject":       {"invoice 7 %E2%82%AC"},
		"Ce-Time":          {"2026-01-02T03:04:05.123Z"},
		"Ce-Dataschema":    {"https://example.com/schema"},
		"Ce-Correlationid": {"order-42"},
		"Ce-Causationid":   {"ev-41"},
		"Ce-Hops":          {"2"},
		"Ce-Tenant":        {"acme"},
		"Ce-Priority":      {"7"},
		"Content-Type":     {"application/json"},
	}
	r := e.do(http.MethodPost, "/v1/events", h, []byte("{\n  \"amount\": 12.5,\n  \"ok\": true\n}\n"))
	pos := r.positions(t)
	if pos[0].ID != "bin-1" || pos[0].Stream != "order-42" {
		t.Fatalf("positions %+v", pos)
	}
	got := e.get("/v1/events/bin-1")
	var rec map[string]any
	if err := json.Unmarshal(got.body, &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"specversion": "1.0", "id": "bin-1", "source": "agent/payments", "type": "payment_processed",
		"subject": "invoice 7 €", "time": "2026-01-02T03:04:05.123Z", "dataschema": "https://example.com/schema",
		"correlationid": "order-42", "causationid": "ev-41", "hops": 2.0, "tenant": "acme", "priority": "7",
		"datacontenttype": "application/json", "data": map[string]any{"amount": 12.5, "ok": true},
	}
	for k, v := range want {
		if fmt.Sprint(rec[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}

	// Binary data: any other content type is kept as bytes.
	h = http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"bin-2"}, "Ce-Source": {"s"}, "Ce-Type": {"t"}, "Content-Type": {"application/octet-stream"}}
	e.do(http.MethodPost, "/v1/events", h, []byte{0, 1, 2, 0xff}).positions(t)
	stored, err := e.store.Get(context.Background(), "bin-2")
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.Event.DataBase64) != "\x00\x01\x02\xff" || stored.Event.DataContentType != "application/octet-stream" {
		t.Errorf("stored data %q (%s), want the body's bytes", stored.Event.DataBase64, stored.Event.DataContentType)
	}
	got = e.get("/v1/events/bin-2")
	if !strings.Contains(string(got.body), `"data_base64":"`+base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})+`"`) {
		t.Errorf("record %s has no data_base64", got.body)
	}

	bad := []struct {
		name        string
		header      http.Header
		body        string
		code, field string
	}{
		{"bad time", http.Header{"Ce-Time": {"noon"}}, "{}", "invalid_field", "time"},
		{"negative hops", http.Header{"Ce-Hops": {"-1"}}, "{}", "invalid_field", "hops"},
		{"bad extension name", http.Header{"Ce-Foo-Bar": {"x"}}, "{}", "invalid_field", "foo-bar"},
		{"datacontenttype header", http.Header{"Ce-Datacontenttype": {"application/json"}}, "{}", "invalid_field", "datacontenttype"},
		{"bad percent-encoding", http.Header{"Ce-Subject": {"100%"}}, "{}", "invalid_field", "subject"},
		{"body not JSON", nil, "{not json", "invalid_field", "data"},
		{"missing type", http.Header{"Ce-Type": nil}, "{}", "missing_field", "type"},
		{"reserved type", http.Header{"Ce-Type": {"choreo.timer"}}, "{}", "reserved_type", "type"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"bad-" + c.name}, "Ce-Source": {"s"}, "Ce-Type": {"t"}, "Content-Type": {"application/json"}}
			for k, v := range c.header {
				if v == nil {
					delete(h, k)
				} else {
					h[k] = v
				}
			}
			before := e.head()
			r := e.do(http.MethodPost, "/v1/events", h, []byte(c.body))
			got := r.err(t)
			field := ""
			if got.Error.Field != nil {
				field = *got.Error.Field
			}
			if r.status != 400 || got.Error.Code != c.code || field != c.field {
				t.Errorf("%d %q %q, want 400 %q %q (%s)", r.status, got.Error.Code, field, c.code, c.field, got.Error.Message)
			}
			if e.head() != before {
				t.Error("the log changed")
			}
		})
	}
}

func TestReadAll(t *testing.T) {
	e := newEnv(t, server.Config{})
	for i := range 7 {
		e.post("stream=s"+fmt.Sprint(i%2), ceJSON, ev(fmt.Sprintf("r%d", i), "t", "")).positions(t)
	}
	p := e.get("/v1/events").page(t)
	if len(p.Events) != 7 || p.Next != 7 {
		t.Fatalf("%d events, next %d; want 7, 7", len(p.Events), p.Next)
	}
	r0 := p.Events[0]
	for _, k := range []string{"stream", "stream_position", "global_position", "partition", "recorded", "specversion", "id", "source", "type", "correlationid", "data"} {
		if _, ok := r0[k]; !ok {
			t.Errorf("record has no %q: %v", k, r0)
		}
	}
	if r0["id"] != "r0" || r0["stream"] != "s0" || r0["global_position"] != 0.0 {
		t.Errorf("first record %v", r0)
	}
	if _, err := time.Parse(time.RFC3339Nano, r0["recorded"].(string)); err != nil {
		t.Errorf("recorded: %v", err)
	}

	// Paging.
	var ids []string
	for from := uint64(0); ; {
		p := e.get(fmt.Sprintf("/v1/events?from=%d&limit=3", from)).page(t)
		if len(p.Events) == 0 {
			if p.Next != from {
				t.Errorf("empty page: next %d, want %d", p.Next, from)
			}
			break
		}
		for _, r := range p.Events {
			ids = append(ids, r["id"].(string))
		}
		from = p.Next
	}
	if got := strings.Join(ids, ","); got != "r0,r1,r2,r3,r4,r5,r6" {
		t.Errorf("paged ids %s", got)
	}
	if p := e.get("/v1/events?limit=100000").page(t); len(p.Events) != 7 {
		t.Errorf("limit over the maximum: %d events, want it capped, not refused", len(p.Events))
	}

	for _, q := range []string{"from=-1", "from=x", "limit=0", "limit=-5", "limit=abc", "form=3", "from=1&from=2"} {
		r := e.get("/v1/events?" + q)
		if got := r.err(t); r.status != 400 || got.Error.Code != "invalid_query" {
			t.Errorf("%s: %d %s, want 400 invalid_query", q, r.status, got.Error.Code)
		}
	}
}

func TestReadStream(t *testing.T) {
	e := newEnv(t, server.Config{})
	for i := range 4 {
		e.post("stream="+url.QueryEscape("tenant/a b"), ceJSON, ev(fmt.Sprintf("s%d", i), "t", "")).positions(t)
	}
	e.post("stream=other", ceJSON, ev("o1", "t", "")).positions(t)
	// A system stream, written by the engine, is readable.
	if _, err := e.store.Append(context.Background(), "$timers", store.Any, []*event.Event{{SpecVersion: "1.0", Source: "choreo", Type: "choreo.timer"}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/streams/tenant%2Fa%20b", "/v1/streams/tenant/a%20b"} {
		p := e.get(path).page(t)
		if len(p.Events) != 4 || p.Next != 4 {
			t.Fatalf("%s: %d events, next %d", path, len(p.Events), p.Next)
		}
		for i, r := range p.Events {
			if r["stream"] != "tenant/a b" || r["stream_position"] != float64(i) {
				t.Errorf("%s: record %d: %v", path, i, r)
			}
		}
	}
	p := e.get("/v1/streams/tenant%2Fa%20b?from=1&limit=2").page(t)
	if len(p.Events) != 2 || p.Next != 3 || p.Events[0]["id"] != "s1" {
		t.Errorf("page from 1: %d events, next %d", len(p.Events), p.Next)
	}
	if p := e.get("/v1/streams/$timers").page(t); len(p.Events) != 1 || p.Events[0]["type"] != "choreo.timer" {
		t.Errorf("$timers: %v", p.Events)
	}
	if p := e.get("/v1/streams/nobody?from=3").page(t); len(p.Events) != 0 || p.Next != 3 {
		t.Errorf("unknown stream: %d events, next %d; want an empty page", len(p.Events), p.Next)
	}
	r := e.get("/v1/streams/a%01b")
	if got := r.err(t); r.status != 400 || got.Error.Code != "invalid_stream" {
		t.Errorf("control character: %d %s", r.status, got.Error.Code)
	}
}

func TestGetEvent(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.post("stream=g", ceJSON, ev("id/with slash", "t", "")).positions(t)
	r := e.get("/v1/events/" + url.PathEscape("id/with slash"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var rec map[string]any
	if err := json.Unmarshal(r.body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec["id"] != "id/with slash" || rec["stream"] != "g" {
		t.Errorf("record %v", rec)
	}
	for _, path := range []string{"/v1/events/nope", "/v1/events/"} {
		r = e.get(path)
		if got := r.err(t); r.status != 404 || got.Error.Code != "not_found" {
			t.Errorf("%s: %d %s, want 404 not_found", path, r.status, got.Error.Code)
		}
	}
}

func TestRouting(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	r := e.get("/nowhere")
	if got := r.err(t); r.status != 404 || got.Error.Code != "not_found" {
		t.Errorf("unknown path: %d %s", r.status, got.Error.Code)
	}
	r = e.do(http.MethodDelete, "/v1/events", nil, nil)
	if got := r.err(t); r.status != 405 || got.Error.Code != "method_not_allowed" {
		t.Errorf("DELETE: %d %s", r.status, got.Error.Code)
	}
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestHandleAndRecover(t *testing.T) {
	e := newMemEnv(t, server.Config{})
	e.srv.Handle("GET /v1/ping", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("pong"))
	}))
	e.srv.Handle("GET /v1/boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	e.srv.Handle("GET /v1/halfway", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 8192)))
		w.(http.Flusher).Flush()
		panic("halfway")
	}))
	// A panic after the response started breaks the connection, so the
	// client cannot mistake the part for the whole.
	resp, err := http.Get(e.url + "/v1/halfway")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a response cut by a panic read as complete")
	}
	if r := e.get("/v1/ping"); r.status != 200 || string(r.body) != "pong" {
		t.Errorf("mounted route: %d %q", r.status, r.body)
	}
	r := e.get("/v1/boom")
	if got := r.err(t); r.status != 500 || got.Error.Code != "internal" || strings.Contains(got.Error.Message, "boom") {
		t.Errorf("panic: %d %+v, want 500 internal without the panic's text", r.status, got.Error)
	}
	// The server still serves.
	if r := e.get("/healthz"); r.status != 200 {
		t.Errorf("after a panic: %d", r.status)
	}
}

func TestClosedStore(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.store.Close()
	r := e.post("", ceJSON, ev("z", "t", ""))
	if got := r.err(t); r.status != 503 || got.Error.Code != "closed" {
		t.Errorf("publish: %d %s, want 503 closed", r.status, got.Error.Code)
	}
	r = e.get("/v1/events")
	if got := r.err(t); r.status != 503 || got.Error.Code != "closed" {
		t.Errorf("read: %d %s, want 503 closed", r.status, got.Error.Code)
	}
}

func TestConfigValidate(t *testing.T) {
	s := memStore()
	cases := []struct {
		name string
		cfg  server.Config
		ok   bool
	}{
		{"zero", server.Config{}, false},
		{"store only", server.Config{Store: s}, true},
		{"negative body", server.Config{Store: s, MaxBodyBytes: -1}, false},
		{"negative batch", server.Config{Store: s, MaxBatch: -1}, false},
		{"negative size", server.Config{Store: s, Limits: event.Limits{MaxSize: -1}}, false},
		{"negative heartbeat", server.Config{Store: s, Heartbeat: -time.Second}, false},
		{"negative write timeout", server.Config{Store: s, StreamWriteTimeout: -time.Second}, false},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v", c.name, err)
		}
		if _, err := server.New(c.cfg); (err == nil) != c.ok {
			t.Errorf("%s: New() = %v", c.name, err)
		}
	}
}

// TestPublishDerivesHopsFromTheAction: an event caused by an action (its
// causationid the action's id) gets at least the action's hops plus one,
// as the events an agent answers a delivery with do; other causations
// change nothing.
func TestPublishDerivesHopsFromTheAction(t *testing.T) {
	e := newEnv(t, server.Config{})
	ctx := context.Background()
	a := engine.Action{ID: "act-1", Action: "check", TargetCapability: "cap", Choreography: "shop", RuleID: "r",
		RuleKind: engine.KindPattern, CorrelationID: "order-1", TriggerEventIDs: []string{"t"}, Time: time.Now(), Hops: 5}
	if _, err := e.store.Append(ctx, live.ActionsStream, store.Any, []*event.Event{live.ActionEvent(&a)}); err != nil {
		t.Fatal(err)
	}
	e.post("", ceJSON, ev("plain", "order_received", "order-1")).positions(t)
	batch := "[" + ev("r1", "checked", "order-1", `"causationid":"act-1"`) + "," +
		ev("r2", "checked", "order-1", `"causationid":"act-1"`, `"hops":9`) + "," +
		ev("r3", "checked", "order-1", `"causationid":"plain"`) + "," +
		ev("r4", "checked", "order-1", `"causationid":"unknown"`, `"hops":2`) + "]"
	e.post("", ceBatch, batch).positions(t)
	for id, want := range map[string]int{"r1": 6, "r2": 9, "r3": 0, "r4": 2} {
		rec, err := e.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.Hops != want {
			t.Errorf("%s: hops %d, want %d", id, rec.Event.Hops, want)
		}
	}
	// A retry of the same request is still the same events.
	e.post("", ceBatch, batch).positions(t)
}

// TestCorrelationFindsEventsInOtherStreams: GET /v1/correlations/{id}
// lists the correlation's events wherever they were appended — a stream
// the publisher named, a batch led by another correlation — and not the
// other correlations' events in the stream its id names.
func TestCorrelationFindsEventsInOtherStreams(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.srv.Mount(server.Services{})
	e.post("", ceJSON, ev("o8-1", "order_received", "order-8")).positions(t)
	e.post("stream=tenant-1", ceJSON, ev("o8-2", "payment_received", "order-8")).positions(t)
	e.post("", ceBatch, "["+ev("o9-1", "order_received", "order-9")+","+ev("o8-3", "shipped", "order-8")+"]").positions(t)
	e.post("", ceBatch, "["+ev("o8-4", "delivered", "order-8")+","+ev("o9-2", "paid", "order-9")+"]").positions(t)
	for corr, want := range map[string][]string{"order-8": {"o8-1", "o8-2", "o8-3", "o8-4"}, "order-9": {"o9-1", "o9-2"}} {
		r := e.get("/v1/correlations/" + corr)
		var doc struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
			Analysis struct {
				EventCount int `json:"event_count"`
			} `json:"analysis"`
		}
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatalf("%s: %s (%v)", corr, r.body, err)
		}
		var got []string
		for _, ev := range doc.Events {
			got = append(got, ev.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || doc.Analysis.EventCount != len(want) {
			t.Errorf("%s: events %v (analysis counts %d), want %v: %d %.300s", corr, got, doc.Analysis.EventCount, want, r.status, r.body)
		}
	}
}
