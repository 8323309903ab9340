package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
)

func TestActions(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	ctx := context.Background()
	e.inproc.Handle("stock", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		return dispatch.Result{}, nil
	})
	if _, err := e.c.RegisterAgent(ctx, agent.Profile{ID: "stock-1", Capabilities: []string{"stock"}, Endpoint: "stock", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	publishTimed(t, e.c, "a-1", "order_received", "o-1", t0, "")
	publishTimed(t, e.c, "a-2", "order_received", "o-2", t0, "")
	eventually(t, "two delivered actions", func() bool {
		acts, err := e.c.Actions(ctx, client.ActionFilter{Status: "delivered"})
		return err == nil && len(acts) == 2
	})
	id := engine.ActionID("shop", engine.KindPattern, "new_order", []string{"a-1"})

	code, out, stderr := e.run(t, "", runActions)
	wantExit(t, code, stderr, exitOK)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DECIDED ") || !strings.Contains(lines[2], id) || !strings.Contains(lines[2], "check_stock") ||
		!strings.Contains(lines[2], "delivered") || !strings.Contains(lines[2], "stock-1") || !strings.Contains(lines[2], "shop/new_order") {
		t.Fatalf("list:\n%s", out)
	}
	code, out, stderr = e.run(t, "", runActions, "--correlation", "o-2", "--status", "delivered", "--limit", "5", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var doc struct {
		Actions []client.Action `json:"actions"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Actions) != 1 || doc.Actions[0].CorrelationID != "o-2" {
		t.Fatalf("JSON %s: %v", out, err)
	}
	code, out, stderr = e.run(t, "", runActions, "--status", "pending")
	wantExit(t, code, stderr, exitOK)
	if out != "no actions\n" {
		t.Errorf("pending: %q", out)
	}

	code, out, stderr = e.run(t, "", runActions, id)
	wantExit(t, code, stderr, exitOK)
	// The columns are as wide as the longest label shown, which depends
	// on the fields present ("response time" only for a delivery slow
	// enough to measure): compare with the padding squeezed.
	squeezed := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"action " + id, "capability stock", "rule shop/new_order (pattern, priority 1)", "triggers a-1",
		"time 2026-03-01T10:00:00.000Z", "status delivered", "agent stock-1", "attempts 1"} {
		if !strings.Contains(squeezed, want) {
			t.Errorf("action output does not hold %q:\n%s", want, out)
		}
	}
	code, out, stderr = e.run(t, "", runActions, id, "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var a client.Action
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.ID != id || a.Status != "delivered" {
		t.Fatalf("JSON %s: %v", out, err)
	}

	code, _, stderr = e.run(t, "", runActions, "--status", "lost")
	wantExit(t, code, stderr, exitFailure, "invalid_query: status:", "(HTTP 400)")
	code, _, stderr = e.run(t, "", runActions, "nope")
	wantExit(t, code, stderr, exitFailure, "not_found: id:")
	for _, args := range [][]string{{"a", "b"}, {"a", "--status", "delivered"}, {"--limit", "0"}} {
		if code, _, stderr := e.run(t, "", runActions, args...); code != exitUsage {
			t.Errorf("actions %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}
