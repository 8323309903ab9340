package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/dispatch"
)

// refundsEnv is a server with an in-process refunds agent that refuses
// every action for good while refuse is set, as it is at first.
func refundsEnv(t *testing.T) (e *cliEnv, refuse *atomic.Bool) {
	noLeaks(t)
	e = newCLIEnv(t)
	refuse = new(atomic.Bool)
	refuse.Store(true)
	e.inproc.Handle("refunds", func(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
		if refuse.Load() {
			return dispatch.Result{}, dispatch.Permanent(errors.New("refunds are closed today"))
		}
		return dispatch.Result{}, nil
	})
	if _, err := e.c.RegisterAgent(context.Background(), agent.Profile{ID: "refunds-1", Capabilities: []string{"refunds"}, Endpoint: "refunds", Protocol: agent.ProtocolInProcess}); err != nil {
		t.Fatal(err)
	}
	return e, refuse
}

func TestDLQ(t *testing.T) {
	e, refuse := refundsEnv(t)
	ctx := context.Background()
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

// TestDLQRetryAll: after an outage, every dead letter of one reason goes
// back for delivery with one command; the pages of the queue cover it
// exactly once.
func TestDLQRetryAll(t *testing.T) {
	e, refuse := refundsEnv(t)
	ctx := context.Background()
	const n = 7
	for i := range n {
		publishTimed(t, e.c, fmt.Sprint("r-", i), "refund_requested", fmt.Sprint("o-", i), time.Time{}, "")
	}
	eventually(t, "the dead letters", func() bool {
		dls, err := e.c.DeadLetters(ctx)
		return err == nil && len(dls) == n
	})
	seen := map[string]bool{}
	pages := 0
	for f := (client.DLQFilter{Limit: 3}); ; pages++ {
		page, next, err := e.c.DeadLetterPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			if seen[d.ActionID] {
				t.Fatalf("%s on two pages", d.ActionID)
			}
			seen[d.ActionID] = true
		}
		if next == "" {
			break
		}
		f.After = next
	}
	if len(seen) != n || pages != 2 {
		t.Fatalf("pages of 3 covered %d dead letters in %d pages, want %d in 3", len(seen), pages+1, n)
	}

	code, out, stderr := e.run(t, "", runDLQ, "list", "--reason", "no_agent")
	wantExit(t, code, stderr, exitOK)
	if out != "no dead letter given up on for no_agent\n" {
		t.Errorf("list --reason no_agent: %q", out)
	}
	code, out, stderr = e.run(t, "", runDLQ, "retry", "--all", "--reason", "no_agent")
	wantExit(t, code, stderr, exitOK)
	if out != "retried 0 dead letters\n" {
		t.Errorf("retry --all --reason no_agent: %q", out)
	}
	refuse.Store(false)
	code, out, stderr = e.run(t, "", runDLQ, "retry", "--all", "--reason", "rejected")
	wantExit(t, code, stderr, exitOK)
	if out != fmt.Sprintf("retried %d dead letters\n", n) {
		t.Errorf("retry --all: %q", out)
	}
	eventually(t, "every retried action delivered", func() bool {
		for id := range seen {
			if a, err := e.c.Action(ctx, id); err != nil || a.Status != "delivered" {
				return false
			}
		}
		return true
	})
	code, _, stderr = e.run(t, "", runDLQ, "list", "--reason", "bored")
	wantExit(t, code, stderr, exitFailure, "invalid_query")
	if code, _, _ := e.run(t, "", runDLQ, "retry", "--all", "x"); code != exitUsage {
		t.Errorf("retry --all with an id: exit %d, want 2", code)
	}
}
