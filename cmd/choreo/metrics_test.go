package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	publishTimed(t, e.c, "m-1", "order_received", "o-1", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), "")
	eventually(t, "the action decided", func() bool {
		m, err := e.c.Metrics(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n, _ := m["engine"].(map[string]any)["actions_decided"].(json.Number)
		return n.String() == "1"
	})

	code, out, stderr := e.run(t, "", runMetrics)
	wantExit(t, code, stderr, exitOK)
	// Groups in a fixed order, figures by name, units shown, lists as
	// tables.
	order := []string{"\nengine\n", "\ndispatch\n", "\nactions\n", "\nagents\n", "\nprocess\n"}
	last := -1
	for _, g := range order {
		i := strings.Index("\n"+out, g)
		if i < 0 || i < last {
			t.Fatalf("group %q missing or out of order:\n%s", strings.TrimSpace(g), out)
		}
		last = i
	}
	for _, want := range []string{"  actions decided ", "  events processed ", "  deployments\n    NAME ", "    shop ",
		"  uptime ", " MiB\n", "rules\n  CHOREOGRAPHY  RULE_ID ", "  shop          new_order "} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not hold %q:\n%s", want, out)
		}
	}

	code, out, stderr = e.run(t, "", runMetrics, "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"engine", "dispatch", "actions", "agents", "process", "rules"} {
		if _, ok := m[g]; !ok {
			t.Errorf("JSON has no %q: %s", g, out)
		}
	}
	if code, _, stderr := e.run(t, "", runMetrics, "extra"); code != exitUsage {
		t.Errorf("metrics extra: exit %d; stderr %q", code, stderr)
	}
}
