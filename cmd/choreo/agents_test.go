package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
)

func TestAgents(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)

	code, out, stderr := e.run(t, "", runAgents, "register", "--id", "inv-1", "--name", "Inventory", "--capability", "stock",
		"--capability", "reserve", "--endpoint", "http://127.0.0.1:9/actions", "--metadata", `{"team":"ops"}`)
	wantExit(t, code, stderr, exitOK)
	for _, want := range []string{"registered agent inv-1", "capabilities  stock, reserve", "protocol      webhook", "live          yes", `{"team":"ops"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("register output does not hold %q:\n%s", want, out)
		}
	}
	code, out, stderr = e.run(t, "", runAgents, "list")
	wantExit(t, code, stderr, exitOK)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.Contains(lines[1], "inv-1") || !strings.Contains(lines[1], "stock,reserve") || !strings.Contains(lines[1], "webhook") {
		t.Errorf("list:\n%s", out)
	}

	code, out, stderr = e.run(t, "", runAgents, "heartbeat", "inv-1", "--load", "0.4", "--status", "busy", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var a client.Agent
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Load != 0.4 || a.Status != agent.StatusBusy || !a.Live {
		t.Fatalf("heartbeat JSON %s: %v", out, err)
	}
	code, out, stderr = e.run(t, "", runAgents, "heartbeat", "inv-1")
	wantExit(t, code, stderr, exitOK)
	if !strings.Contains(out, "load          0.40") || !strings.Contains(out, "status        busy") {
		t.Errorf("a plain heartbeat changed load or status:\n%s", out)
	}
	code, out, stderr = e.run(t, "", runAgents, "get", "inv-1", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.ID != "inv-1" || a.Name != "Inventory" {
		t.Fatalf("get JSON %s: %v", out, err)
	}
	code, out, stderr = e.run(t, "", runAgents, "list", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var list struct {
		Agents []client.Agent `json:"agents"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Agents) != 1 || list.Agents[0].ID != "inv-1" {
		t.Fatalf("list JSON %s: %v", out, err)
	}

	// The registry's refusals, with code and field.
	code, _, stderr = e.run(t, "", runAgents, "register", "--id", "x", "--endpoint", "http://127.0.0.1:9/")
	wantExit(t, code, stderr, exitFailure, "missing_field: capabilities:", "(HTTP 400)")
	code, _, stderr = e.run(t, "", runAgents, "heartbeat", "inv-1", "--load", "2")
	wantExit(t, code, stderr, exitFailure, "invalid_field: load:")

	code, out, stderr = e.run(t, "", runAgents, "rm", "inv-1", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	if out != "" {
		t.Errorf("rm --output json printed %q; the API answers 204, with no body", out)
	}
	code, _, stderr = e.run(t, "", runAgents, "rm", "inv-1", "--output", "json")
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != "not_found" || r.Field != "id" || r.Status != http.StatusNotFound {
		t.Errorf("JSON error %+v", r)
	}

	for _, args := range [][]string{
		{"register"},
		{"register", "--card", "http://x", "--id", "y"},
		{"register", "--id", "x", "--metadata", "[1]"},
		{"register", "--id", "x", "extra"},
		{"heartbeat"},
		{"heartbeat", "x", "--load", "lots"},
	} {
		if code, _, stderr := e.run(t, "", runAgents, args...); code != exitUsage {
			t.Errorf("agents %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}

func TestAgentsRegisterCard(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	mux := http.NewServeMux()
	card := httptest.NewServer(mux)
	defer card.Close()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&sdk.AgentCard{
		Name: "Refunds", URL: card.URL + "/rpc", Skills: []sdk.AgentSkill{{ID: "refunds", Name: "Refunds"}},
	}))

	code, out, stderr := e.run(t, "", runAgents, "register", "--card", card.URL, "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var a client.Agent
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Protocol != agent.ProtocolA2A || !slices.Equal(a.Capabilities, []string{"refunds"}) || a.CardURL == "" {
		t.Fatalf("registered %s: %v", out, err)
	}
	code, _, stderr = e.run(t, "", runAgents, "register", "--card", card.URL+"/missing")
	wantExit(t, code, stderr, exitFailure, "card_unavailable", "(HTTP 502)")
}

// TestAgentsRegisterInproc: choreo serve takes an inproc agent registered
// over the API under any printable name, and has no handler for it, so
// its deliveries fail; the help says so.
func TestAgentsRegisterInproc(t *testing.T) {
	base, stop := startServe(t, t.TempDir())
	defer stop()
	code, out, stderr := runWith(t, context.Background(), "", runAgents, "register", "--server", base, "--id", "inv", "--capability", "inventory_management",
		"--protocol", "inproc", "--endpoint", "any name at all")
	wantExit(t, code, stderr, exitOK)
	if !strings.Contains(out, "protocol      inproc") {
		t.Errorf("register output:\n%s", out)
	}
	code, _, stderr = runWith(t, context.Background(), "", runPublish, "--server", base, "--type", "order_received", "--id", "o-1-received",
		"--correlation", "o-1", "--data", `{"order_value":50}`)
	wantExit(t, code, stderr, exitOK)
	eventually(t, "a failed delivery to the inproc agent", func() bool {
		_, out, _ := runWith(t, context.Background(), "", runMetrics, "--server", base, "--output", "json")
		var m struct {
			Dispatch struct {
				FailedAttempts int64 `json:"failed_attempts"`
				Delivered      int64 `json:"delivered"`
			} `json:"dispatch"`
		}
		return json.Unmarshal([]byte(out), &m) == nil && m.Dispatch.FailedAttempts > 0 && m.Dispatch.Delivered == 0
	})
	_, _, help := runWith(t, context.Background(), "", runAgents, "register", "-h")
	if !strings.Contains(help, "choreo serve registers no handler") || strings.Contains(help, "or an in-process handler name") {
		t.Errorf("agents register -h does not say what inproc is on choreo serve:\n%s", help)
	}
}
