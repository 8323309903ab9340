package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// a2aEnv is a server with its A2A endpoint on 127.0.0.1, a mem store, and
// an SDK client made from the card the server serves.
type a2aEnv struct {
	t      testing.TB
	store  store.Store
	srv    *server.Server
	base   string
	hc     *http.Client
	card   *a2a.AgentCard
	client *a2aclient.Client
}

func newA2AEnv(t testing.TB, cfg server.Config) *a2aEnv {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = mem.New(store.Options{})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	base := "http://" + ts.Listener.Addr().String()
	if err := srv.MountA2A(server.A2AConfig{BaseURL: base, Version: "1.2.3"}); err != nil {
		t.Fatalf("MountA2A: %v", err)
	}
	ts.Start()
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	e := &a2aEnv{t: t, store: cfg.Store, srv: srv, base: base, hc: hc}
	t.Cleanup(func() {
		if e.client != nil {
			e.client.Destroy()
		}
		srv.Close()
		ts.Close()
		hc.CloseIdleConnections()
		cfg.Store.Close()
	})

	ctx := e.ctx()
	e.card, err = agentcard.NewResolver(hc).Resolve(ctx, base)
	if err != nil {
		t.Fatalf("resolving the card: %v", err)
	}
	e.client, err = a2aclient.NewFromCard(ctx, e.card, a2aclient.WithJSONRPCTransport(hc))
	if err != nil {
		t.Fatalf("client from the card: %v", err)
	}
	return e
}

