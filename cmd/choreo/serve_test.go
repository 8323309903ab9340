package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store/pebble"
)

// startServe runs serve on dir in the background and returns its base URL
// and a function that stops it gracefully and returns serve's error.
func startServe(t *testing.T, dir string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := serveConfig{data: dir, addr: "127.0.0.1:0", choreographies: []string{"../../examples/ecommerce.yaml"}, shutdown: 5 * time.Second}
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	select {
	case addr := <-ready:
		return "http://" + addr, func() error { cancel(); return <-done }
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return "", nil
}

// keyAgent is a webhook agent that records the idempotency keys it gets.
type keyAgent struct {
	mu   sync.Mutex
	keys map[string]int
	n    int
}

func (k *keyAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	k.mu.Lock()
	k.keys[r.Header.Get("Idempotency-Key")]++
	k.n++
	k.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (k *keyAgent) counts() (distinct, total int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys), k.n
}

func postJSON(t *testing.T, url string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestServeRestartResumes runs the server, delivers actions to a real
// webhook agent, stops it gracefully, starts it again on the same data and
// checks that nothing was lost and no action was decided or delivered
// twice.
func TestServeRestartResumes(t *testing.T) {
	agentSrv := &keyAgent{keys: map[string]int{}}
	hs := httptest.NewServer(agentSrv)
	defer hs.Close()
	dir := t.TempDir()
	publish := func(base string, from, n int) {
		t.Helper()
		c, err := client.New(base)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := from; i < from+n; i++ {
			e := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("order-", i, "-received"), Source: "shop", Type: "order_received",
				Time: time.Date(2026, 5, 1, 12, 0, i, 0, time.UTC), CorrelationID: fmt.Sprint("order-", i), Data: []byte(`{"order_value":50}`)}
			if _, err := c.Publish(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitKeys := func(want int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if d, _ := agentSrv.counts(); d >= want {
				return
			}
			if time.Now().After(deadline) {
				d, n := agentSrv.counts()
				t.Fatalf("agent got %d keys (%d deliveries), want %d", d, n, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	base, stop := startServe(t, dir)
	if r := postJSON(t, base+"/v1/agents", map[string]any{"id": "inventory", "capabilities": []string{"inventory_management"},
		"endpoint": hs.URL, "protocol": "webhook"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("registering the agent: %s", r.Status)
	}
	publish(base, 0, 30)
	waitKeys(30)
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	base, stop = startServe(t, dir) // the agent's registration comes back from the log
	publish(base, 0, 30)            // repeats: idempotent
	publish(base, 30, 30)
	waitKeys(60)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra delivery to show
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	prom, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"# TYPE choreo_dispatch_delivered_total counter",
		`choreo_rule_triggers_total{choreography="ecommerce",rule="order_received"} 60`,
		`choreo_rule_deliveries_total{choreography="ecommerce",rule="order_received"} 60`,
		"choreo_agents_registered 1",
		"go_goroutines",
	} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if d, n := agentSrv.counts(); d != 60 || n != 60 {
		t.Fatalf("agent got %d deliveries of %d keys, want 60 of 60", n, d)
	}

	st, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ReadStream(context.Background(), live.ActionsStream, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	actions := 0
	for _, r := range recs {
		if r.Event.Type == live.ActionEventType {
			actions++
		}
	}
	if actions != 60 {
		t.Fatalf("%d actions in the log, want 60", actions)
	}
}

// TestSetGC: --gc-percent applies when given, the default only when GOGC
// is not set, and a value the collector does not take is refused.
func TestSetGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	parse := func(args ...string) (*flag.FlagSet, int) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		var p int
		gcFlag(fs, &p)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs, p
	}
	current := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }

	t.Setenv("GOGC", "")
	debug.SetGCPercent(100)
	if fs, p := parse(); setGC(fs, p) != nil || current() != defaultGCPercent {
		t.Fatalf("no GOGC, no flag: GC percent %d, want %d", current(), defaultGCPercent)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	if fs, p := parse(); setGC(fs, p) != nil || current() != 150 {
		t.Fatalf("GOGC=150, no flag: GC percent %d, want 150 kept", current())
	}
	if fs, p := parse("--gc-percent", "250"); setGC(fs, p) != nil || current() != 250 {
		t.Fatalf("GOGC=150, --gc-percent 250: GC percent %d, want 250", current())
	}
	if fs, p := parse("--gc-percent", "-1"); setGC(fs, p) != nil || current() != -1 {
		t.Fatalf("--gc-percent -1: GC percent %d, want -1 (off)", current())
	}
	if fs, p := parse("--gc-percent", "-2"); setGC(fs, p) == nil {
		t.Fatal("--gc-percent -2 accepted")
	}
}

// TestGCWhileCatchingUp: the collector's target is held at 100% while the
// server catches up with the log, and set back after, or when it stops.
func TestGCWhileCatchingUp(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	current := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	log := slog.New(slog.DiscardHandler)

	debug.SetGCPercent(400)
	polls, during := 0, 0
	gcWhileCatchingUp(context.Background(), log, 10, func() bool {
		polls++
		during = current() // called in gcWhileCatchingUp's goroutine: no race
		return polls == 3
	})
	if during != 100 || current() != 400 {
		t.Fatalf("GC percent %d while catching up, %d after; want 100, then 400", during, current())
	}

	ctx, cancel := context.WithCancel(context.Background())
	gcWhileCatchingUp(ctx, log, 10, func() bool { cancel(); return false })
	if current() != 400 {
		t.Fatalf("GC percent %d after a stop while catching up, want 400", current())
	}

	defer func(d time.Duration) { maxCatchUpGC = d }(maxCatchUpGC)
	maxCatchUpGC = 50 * time.Millisecond // a component that never catches up
	gcWhileCatchingUp(context.Background(), log, 10, func() bool { return false })
	if current() != 400 {
		t.Fatalf("GC percent %d after giving up on the catch-up, want 400", current())
	}

	for _, target := range []int{100, 50, -1} { // nothing to hold back: no wait
		debug.SetGCPercent(target)
		polls = 0
		gcWhileCatchingUp(context.Background(), log, 10, func() bool { polls++; return false })
		if polls != 0 || current() != target {
			t.Fatalf("target %d: %d polls, %d after", target, polls, current())
		}
	}
}
