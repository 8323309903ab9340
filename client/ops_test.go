package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/view"
)

const opsChoreography = `name: shop
patterns:
  - id: new_order
    event_type: order_received
    action: check_stock
    target_capability: stock
    timeout: 45s
  - id: refund
    event_type: refund_requested
    action: refund
    target_capability: refunds
`

// opsEnv is a whole choreo server on 127.0.0.1, wired as choreo serve
// wires it: a log, the choreography opsChoreography deployed and run, the
// registry, a dispatcher with an in-process transport, the actions view
// and metrics.
type opsEnv struct {
	st     store.Store
	c      *client.Client
	inproc *dispatch.InProcess
}

func newOpsEnv(t *testing.T) *opsEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mem.New(store.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	deps, err := deploy.Open(ctx, st, deploy.Config{RunnerConfig: live.Config{Logger: log}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := deps.Deploy(ctx, "shop", []byte(opsChoreography)); err != nil {
		t.Fatal(err)
	}
	reg, err := agent.Open(ctx, st, agent.Config{Resolver: a2a.ResolveCard, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	inproc := dispatch.NewInProcess()
	disp, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolInProcess: inproc},
		dispatch.Config{Logger: log, MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, AgentWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	actions := view.NewActions(st, 0)
	srv, err := server.New(server.Config{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(server.Services{Agents: reg, Dispatcher: disp, Actions: actions, Deployments: deps, Metrics: func() map[string]any {
		return map[string]any{"engines": deps.Metrics(), "actions": actions.Counts(), "agents": map[string]any{"registered": reg.Len()}}
	}})
	ts := httptest.NewServer(srv.Handler())
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{deps.Run, disp.Run, reg.Run, actions.Run} {
		wg.Go(func() { run(ctx) }) //nolint:errcheck // ends with ctx
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		ts.Close()
		cancel()
		wg.Wait()
		deps.Close()
		st.Close()
	})
	return &opsEnv{st: st, c: c, inproc: inproc}
}

// eventually waits for cond, checking it every few milliseconds, for at
// most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// apiErr asserts that err is an *client.Error with code and field.
func apiErr(t *testing.T, err error, code, field string) *client.Error {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want an *client.Error with code %s", err, err, code)
	}
	if ae.Code != code || ae.Field != field {
		t.Fatalf("error code %q field %q (%v), want code %q field %q", ae.Code, ae.Field, ae, code, field)
	}
	return ae
}

func TestAgents(t *testing.T) {
	e := newOpsEnv(t)
	ctx := testCtx(t)

	got, err := e.c.RegisterAgent(ctx, agent.Profile{ID: "stock-1", Name: "Stock", Capabilities: []string{"stock", "stock"},
		Endpoint: "stock", Protocol: agent.ProtocolInProcess})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Live || got.Status != agent.StatusActive || !slices.Equal(got.Capabilities, []string{"stock"}) || got.LastHeartbeat.IsZero() {
		t.Fatalf("registered %+v", got)
	}
	one, err := e.c.Agent(ctx, "stock-1")
	if err != nil {
		t.Fatal(err)
	}
	if one.ID != "stock-1" || one.Name != "Stock" || one.Endpoint != "stock" || !one.Live {
		t.Errorf("Agent: %+v", one)
	}

	load := 0.5
	hb, err := e.c.Heartbeat(ctx, "stock-1", agent.Heartbeat{Load: &load, Status: agent.StatusBusy})
	if err != nil {
		t.Fatal(err)
	}
	if hb.Load != 0.5 || hb.Status != agent.StatusBusy {
		t.Errorf("after heartbeat: load %v status %q", hb.Load, hb.Status)
	}
	// An empty heartbeat keeps load and status.
	hb, err = e.c.Heartbeat(ctx, "stock-1", agent.Heartbeat{})
	if err != nil {
		t.Fatal(err)
	}
	if hb.Load != 0.5 || hb.Status != agent.StatusBusy {
		t.Errorf("after an empty heartbeat: load %v status %q", hb.Load, hb.Status)
	}

	list, err := e.c.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "stock-1" {
		t.Fatalf("Agents: %+v", list)
	}

	// Bad input names its field; unknown ids are not_found.
	_, err = e.c.RegisterAgent(ctx, agent.Profile{ID: "x", Endpoint: "x", Protocol: agent.ProtocolInProcess})
	apiErr(t, err, "missing_field", "capabilities")
	_, err = e.c.Heartbeat(ctx, "stock-1", agent.Heartbeat{Load: new(2.0)})
	apiErr(t, err, "invalid_field", "load")
	_, err = e.c.Heartbeat(ctx, "nobody", agent.Heartbeat{})
	apiErr(t, err, "not_found", "id")

	if err := e.c.UnregisterAgent(ctx, "stock-1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Agent(ctx, "stock-1")
	if ae := apiErr(t, err, "not_found", "id"); ae.Status != http.StatusNotFound || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Agent after unregister: %v", err)
	}
	apiErr(t, e.c.UnregisterAgent(ctx, "stock-1"), "not_found", "id")
	if list, err := e.c.Agents(ctx); err != nil || len(list) != 0 {
		t.Fatalf("Agents after unregister: %v, %v", list, err)
	}

	// Empty ids are refused before any request.
	for name, err := range map[string]error{
		"Agent":           func() error { _, err := e.c.Agent(ctx, ""); return err }(),
		"Heartbeat":       func() error { _, err := e.c.Heartbeat(ctx, "", agent.Heartbeat{}); return err }(),
		"UnregisterAgent": e.c.UnregisterAgent(ctx, ""),
		"RegisterAgent":   func() error { _, err := e.c.RegisterAgent(ctx, agent.Profile{}); return err }(),
		"RegisterCard":    func() error { _, err := e.c.RegisterCard(ctx, ""); return err }(),
	} {
		var ae *client.Error
		if err == nil || errors.As(err, &ae) {
			t.Errorf("%s with an empty id: %v, want a local error", name, err)
		}
	}
}

func TestRegisterCard(t *testing.T) {
	e := newOpsEnv(t)
	ctx := testCtx(t)

	mux := http.NewServeMux()
	card := httptest.NewServer(mux)
	defer card.Close()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&sdk.AgentCard{
		Name: "Refunds", URL: card.URL + "/rpc", Skills: []sdk.AgentSkill{{ID: "refunds", Name: "Refunds"}},
	}))

	a, err := e.c.RegisterCard(ctx, card.URL)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.Protocol != agent.ProtocolA2A || !slices.Equal(a.Capabilities, []string{"refunds"}) || a.CardURL == "" || !a.Live {
		t.Fatalf("registered from the card: %+v", a)
	}
	_, err = e.c.RegisterCard(ctx, card.URL+"/nothing-here")
	apiErr(t, err, "card_unavailable", "")
}

func TestActionsAndCorrelation(t *testing.T) {
	e := newOpsEnv(t)
	ctx := testCtx(t)
	var delivered atomic.Int32
	e.inproc.Handle("stock", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		delivered.Add(1)
		return dispatch.Result{Events: []*event.Event{{SpecVersion: "1.0", Type: "stock_checked", Data: json.RawMessage(`{"ok":true}`)}}}, nil
	})
	if _, err := e.c.RegisterAgent(ctx, agent.Profile{ID: "stock-1", Capabilities: []string{"stock"}, Endpoint: "stock", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, corr := range []string{"order-1", "order-2"} {
		if _, err := e.c.Publish(ctx, &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("e%d", i), Source: "shop", Type: "order_received",
			CorrelationID: corr, Time: t0.Add(time.Duration(i) * time.Second), Data: json.RawMessage(`{"total":3}`)}); err != nil {
			t.Fatal(err)
		}
	}

	var acts []client.Action
	eventually(t, "two delivered actions", func() bool {
		var err error
		acts, err = e.c.Actions(ctx, client.ActionFilter{Status: "delivered"})
		if err != nil {
			t.Fatal(err)
		}
		return len(acts) == 2 && len(acts[0].Results) == 1
	})
	a := acts[1] // newest first: order-1's is second
	want := engine.ActionID("shop", engine.KindPattern, "new_order", []string{"e0"})
	if a.ID != want || a.Action != "check_stock" || a.TargetCapability != "stock" || a.Choreography != "shop" || a.RuleID != "new_order" ||
		a.CorrelationID != "order-1" || !slices.Equal(a.TriggerEventIDs, []string{"e0"}) || !a.Time.Equal(t0) || a.Timeout != 45*time.Second ||
		a.Agent != "stock-1" || a.Attempts != 1 || a.DecidedAt.IsZero() {
		t.Fatalf("action %+v", a)
	}

	one, err := e.c.Action(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, a) {
		t.Errorf("Action(id)\n got %+v\nwant %+v", one, a)
	}
	// An action round-trips through JSON as the API writes it.
	b, _ := json.Marshal(one)
	var back client.Action
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, one) {
		t.Errorf("JSON round trip: %s: %+v, %v", b, back, err)
	}

	if list, err := e.c.Actions(ctx, client.ActionFilter{Correlation: "order-2", Limit: 5}); err != nil || len(list) != 1 || list[0].CorrelationID != "order-2" {
		t.Errorf("filtered by correlation: %+v, %v", list, err)
	}
	if list, err := e.c.Actions(ctx, client.ActionFilter{Status: "pending"}); err != nil || len(list) != 0 {
		t.Errorf("pending: %+v, %v", list, err)
	}
	_, err = e.c.Actions(ctx, client.ActionFilter{Status: "lost"})
	apiErr(t, err, "invalid_query", "status")
	_, err = e.c.Action(ctx, "nope")
	apiErr(t, err, "not_found", "id")

	// The correlation: its events (the order and the agent's result), its
	// action, and the analysis.
	corr, err := e.c.Correlation(ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	if corr.ID != "order-1" || len(corr.Events) != 2 || corr.Events[0].Event.ID != "e0" || corr.Events[1].Event.Type != "stock_checked" || corr.Truncated {
		t.Fatalf("correlation %+v", corr)
	}
	if len(corr.Actions) != 1 || corr.Actions[0].ID != a.ID {
		t.Errorf("correlation actions %+v", corr.Actions)
	}
	if an := corr.Analysis; an.EventCount != 2 || an.EventTypes["order_received"] != 1 || an.UniqueSources != 2 {
		t.Errorf("analysis %+v", an)
	}
	_, err = e.c.Correlation(ctx, "order-404")
	apiErr(t, err, "not_found", "id")

	m, err := e.c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	engines, ok := m["engines"].([]any)
	if !ok || len(engines) != 1 {
		t.Fatalf("metrics %v: want one engine", m)
	}
	runner, _ := engines[0].(map[string]any)["runner"].(map[string]any)
	if n, ok := runner["events_processed"].(json.Number); !ok || n.String() == "0" {
		t.Errorf("runner.events_processed = %#v", runner["events_processed"])
	}
	if delivered.Load() != 2 {
		t.Errorf("the agent received %d deliveries, want 2", delivered.Load())
	}
}

func TestDeadLetters(t *testing.T) {
	e := newOpsEnv(t)
	ctx := testCtx(t)
	var refuse atomic.Bool
	refuse.Store(true)
	e.inproc.Handle("refunds", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		if refuse.Load() {
			return dispatch.Result{}, dispatch.Permanent(errors.New("refunds are closed"))
		}
		return dispatch.Result{}, nil
	})
	if _, err := e.c.RegisterAgent(ctx, agent.Profile{ID: "refunds-1", Capabilities: []string{"refunds"}, Endpoint: "refunds", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r1", "r2"} {
		if _, err := e.c.Publish(ctx, &event.Event{SpecVersion: "1.0", ID: id, Source: "shop", Type: "refund_requested", CorrelationID: "order-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	var dls []client.DeadLetter
	eventually(t, "two dead letters", func() bool {
		var err error
		dls, err = e.c.DeadLetters(ctx)
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == "not_ready" {
			return false // the dispatcher is still rebuilding its queue from the log
		}
		if err != nil {
			t.Fatal(err)
		}
		return len(dls) == 2
	})
	dl := dls[0]
	if dl.Reason != dispatch.ReasonRejected || dl.Attempts != 1 || dl.Agent != "refunds-1" || dl.LastError == "" ||
		dl.Action.ID != dl.ActionID || dl.Action.Action != "refund" || dl.Time.IsZero() {
		t.Fatalf("dead letter %+v", dl)
	}
	one, err := e.c.DeadLetter(ctx, dl.ActionID)
	if err != nil || !reflect.DeepEqual(one, dl) {
		t.Fatalf("DeadLetter(id) = %+v, %v; want %+v", one, err, dl)
	}

	// Retried once the agent takes refunds again: delivered, with the
	// same action id.
	refuse.Store(false)
	if err := e.c.RetryDeadLetter(ctx, dl.ActionID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the retried action delivered", func() bool {
		a, err := e.c.Action(ctx, dl.ActionID)
		return err == nil && a.Status == "delivered"
	})
	// The other is discarded.
	other := dls[1].ActionID
	if err := e.c.DiscardDeadLetter(ctx, other); err != nil {
		t.Fatal(err)
	}
	if list, err := e.c.DeadLetters(ctx); err != nil || len(list) != 0 {
		t.Fatalf("queue after retry and discard: %+v, %v", list, err)
	}
	eventually(t, "the discarded action", func() bool {
		a, err := e.c.Action(ctx, other)
		return err == nil && a.Status == "discarded"
	})
	apiErr(t, e.c.RetryDeadLetter(ctx, other), "not_found", "id")
	apiErr(t, e.c.DiscardDeadLetter(ctx, "nope"), "not_found", "id")
	_, err = e.c.DeadLetter(ctx, "nope")
	apiErr(t, err, "not_found", "id")
}

func TestChoreographies(t *testing.T) {
	e := newOpsEnv(t)
	ctx := testCtx(t)
	src := []byte("name: returns\npatterns:\n  - id: r\n    event_type: return_requested\n    action: accept_return\n    target_capability: returns\n")

	d, created, err := e.c.Deploy(ctx, "returns", src, "")
	if err != nil {
		t.Fatal(err)
	}
	if !created || d.Name != "returns" || d.Version != 1 || d.Rules != 1 || len(d.SHA256) != 64 || d.DeployedAt.IsZero() || d.Source != "" {
		t.Fatalf("deployed %+v, created %v", d, created)
	}
	// The same source again changes nothing.
	again, created, err := e.c.Deploy(ctx, "returns", src, "application/yaml")
	if err != nil || created || again != d {
		t.Fatalf("redeploy: %+v, created %v, %v; want %+v", again, created, err, d)
	}
	// JSON, sniffed, is version 2.
	js := []byte(`{"name":"returns","patterns":[{"id":"r","event_type":"return_requested","action":"accept_return","target_capability":"returns","priority":3}]}`)
	d2, created, err := e.c.Deploy(ctx, "returns", js, "")
	if err != nil || !created || d2.Version != 2 || d2.Position <= d.Position {
		t.Fatalf("version 2: %+v, created %v, %v", d2, created, err)
	}
	list, err := e.c.Choreographies(ctx)
	if err != nil || len(list) != 2 || list[0] != d2 || list[1].Name != "shop" {
		t.Fatalf("list: %+v, %v; want [%+v shop]", list, err, d2)
	}
	got, err := e.c.Choreography(ctx, "returns")
	if err != nil || got.Source != string(js) {
		t.Fatalf("get: %+v, %v", got, err)
	}
	got.Source = ""
	if got != d2 {
		t.Fatalf("get: %+v, want %+v", got, d2)
	}

	ae := apiErr(t, deployErr(e.c.Deploy(ctx, "returns", []byte("name: returns\npatterns:\n  - id: r\n    event_type: x\n    priority: high\n"), "")), "invalid_choreography", "")
	if ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Message, "5:15:") || !strings.Contains(ae.Message, "priority") {
		t.Errorf("invalid document: %v; want the problems with their lines", ae)
	}
	apiErr(t, deployErr(e.c.Deploy(ctx, "other", src, "")), "name_mismatch", "name")
	apiErr(t, deployErr(e.c.Deploy(ctx, "returns", src, "image/png")), "unsupported_media_type", "")

	if err := e.c.RemoveChoreography(ctx, "returns"); err != nil {
		t.Fatal(err)
	}
	apiErr(t, e.c.RemoveChoreography(ctx, "returns"), "not_found", "name")
	_, err = e.c.Choreography(ctx, "returns")
	apiErr(t, err, "not_found", "name")
	if list, err := e.c.Choreographies(ctx); err != nil || len(list) != 1 {
		t.Fatalf("list after removal: %+v, %v", list, err)
	}
	versions, err := e.c.ChoreographyVersions(ctx, "returns")
	if err != nil || len(versions) != 2 || versions[0].Version != 1 || versions[0].End != d2.Position || !versions[1].Removed || versions[1].End == 0 {
		t.Fatalf("versions: %+v, %v", versions, err)
	}
	_, err = e.c.ChoreographyVersions(ctx, "never")
	apiErr(t, err, "not_found", "name")
}

func deployErr(_ client.Deployment, _ bool, err error) error { return err }
