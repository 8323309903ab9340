package server_test

import (
	"context"
	"encoding/json"
	"github.com/prometheus/client_golang/prometheus"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/view"
)

// opsEnv is a server with every service mounted and running over the
// in-memory log, as choreo serve wires them.
func opsEnv(t *testing.T) (*env, *dispatch.InProcess) {
	t.Helper()
	e := newMemEnv(t, server.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := agent.Open(ctx, e.store, agent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in := dispatch.NewInProcess()
	disp, err := dispatch.New(e.store, reg, map[string]dispatch.Transport{agent.ProtocolInProcess: in},
		dispatch.Config{AgentWait: 100 * time.Millisecond, AgentPoll: 10 * time.Millisecond, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	deps, err := deploy.Open(ctx, e.store, deploy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	acts := view.NewActions(e.store, 0)
	delivered := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "test_delivered_total", Help: "Delivered."},
		func() float64 { return float64(disp.Metrics().Delivered) })
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(delivered)
	e.srv.Mount(server.Services{Agents: reg, Dispatcher: disp, Actions: acts, Deployments: deps, Prometheus: promReg,
		Metrics: func() map[string]any { return map[string]any{"dispatch": disp.Metrics(), "ok": true} }})
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{disp.Run, deps.Run, acts.Run} {
		wg.Go(func() { run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait(); deps.Close() })
	return e, in
}

func (e *env) send(method, path, contentType, body string) response {
	e.t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return e.do(method, path, h, b)
}

func wantStatus(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.err(t).Error.Code; got != code {
			t.Fatalf("code %q, want %q: %s", got, code, r.body)
		}
	}
}

const shopDoc = `name: shop
patterns:
  - id: check
    event_type: order_received
    action: check_inventory
    target_capability: inventory_management
`

func TestChoreographyEndpoints(t *testing.T) {
	e, _ := opsEnv(t)
	wantStatus(t, e.send("PUT", "/v1/choreographies/shop", "application/yaml", shopDoc), http.StatusCreated, "")
	r := e.send("PUT", "/v1/choreographies/shop", "application/yaml", shopDoc)
	wantStatus(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"changed":false`) || !strings.Contains(string(r.body), `"version":1`) {
		t.Fatalf("identical redeploy: %s", r.body)
	}
	wantStatus(t, e.send("PUT", "/v1/choreographies/shop", "application/yaml", strings.Replace(shopDoc, "check_inventory", "reserve_stock", 1)), http.StatusCreated, "")

	bad := e.send("PUT", "/v1/choreographies/shop", "application/yaml", "name: shop\npatterns:\n  - event_type: x\n    action: a\n    priority: high\n")
	wantStatus(t, bad, http.StatusUnprocessableEntity, server.CodeInvalidChoreography)
	var doc struct {
		Error struct {
			Problems []struct {
				Line int    `json:"line"`
				Code string `json:"code"`
			} `json:"problems"`
		} `json:"error"`
	}
	if err := json.Unmarshal(bad.body, &doc); err != nil || len(doc.Error.Problems) == 0 || doc.Error.Problems[0].Line == 0 {
		t.Fatalf("problems not listed with lines: %s", bad.body)
	}
	wantStatus(t, e.send("PUT", "/v1/choreographies/other", "application/yaml", shopDoc), http.StatusBadRequest, server.CodeNameMismatch)
	wantStatus(t, e.send("PUT", "/v1/choreographies/shop", "image/png", shopDoc), http.StatusUnsupportedMediaType, server.CodeUnsupportedMediaType)

	r = e.get("/v1/choreographies")
	wantStatus(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"name":"shop"`) || !strings.Contains(string(r.body), `"version":2`) {
		t.Fatalf("list: %s", r.body)
	}
	r = e.get("/v1/choreographies/shop")
	if !strings.Contains(string(r.body), "reserve_stock") {
		t.Fatalf("get: %s", r.body)
	}
	r = e.get("/v1/choreographies/shop/versions")
	if strings.Count(string(r.body), `"version"`) != 2 {
		t.Fatalf("versions: %s", r.body)
	}
	wantStatus(t, e.get("/v1/choreographies/nope"), http.StatusNotFound, server.CodeNotFound)
	wantStatus(t, e.send("DELETE", "/v1/choreographies/shop", "", ""), http.StatusNoContent, "")
	wantStatus(t, e.send("DELETE", "/v1/choreographies/shop", "", ""), http.StatusNotFound, server.CodeNotFound)
}

func TestAgentActionAndDeadLetterEndpoints(t *testing.T) {
	e, in := opsEnv(t)
	wantStatus(t, e.send("PUT", "/v1/choreographies/shop", "application/yaml", shopDoc), http.StatusCreated, "")

	wantStatus(t, e.send("POST", "/v1/agents", "application/json", `{"capabilities":["x"],"endpoint":"inv"}`), http.StatusBadRequest, "missing_field")
	wantStatus(t, e.send("POST", "/v1/agents", "text/plain", `{}`), http.StatusUnsupportedMediaType, server.CodeUnsupportedMediaType)
	wantStatus(t, e.send("POST", "/v1/agents", "application/json", `{"card_url":"http://127.0.0.1:1"}`), http.StatusNotImplemented, server.CodeNoResolver)
	var calls int
	var mu sync.Mutex
	in.Handle("inv", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return dispatch.Result{}, dispatch.Permanent(errFirst)
		}
		return dispatch.Result{}, nil
	})
	wantStatus(t, e.send("POST", "/v1/agents", "application/json",
		`{"id":"inv","capabilities":["inventory_management"],"endpoint":"inv","protocol":"inproc"}`), http.StatusCreated, "")
	r := e.get("/v1/agents")
	if !strings.Contains(string(r.body), `"id":"inv"`) || !strings.Contains(string(r.body), `"live":true`) {
		t.Fatalf("agents: %s", r.body)
	}
	wantStatus(t, e.send("POST", "/v1/agents/inv/heartbeat", "application/json", `{"load":0.5}`), http.StatusOK, "")
	wantStatus(t, e.send("POST", "/v1/agents/inv/heartbeat", "application/json", `{"load":7}`), http.StatusBadRequest, "invalid_field")
	wantStatus(t, e.send("POST", "/v1/agents/ghost/heartbeat", "", ""), http.StatusNotFound, "not_found")

	// An order: the agent refuses the first action for good, so it goes to
	// the dead-letter queue; a retry then succeeds.
	wantStatus(t, e.post("", "application/json", ev("o1-received", "order_received", "o1")), http.StatusCreated, "")
	var actionID string
	waitUntil(t, "a dead letter", func() bool {
		r := e.get("/v1/dlq")
		var doc struct {
			DeadLetters []dispatch.DeadLetter `json:"dead_letters"`
		}
		json.Unmarshal(r.body, &doc)
		if len(doc.DeadLetters) == 1 {
			actionID = doc.DeadLetters[0].ActionID
			return doc.DeadLetters[0].Reason == dispatch.ReasonRejected
		}
		return false
	})
	wantStatus(t, e.get("/v1/dlq/"+actionID), http.StatusOK, "")
	wantStatus(t, e.get("/v1/dlq?reason=bored"), http.StatusBadRequest, server.CodeInvalidQuery)
	wantStatus(t, e.get("/v1/dlq?after=yesterday"), http.StatusBadRequest, server.CodeInvalidQuery)
	wantStatus(t, e.get("/v1/dlq?limit=0"), http.StatusBadRequest, server.CodeInvalidQuery)
	if r := e.get("/v1/dlq?reason=no_agent"); string(r.body) != `{"dead_letters":[]}`+"\n" {
		t.Fatalf("dead letters with no_agent: %s", r.body)
	}
	wantStatus(t, e.send("POST", "/v1/dlq/nope/retry", "", ""), http.StatusNotFound, server.CodeNotFound)
	wantStatus(t, e.send("POST", "/v1/dlq/"+actionID+"/retry", "", ""), http.StatusAccepted, "")
	waitUntil(t, "the retried action delivered", func() bool {
		return strings.Contains(string(e.get("/v1/actions/"+actionID).body), `"status":"delivered"`)
	})
	r = e.get("/v1/actions?correlation=o1&status=delivered")
	if !strings.Contains(string(r.body), actionID) {
		t.Fatalf("actions: %s", r.body)
	}
	wantStatus(t, e.get("/v1/actions?status=bogus"), http.StatusBadRequest, server.CodeInvalidQuery)
	wantStatus(t, e.get("/v1/actions?colour=red"), http.StatusBadRequest, server.CodeInvalidQuery)
	wantStatus(t, e.get("/v1/actions/nope"), http.StatusNotFound, server.CodeNotFound)

	r = e.get("/v1/correlations/o1")
	wantStatus(t, r, http.StatusOK, "")
	var corr struct {
		Events   []json.RawMessage `json:"events"`
		Actions  []json.RawMessage `json:"actions"`
		Analysis map[string]any    `json:"analysis"`
	}
	if err := json.Unmarshal(r.body, &corr); err != nil || len(corr.Events) != 1 || len(corr.Actions) != 1 || corr.Analysis == nil {
		t.Fatalf("correlation: %s (%v)", r.body, err)
	}
	wantStatus(t, e.get("/v1/correlations/none"), http.StatusNotFound, server.CodeNotFound)

	wantStatus(t, e.get("/v1/metrics"), http.StatusOK, "")
	r = e.get("/metrics")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "test_delivered_total 1") {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	wantStatus(t, e.send("DELETE", "/v1/agents/inv", "", ""), http.StatusNoContent, "")
	wantStatus(t, e.send("DELETE", "/v1/agents/inv", "", ""), http.StatusNotFound, "not_found")
}

var errFirst = &permanentish{}

type permanentish struct{}

func (*permanentish) Error() string { return "not today" }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Errors in agent documents name members by their JSON names and types
// as JSON has them, never Go's.
func TestAgentDocumentErrors(t *testing.T) {
	e, _ := opsEnv(t)
	wantStatus(t, e.send("POST", "/v1/agents", "application/json",
		`{"id":"inv","capabilities":["x"],"endpoint":"inv","protocol":"inproc"}`), http.StatusCreated, "")
	for _, c := range []struct{ path, body, field, msg string }{
		{"/v1/agents", `{"load":"x"}`, "load", "want a number, got a string"},
		{"/v1/agents", `[]`, "", "want an object, got an array"},
		{"/v1/agents", `"inv"`, "", "want an object, got a string"},
		{"/v1/agents", `{"capabilities":"x"}`, "capabilities", "want an array, got a string"},
		{"/v1/agents", `{"capabilities":[1]}`, "capabilities", "want a string, got a number"},
		{"/v1/agents", `{"metadata":[]}`, "metadata", "want an object, got an array"},
		{"/v1/agents", `{"status":true}`, "status", "want a string, got a boolean"},
		{"/v1/agents", `{"load":1e999}`, "load", "1e999 is out of range"},
		{"/v1/agents/inv/heartbeat", `{"load":"x"}`, "load", "want a number, got a string"},
		{"/v1/agents/inv/heartbeat", `{"status":[]}`, "status", "want a string, got an array"},
		{"/v1/agents/inv/heartbeat", `[]`, "", "want an object, got an array"},
	} {
		r := e.send("POST", c.path, "application/json", c.body)
		wantStatus(t, r, http.StatusBadRequest, "invalid_field")
		got := r.err(t).Error
		field := ""
		if got.Field != nil {
			field = *got.Field
		}
		if field != c.field || got.Message != c.msg {
			t.Errorf("%s %s: field %q, message %q; want %q, %q", c.path, c.body, field, got.Message, c.field, c.msg)
		}
	}
	// A whole profile, as the Go client sends it, still registers.
	wantStatus(t, e.send("POST", "/v1/agents", "application/json",
		`{"id":"inv","capabilities":["x"],"endpoint":"inv","protocol":"inproc","status":"active","load":0.1,"last_heartbeat":"0001-01-01T00:00:00Z"}`), http.StatusCreated, "")
}