func (e *a2aEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// send sends msg (with the request metadata meta) and wants a task back.
func (e *a2aEnv) send(msg *a2a.Message, meta map[string]any) *a2a.Task {
	e.t.Helper()
	res, err := e.client.SendMessage(e.ctx(), &a2a.MessageSendParams{Message: msg, Metadata: meta})
	if err != nil {
		e.t.Fatalf("message/send: %v", err)
	}
	task, ok := res.(*a2a.Task)
	if !ok {
		e.t.Fatalf("message/send answered %T, want a task", res)
	}
	return task
}

func (e *a2aEnv) head() uint64 {
	e.t.Helper()
	h, err := e.store.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *a2aEnv) all() []store.Record {
	e.t.Helper()
	recs, err := e.store.ReadAll(context.Background(), 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// rpc posts a raw JSON-RPC body to the endpoint.
func (e *a2aEnv) rpc(contentType, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx(), http.MethodPost, e.base+server.A2APath, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// dataMsg is a user message with one data part per object.
func dataMsg(objs ...map[string]any) *a2a.Message {
	parts := make([]a2a.Part, len(objs))
	for i, o := range objs {
		parts[i] = a2a.DataPart{Data: o}
	}
	return a2a.NewMessage(a2a.MessageRoleUser, parts...)
}

func ce(id, typ, corr string, data map[string]any) map[string]any {
	m := map[string]any{"specversion": "1.0", "source": "agent/test", "type": typ, "data": data}
	if id != "" {
		m["id"] = id
	}
	if corr != "" {
		m["correlationid"] = corr
	}
	return m
}

// positions reads the "events" artifact of a completed task.
func taskPositions(t testing.TB, task *a2a.Task) []position {
	t.Helper()
	if task.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("task state %q, want completed; status message %s", task.Status.State, statusJSON(task))
	}
	if len(task.Artifacts) != 1 || len(task.Artifacts[0].Parts) != 1 {
		t.Fatalf("want one artifact with one part, got %+v", task.Artifacts)
	}
	dp, ok := task.Artifacts[0].Parts[0].(a2a.DataPart)
	if !ok {
		t.Fatalf("artifact part is %T, want a data part", task.Artifacts[0].Parts[0])
	}
	b, _ := json.Marshal(dp.Data)
	var doc struct {
		Events []position `json:"events"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("artifact %s: %v", b, err)
	}
	return doc.Events
}

// taskErr is the error document of a failed task.
type taskErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func taskError(t testing.TB, task *a2a.Task) taskErr {
	t.Helper()
	if task.Status.State != a2a.TaskStateFailed {
		t.Fatalf("task state %q, want failed", task.Status.State)
	}
	m := task.Status.Message
	if m == nil {
		t.Fatal("failed task has no status message")
	}
	var (
		te   taskErr
		text string
	)
	for _, p := range m.Parts {
		switch p := p.(type) {
		case a2a.TextPart:
			text = p.Text
		case a2a.DataPart:
			b, _ := json.Marshal(p.Data["error"])
			if err := json.Unmarshal(b, &te); err != nil {
				t.Fatalf("error part %s: %v", b, err)
			}
		}
	}
	if te.Code == "" || te.Message == "" {
		t.Fatalf("no error document in the status message: %s", statusJSON(task))
	}
	if !strings.HasPrefix(text, "Nothing was published. "+te.Code) {
		t.Errorf("status text = %q, want it to say nothing was published and give the code", text)
	}
	return te
}

func statusJSON(task *a2a.Task) string {
	b, _ := json.Marshal(task.Status)
	return string(b)
}

func TestA2ACard(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	c := e.card
	if c.Name != "choreo" || c.Version != "1.2.3" || c.Description == "" {
		t.Errorf("name, version, description = %q, %q, %q", c.Name, c.Version, c.Description)
	}
	if want := e.base + "/a2a"; c.URL != want {
		t.Errorf("url = %q, want %q", c.URL, want)
	}
	if c.PreferredTransport != a2a.TransportProtocolJSONRPC || c.ProtocolVersion != "0.3.0" {
		t.Errorf("transport, protocol = %q, %q", c.PreferredTransport, c.ProtocolVersion)
	}
	if len(c.DefaultInputModes) != 1 || c.DefaultInputModes[0] != "application/json" {
		t.Errorf("input modes = %q", c.DefaultInputModes)
	}
	if len(c.DefaultOutputModes) == 0 || c.DefaultOutputModes[0] != "application/json" {
		t.Errorf("output modes = %q", c.DefaultOutputModes)
	}
	skills := map[string]a2a.AgentSkill{}
	for _, s := range c.Skills {
		skills[s.ID] = s
	}
	pub, ok := skills[server.SkillPublishEvent]
	if !ok || !strings.Contains(pub.Description, "CloudEvent") || !hasAll(pub.Tags, "events", "cloudevents") {
		t.Errorf("skill %s = %+v", server.SkillPublishEvent, pub)
	}
	if _, ok := skills[server.SkillPublishBatch]; !ok {
		t.Errorf("no skill %s", server.SkillPublishBatch)
	}

	// The document as served: JSON, public, and the OPTIONS preflight.
	req, _ := http.NewRequestWithContext(e.ctx(), http.MethodGet, e.base+server.AgentCardPath, nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("card headers: Content-Type %q, CORS %q", ct, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	req, _ = http.NewRequestWithContext(e.ctx(), http.MethodOptions, e.base+server.AgentCardPath, nil)
	resp, err = e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("OPTIONS: %d, Allow-Methods %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Methods"))
	}

	if err := e.srv.MountA2A(server.A2AConfig{BaseURL: e.base}); err == nil {
		t.Error("a second MountA2A succeeded; want an error")
	}
}

func hasAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestA2AConfig(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		ok         bool
	}{
		{"empty", "", false},
		{"no scheme", "localhost:7070", false},
		{"ftp", "ftp://example.com", false},
		{"no host", "http://", false},
		{"query", "http://example.com/?x=1", false},
		{"fragment", "http://example.com/#top", false},
		{"user", "http://u:p@example.com", false},
		{"plain", "http://127.0.0.1:7070", true},
		{"path and slash", "https://choreo.example.com/api/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := server.A2AConfig{BaseURL: tc.base}.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate(%q) = %v, want ok %v", tc.base, err, tc.ok)
			}
			srv, err := server.New(server.Config{Store: mem.New(store.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.MountA2A(server.A2AConfig{BaseURL: tc.base}); (err == nil) != tc.ok {
				t.Fatalf("MountA2A(%q) = %v, want ok %v", tc.base, err, tc.ok)
			}
			if !tc.ok {
				return
			}
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, server.AgentCardPath, nil))
			var card a2a.AgentCard
			if err := json.Unmarshal(rec.Body.Bytes(), &card); err != nil {
				t.Fatalf("card %s: %v", rec.Body, err)
			}
			if want := strings.TrimSuffix(tc.base, "/") + "/a2a"; card.URL != want {
				t.Errorf("card url = %q, want %q", card.URL, want)
			}
			if card.Version == "" {
				t.Error("card version is empty; want a default")
			}
		})
	}
}

func TestA2APublishEvent(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	data := map[string]any{"order_id": "o-1", "total": 42}
	task := e.send(dataMsg(ce("ev-1", "order.placed", "order-1", data)), nil)

	got := taskPositions(t, task)
	want := []position{{ID: "ev-1", Stream: "order-1", StreamPosition: 0, GlobalPosition: 0}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("positions = %+v, want %+v", got, want)
	}
	if task.ContextID != "order-1" || task.ID == "" {
		t.Errorf("task id, context = %q, %q; want an id and the event's correlation", task.ID, task.ContextID)
	}
	recs := e.all()
	if len(recs) != 1 {
		t.Fatalf("the log holds %d events, want 1", len(recs))
	}
	ev := recs[0].Event
	if recs[0].Stream != "order-1" || ev.ID != "ev-1" || ev.Type != "order.placed" || ev.Source != "agent/test" ||
		ev.CorrelationID != "order-1" || string(ev.Data) != `{"order_id":"o-1","total":42}` {
		t.Errorf("stored %s in %q", ev.AppendJSON(nil), recs[0].Stream)
	}
}

func TestA2AContextIsCorrelation(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	// No specversion, no id, no correlation: the convenience form.
	msg := dataMsg(map[string]any{"type": "order.placed", "source": "shop", "data": map[string]any{"n": 1}})
	msg.ContextID = "order-9"
	task := e.send(msg, nil)
	got := taskPositions(t, task)
	if len(got) != 1 || got[0].Stream != "order-9" || got[0].StreamPosition != 0 {
		t.Fatalf("positions = %+v, want stream order-9 at 0", got)
	}
	if task.ContextID != "order-9" {
		t.Errorf("task context = %q, want order-9", task.ContextID)
	}
	id := got[0].ID
	if len(id) != 36 || id[14] != '8' {
		t.Errorf("generated id %q: want a version 8 UUID", id)
	}
	ev := e.all()[0].Event
	if ev.CorrelationID != "order-9" || ev.SpecVersion != event.SpecVersion || ev.ID != id {
		t.Errorf("stored %s", ev.AppendJSON(nil))
	}

	// The same message again (a client's retry): accepted once.
	again := taskPositions(t, e.send(msg, nil))
	if len(again) != 1 || again[0] != got[0] {
		t.Errorf("retry positions = %+v, want %+v", again, got)
	}
	if h := e.head(); h != 1 {
		t.Errorf("head after a retry = %d, want 1", h)
	}

	// A new message in the same context joins the correlation.
	next := dataMsg(map[string]any{"type": "order.paid", "source": "shop"})
	next.ContextID = "order-9"
	p := taskPositions(t, e.send(next, nil))
	if p[0].Stream != "order-9" || p[0].StreamPosition != 1 || p[0].ID == id {
		t.Errorf("second message positions = %+v", p)
	}

	// An event's own correlation id wins over the context.
	own := dataMsg(ce("", "order.shipped", "order-10", nil))
	own.ContextID = "order-9"
	p = taskPositions(t, e.send(own, nil))
	if p[0].Stream != "order-10" {
		t.Errorf("stream = %q, want the event's correlation order-10", p[0].Stream)
	}
}

func TestA2APublishBatch(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	batch := map[string]any{"events": []any{
		ce("b-1", "item.reserved", "order-5", map[string]any{"sku": "A-1"}),
		ce("b-2", "item.reserved", "order-5", map[string]any{"sku": "B-7"}),
		ce("b-3", "stock.low", "order-5", nil),
	}}
	msg := dataMsg(batch)
	msg.Metadata = map[string]any{"stream": "stock", "expected_version": "no_stream"}
	got := taskPositions(t, e.send(msg, nil))
	if len(got) != 3 {
		t.Fatalf("positions = %+v, want 3", got)
	}
	for i, p := range got {
		if p.Stream != "stock" || p.StreamPosition != uint64(i) || p.GlobalPosition != uint64(i) || p.ID != []string{"b-1", "b-2", "b-3"}[i] {
			t.Errorf("position %d = %+v", i, p)
		}
	}

	// One event per data part, with the wrapper beside it: one batch.
	// expected_version in the request's metadata, as a number.
	msg = dataMsg(
		ce("c-1", "item.reserved", "order-5", nil),
		map[string]any{"events": []any{ce("c-2", "item.reserved", "order-5", nil), ce("c-3", "item.reserved", "order-5", nil)}},
	)
	msg.Parts = append(msg.Parts, a2a.TextPart{Text: "three more reservations"})
	got = taskPositions(t, e.send(msg, map[string]any{"stream": "stock", "expected_version": 2}))
	if len(got) != 3 || got[0].StreamPosition != 3 || got[2].StreamPosition != 5 || got[2].ID != "c-3" {
		t.Fatalf("positions = %+v, want stream positions 3 to 5", got)
	}

	// A stale expected version: the whole batch is refused.
	msg = dataMsg(map[string]any{"events": []any{ce("d-1", "x.y", "", nil), ce("d-2", "x.y", "", nil)}})
	msg.Metadata = map[string]any{"stream": "stock", "expected_version": 2}
	te := taskError(t, e.send(msg, nil))
	if te.Code != store.CodeWrongVersion || te.Field != "message.metadata.expected_version" {
		t.Errorf("error = %+v, want %s at message.metadata.expected_version, where it was given", te, store.CodeWrongVersion)
	}
	// The same in the request's metadata: the error names that.
	msg.Metadata = nil
	te = taskError(t, e.send(msg, map[string]any{"stream": "stock", "expected_version": "2"}))
	if te.Code != store.CodeWrongVersion || te.Field != "metadata.expected_version" {
		t.Errorf("error = %+v, want %s at metadata.expected_version, where it was given", te, store.CodeWrongVersion)
	}
	if h := e.head(); h != 6 {
		t.Errorf("head = %d after a refused batch, want 6", h)
	}
	recs := e.all()
	for i, r := range recs {
		if r.Stream != "stock" || r.GlobalPosition != uint64(i) {
			t.Errorf("record %d: stream %q, global %d", i, r.Stream, r.GlobalPosition)
		}
	}
}

func TestA2ARejects(t *testing.T) {
	e := newA2AEnv(t, server.Config{MaxBatch: 3, Limits: event.Limits{MaxSize: 1024}})
	good := ce("", "order.placed", "order-1", nil)
	for _, tc := range []struct {
		name        string
		msg         *a2a.Message
		meta        map[string]any
		code, field string
	}{
		{"bad time in a batch", dataMsg(map[string]any{"events": []any{good, func() map[string]any {
			m := ce("", "order.placed", "order-1", nil)
			m["time"] = "yesterday"
			return m
		}()}}), nil, event.CodeInvalidField, "message.parts[0].data.events[1].time"},
		{"missing type", dataMsg(map[string]any{"source": "shop"}), nil, event.CodeMissingField, "message.parts[0].data.type"},
		{"reserved type", dataMsg(good, ce("", "choreo.timer", "order-1", nil)), nil, server.CodeReservedType, "message.parts[1].data.type"},
		{"reserved extension", dataMsg(map[string]any{"type": "a.b", "source": "s", "stream": "x"}), nil, event.CodeInvalidField, "message.parts[0].data.stream"},
		{"too large", dataMsg(ce("", "a.b", "", map[string]any{"blob": strings.Repeat("x", 2000)})), nil, event.CodeTooLarge, "message.parts[0].data"},
		{"too many", dataMsg(map[string]any{"events": []any{good, good, good, good}}), nil, store.CodeBatchTooLarge, "message.parts[0].data.events[3]"},
		{"reserved stream", withMeta(dataMsg(good), map[string]any{"stream": "$agents"}), nil, server.CodeReservedStream, "message.metadata.stream"},
		{"correlation as stream", dataMsg(ce("", "a.b", "$sys", nil)), nil, server.CodeReservedStream, "message.metadata.stream"},
		{"stream not a string", dataMsg(good), map[string]any{"stream": 5}, event.CodeInvalidField, "metadata.stream"},
		{"bad expected version", withMeta(dataMsg(good), map[string]any{"expected_version": "latest"}), nil, event.CodeInvalidField, "message.metadata.expected_version"},
		{"negative expected version", dataMsg(good), map[string]any{"expected_version": -1}, event.CodeInvalidField, "metadata.expected_version"},
		{"metadata disagree", withMeta(dataMsg(good), map[string]any{"stream": "a"}), map[string]any{"stream": "b"}, event.CodeInvalidField, "metadata.stream"},
		{"text only", a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "an order was placed"}), nil, event.CodeMissingField, "message.parts"},
		{"file part", func() *a2a.Message {
			m := dataMsg(good)
			m.Parts = append(m.Parts, a2a.FilePart{File: a2a.FileURI{URI: "https://example.com/e.json"}})
			return m
		}(), nil, event.CodeInvalidField, "message.parts[1]"},
		{"empty batch", dataMsg(map[string]any{"events": []any{}}), nil, store.CodeEmptyBatch, "message.parts"},
		{"batch and more", dataMsg(map[string]any{"events": []any{good}, "note": "x"}), nil, event.CodeInvalidField, "message.parts[0].data.note"},
		{"events not an array", dataMsg(map[string]any{"events": "e-1"}), nil, event.CodeInvalidField, "message.parts[0].data.events"},
		{"not an event", dataMsg(map[string]any{"events": []any{good, 7}}), nil, event.CodeInvalidJSON, "message.parts[0].data.events[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := taskError(t, e.send(tc.msg, tc.meta))
			if te.Code != tc.code || te.Field != tc.field {
				t.Errorf("error = %+v, want code %q field %q", te, tc.code, tc.field)
			}
			if h := e.head(); h != 0 {
				t.Errorf("head = %d, want 0: nothing written", h)
			}
		})
	}
}

func withMeta(m *a2a.Message, meta map[string]any) *a2a.Message {
	m.Metadata = meta
	return m
}

// Without configured limits the store's Append checks the events; its
// errors name the event's place in the message too.
func TestA2AStoreChecks(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	msg := dataMsg(ce("", "a.b", "c-1", nil), map[string]any{"events": []any{ce("", "a.b", "c-1", nil), map[string]any{"type": "a.b"}}})
	te := taskError(t, e.send(msg, nil))
	if te.Code != event.CodeMissingField || te.Field != "message.parts[1].data.events[1].source" {
		t.Errorf("error = %+v, want missing_field at message.parts[1].data.events[1].source", te)
	}
	// An id already in the log with other content.
	taskPositions(t, e.send(dataMsg(ce("dup", "a.b", "c-1", nil)), nil))
	te = taskError(t, e.send(dataMsg(ce("ok-1", "a.b", "c-1", nil), ce("dup", "a.c", "c-1", nil)), nil))
	if te.Code != store.CodeConflict || te.Field != "message.parts[1].data.id" {
		t.Errorf("error = %+v, want conflict at message.parts[1].data.id", te)
	}
	if h := e.head(); h != 1 {
		t.Errorf("head = %d, want 1", h)
	}
}

func TestA2AProtocolErrors(t *testing.T) {
	e := newA2AEnv(t, server.Config{MaxBodyBytes: 4096})
	ctx := e.ctx()

	msg := dataMsg(ce("", "a.b", "c-1", nil))
	msg.TaskID = "task-1"
	if _, err := e.client.SendMessage(ctx, &a2a.MessageSendParams{Message: msg}); !errors.Is(err, a2a.ErrTaskNotFound) {
		t.Errorf("message with a taskId: %v, want task not found", err)
	}
	if _, err := e.client.GetTask(ctx, &a2a.TaskQueryParams{ID: "task-1"}); !errors.Is(err, a2a.ErrTaskNotFound) {
		t.Errorf("tasks/get: %v, want task not found", err)
	}
	if _, err := e.client.CancelTask(ctx, &a2a.TaskIDParams{ID: "task-1"}); !errors.Is(err, a2a.ErrTaskNotFound) {
		t.Errorf("tasks/cancel: %v, want task not found", err)
	}

	status, body := e.rpc("application/json", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"messageId":"m","role":"user","parts":[{"kind":"data","data":{"type":"a.b","source":"s","data":"`+strings.Repeat("x", 5000)+`"}}]}}}`)
	if status != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"body_too_large"`)) {
		t.Errorf("over MaxBodyBytes: %d %s", status, body)
	}
	status, body = e.rpc("text/plain", `{}`)
	if status != http.StatusUnsupportedMediaType || !bytes.Contains(body, []byte(`"unsupported_media_type"`)) {
		t.Errorf("text/plain: %d %s", status, body)
	}
	status, body = e.rpc("application/json", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":`)
	if status != http.StatusOK || rpcErrorCode(t, body) != -32700 {
		t.Errorf("truncated JSON: %d %s, want a JSON-RPC parse error", status, body)
	}
	status, body = e.rpc("application/json", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{}}`)
	if status != http.StatusOK || rpcErrorCode(t, body) != -32602 {
		t.Errorf("no message: %d %s, want a JSON-RPC invalid params error", status, body)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+server.A2APath, nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", server.A2APath, resp.StatusCode)
	}

	// A closed store is the server's state, not the input's fault.
	e.store.Close()
	_, err = e.client.SendMessage(ctx, &a2a.MessageSendParams{Message: dataMsg(ce("", "a.b", "c-1", nil))})
	if !errors.Is(err, a2a.ErrServerError) || !strings.Contains(err.Error(), store.CodeClosed) {
		t.Errorf("closed store: %v, want a server error naming %q", err, store.CodeClosed)
	}
}

func rpcErrorCode(t testing.TB, body []byte) int {
	t.Helper()
	var resp struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Error == nil {
		t.Fatalf("want a JSON-RPC error, got %s (%v)", body, err)
	}
	return resp.Error.Code
}

func TestA2AStream(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	if !e.card.Capabilities.Streaming {
		t.Fatal("the card does not declare streaming")
	}
	msg := dataMsg(ce("s-1", "a.b", "c-1", nil))
	var tasks []*a2a.Task
	for ev, err := range e.client.SendStreamingMessage(e.ctx(), &a2a.MessageSendParams{Message: msg}) {
		if err != nil {
			t.Fatalf("message/stream: %v", err)
		}
		task, ok := ev.(*a2a.Task)
		if !ok {
			t.Fatalf("stream event %T, want a task", ev)
		}
		tasks = append(tasks, task)
	}
	if len(tasks) != 1 {
		t.Fatalf("%d events on the stream, want 1", len(tasks))
	}
	if p := taskPositions(t, tasks[0]); p[0].ID != "s-1" || e.head() != 1 {
		t.Errorf("positions %+v, head %d", p, e.head())
	}
}

// Event data is stored as the client wrote it: numbers beyond float64 and
// member order survive, which decoding into the SDK's map[string]any
// would lose.
func TestA2AExactData(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	const data = `{"z":1,"big":12345678901234567890,"a":[1.50,{"k":"v"}]}`
	status, body := e.rpc("application/json", `{"jsonrpc":"2.0","id":"r1","method":"message/send","params":{"message":{
		"kind":"message","messageId":"m-1","role":"user","contextId":"ctx-1",
		"parts":[{"kind":"data","data":{"type":"a.b","source":"s","data": `+data+` }}]}}}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var resp struct {
		Result struct {
			Kind   string `json:"kind"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Result.Kind != "task" || resp.Result.Status.State != "completed" {
		t.Fatalf("reply %s (%v), want a completed task", body, err)
	}
	recs := e.all()
	if len(recs) != 1 || string(recs[0].Event.Data) != data {
		t.Fatalf("stored data %s, want %s", recs[0].Event.Data, data)
	}
	if recs[0].Event.CorrelationID != "ctx-1" {
		t.Errorf("correlation = %q, want ctx-1", recs[0].Event.CorrelationID)
	}
}

// BenchmarkA2APublish measures message/send of one event through the
// SDK's client and server over loopback HTTP into the in-memory store.
func BenchmarkA2APublish(b *testing.B) {
	e := newA2AEnv(b, server.Config{})
	params := &a2a.MessageSendParams{Message: dataMsg(map[string]any{
		"type": "order.placed", "source": "shop",
		"data": map[string]any{"order_id": "o-1", "order_value": 129.95, "currency": "EUR"},
	})}
	params.Message.ContextID = "order-1"
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		params.Message.ID = a2a.NewMessageID()
		if _, err := e.client.SendMessage(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
}

// Params that do not fit message/send are invalid params (-32602), in the
// reply the method has; -32700 stays for JSON that does not parse.
func TestA2AParamsOfTheWrongShape(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	for _, c := range []struct{ name, parts, want string }{
		{"data a string", `[{"kind":"data","data":"an event"}]`, "message.parts[0].data"},
		{"data an array", `[{"kind":"text","text":"hi"},{"kind":"data","data":[{"type":"t"}]}]`, "message.parts[1].data"},
		{"data null", `[{"kind":"data","data":null}]`, "message.parts[0].data"},
		{"text a number", `[{"kind":"text","text":5}]`, "message.parts.text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":"r-1","method":"message/send","params":{"message":{"messageId":"m","role":"user","parts":` + c.parts + `}}}`
			status, b := e.rpc("application/json", body)
			if status != http.StatusOK || rpcErrorCode(t, b) != -32602 {
				t.Fatalf("%d %s, want a JSON-RPC invalid params error", status, b)
			}
			if !bytes.Contains(b, []byte(c.want)) || !bytes.Contains(b, []byte(`"id":"r-1"`)) {
				t.Errorf("reply %s does not name %s, or lost the id", b, c.want)
			}
		})
	}
	// message/stream answers in its own form: one event with the error.
	body := `{"jsonrpc":"2.0","id":2,"method":"message/stream","params":{"message":{"messageId":"m","role":"user","parts":[{"kind":"data","data":"x"}]}}}`
	status, b := e.rpc("application/json", body)
	data, ok := bytes.CutPrefix(b[bytes.Index(b, []byte("data: ")):], []byte("data: "))
	if status != http.StatusOK || !ok || rpcErrorCode(t, bytes.TrimSpace(data)) != -32602 {
		t.Errorf("message/stream: %d %s, want an event with invalid params", status, b)
	}
	if h := e.head(); h != 0 {
		t.Errorf("head = %d, want 0", h)
	}
}

// A correlation id that cannot name a stream is the event's fault, at its
// place in the message.
func TestA2ABadCorrelation(t *testing.T) {
	e := newA2AEnv(t, server.Config{})
	for _, meta := range []map[string]any{nil, {"stream": "given"}} {
		te := taskError(t, e.send(dataMsg(ce("", "a.b", "c-1", nil), ce("", "a.b", "bad\x01id", nil)), meta))
		if te.Code != event.CodeInvalidField || te.Field != "message.parts[1].data.correlationid" {
			t.Errorf("metadata %v: error = %+v, want invalid_field at message.parts[1].data.correlationid", meta, te)
		}
		te = taskError(t, e.send(dataMsg(ce("", "a.b", "bad\x01id", nil)), meta))
		if te.Code != event.CodeInvalidField || te.Field != "message.parts[0].data.correlationid" {
			t.Errorf("metadata %v: error = %+v, want invalid_field at message.parts[0].data.correlationid", meta, te)
		}
	}
	if h := e.head(); h != 0 {
		t.Errorf("head = %d, want 0", h)
	}
}
