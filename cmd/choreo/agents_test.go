package main

import (
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
