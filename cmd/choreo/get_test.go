package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/event"
)

func TestGetStream(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	publishTimed(t, e.c, "g-1", "order_received", "o-1", t0, `{"total":5}`)
	publishTimed(t, e.c, "g-2", "paid", "o-1", t0.Add(1500*time.Millisecond), "")
	publishTimed(t, e.c, "g-3", "shipped", "o-1", t0.Add(65*time.Second), "")

	code, out, stderr := e.run(t, "", runGet, "o-1")
	wantExit(t, code, stderr, exitOK)
	lines := strings.Split(out, "\n")
	if lines[0] != "stream o-1: 3 events from 2026-03-01T10:00:00.000Z to 2026-03-01T10:01:05.000Z (1m5s)" {
		t.Errorf("header %q", lines[0])
	}
	for i, want := range []string{"+0s ", "+1.5s ", "+1m5s "} {
		if l := lines[2+i]; !strings.HasPrefix(strings.TrimSpace(l), want) {
			t.Errorf("line %d %q does not start with %q", i, l, want)
		}
	}
	if !strings.Contains(lines[2], "order_received") || !strings.Contains(lines[2], `{"total":5}`) || !strings.Contains(lines[4], "shipped") {
		t.Errorf("timeline:\n%s", out)
	}

	// --limit, and JSON.
	code, out, stderr = e.run(t, "", runGet, "o-1", "--limit", "2", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var doc struct {
		Stream    string            `json:"stream"`
		Events    []json.RawMessage `json:"events"`
		Truncated bool              `json:"truncated"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Stream != "o-1" || len(doc.Events) != 2 || !doc.Truncated {
		t.Fatalf("JSON %s: %v", out, err)
	}
	if rec, err := client.DecodeRecord(doc.Events[1]); err != nil || rec.Event.ID != "g-2" || rec.StreamPosition != 1 {
		t.Errorf("second record %+v: %v", rec, err)
	}

	code, _, stderr = e.run(t, "", runGet, "nothing-here")
	wantExit(t, code, stderr, exitFailure, "not_found: stream: no events in stream \"nothing-here\"")
	for _, args := range [][]string{{}, {"a", "b"}, {"a", "--correlation", "b"}, {"a", "--limit", "0"}} {
		if code, _, stderr := e.run(t, "", runGet, args...); code != exitUsage {
			t.Errorf("get %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}

func TestGetCorrelation(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	ctx := context.Background()
	e.inproc.Handle("stock", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		return dispatch.Result{Events: []*event.Event{{SpecVersion: "1.0", Type: "stock_checked", Time: d.Action.Time.Add(2 * time.Second)}}}, nil
	})
	if _, err := e.c.RegisterAgent(ctx, agent.Profile{ID: "stock-1", Capabilities: []string{"stock"}, Endpoint: "stock", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	publishTimed(t, e.c, "c-1", "order_received", "o-7", t0, `{"total":5}`)
	eventually(t, "the action delivered", func() bool {
		acts, err := e.c.Actions(ctx, client.ActionFilter{Correlation: "o-7", Status: "delivered"})
		return err == nil && len(acts) == 1
	})

	code, out, stderr := e.run(t, "", runGet, "--correlation", "o-7")
	wantExit(t, code, stderr, exitOK)
	for _, want := range []string{
		"correlation o-7: 2 events from 2026-03-01T10:00:00.000Z to 2026-03-01T10:00:02.000Z (2s)",
		"o-7[0]", "o-7[1]", "stock_checked",
		"actions (1)", "check_stock", "→ stock", "delivered", "stock-1", "1 attempt", "shop/new_order",
		"analysis", "events            2", "duration          2s", "sources           2", "types             order_received 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not hold %q:\n%s", want, out)
		}
	}

	code, out, stderr = e.run(t, "", runGet, "--correlation", "o-7", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var doc struct {
		ID       string            `json:"correlation_id"`
		Events   []json.RawMessage `json:"events"`
		Actions  []client.Action   `json:"actions"`
		Analysis client.Analysis   `json:"analysis"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "o-7" || len(doc.Events) != 2 || len(doc.Actions) != 1 || doc.Actions[0].Status != "delivered" ||
		doc.Analysis.EventCount != 2 || doc.Analysis.Duration != 2*time.Second {
		t.Errorf("JSON %s", out)
	}

	if api := e.apiJSON(t, "GET", "/v1/correlations/o-7", "", ""); !reflect.DeepEqual(jsonObject(t, out), api) {
		t.Errorf("get --correlation --output json printed\n%s\nthe API answers\n%v", out, api)
	}

	code, _, stderr = e.run(t, "", runGet, "--correlation", "o-404")
	wantExit(t, code, stderr, exitFailure, "not_found: id:", "(HTTP 404)")
}
