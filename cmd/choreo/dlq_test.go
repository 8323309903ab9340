package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/dispatch"
)

func TestDLQ(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	ctx := context.Background()
	var refuse atomic.Bool
	refuse.Store(true)
	e.inproc.Handle("refunds", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		if refuse.Load() {
			return dispatch.Result{}, dispatch.Permanent(errors.New("refunds are closed today"))
		}
		return dispatch.Result{}, nil
	})
	if _, err := e.c.RegisterAgent(ctx, agent.Profile{ID: "refunds-1", Capabilities: []string{"refunds"}, Endpoint: "refunds", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.run(t, "", runDLQ, "list")
	wantExit(t, code, stderr, exitOK)
	if out != "the dead-letter queue is empty\n" {
		t.Errorf("empty queue: %q", out)
	}
	publishTimed(t, e.c, "r-1", "refund_requested", "o-1", time.Time{}, "")
	publishTimed(t, e.c, "r-2", "refund_requested", "o-2", time.Time{}, "")
	var dls []client.DeadLetter
	eventually(t, "two dead letters", func() bool {
		var err error
		dls, err = e.c.DeadLetters(ctx)
		return err == nil && len(dls) == 2
	})

	code, out, stderr = e.run(t, "", runDLQ, "list")
	wantExit(t, code, stderr, exitOK)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME ") || !strings.Contains(lines[1], dls[0].ActionID) || !strings.Contains(lines[1], "refund") ||
		!strings.Contains(lines[1], "rejected") || !strings.Contains(lines[1], "refunds-1") || !strings.Contains(lines[1], "refunds are closed today") {
		t.Fatalf("list:\n%s", out)
	}
	code, out, stderr = e.run(t, "", runDLQ, "list", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var doc struct {
		DeadLetters []client.DeadLetter `json:"dead_letters"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.DeadLetters) != 2 || doc.DeadLetters[0].Reason != "rejected" {
		t.Fatalf("JSON %s: %v", out, err)
	}

	refuse.Store(false)
	first, second := dls[0].ActionID, dls[1].ActionID
	code, out, stderr = e.run(t, "", runDLQ, "retry", first)
	wantExit(t, code, stderr, exitOK)
	if out != "retried "+first+"\n" {
		t.Errorf("retry output %q", out)
	}
	eventually(t, "the retried action delivered", func() bool {
		a, err := e.c.Action(ctx, first)
		return err == nil && a.Status == "delivered"
	})
	code, out, stderr = e.run(t, "", runDLQ, "discard", second, "--output", "json")
	wantExit(t, code, stderr, exitOK)
	if out != `{"action_id":"`+second+`","status":"discarded"}`+"\n" {
		t.Errorf("discard output %q", out)
	}
	if list, err := e.c.DeadLetters(ctx); err != nil || len(list) != 0 {
		t.Fatalf("queue after retry and discard: %+v, %v", list, err)
	}
	code, _, stderr = e.run(t, "", runDLQ, "retry", second)
	wantExit(t, code, stderr, exitFailure, "not_found: id: no dead letter for action", "(HTTP 404)")
	for _, args := range [][]string{{"retry"}, {"discard", "a", "b"}, {"list", "x"}, {"purge"}} {
		if code, _, stderr := e.run(t, "", runDLQ, args...); code != exitUsage {
			t.Errorf("dlq %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}
