package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	return startServeWith(t, serveConfig{data: dir, choreographies: []string{"../../examples/ecommerce.yaml"}})
}

// startServeWith is startServe with a configuration of its own; its
// address and shutdown timeout are set for tests.
func startServeWith(t *testing.T, cfg serveConfig) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg.addr, cfg.shutdown = "127.0.0.1:0", 5*time.Second
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

// TestServeChoreographyFiles: two files of one name are refused before the
// log is touched, naming both; a restart with the same file deploys no new
// version, a changed file one.
func TestServeChoreographyFiles(t *testing.T) {
	dir := t.TempDir()
	files := t.TempDir()
	shop := writeFile(t, files, "shop.yaml", cliShop)
	shop2 := writeFile(t, files, "shop2.yaml", strings.Replace(cliShop, "check_stock", "reserve_stock", 1))

	code, _, stderr := runWith(t, context.Background(), "", runServe, "--data", dir, "--addr", "127.0.0.1:0",
		"--choreography", shop, "--choreography", shop2)
	wantExit(t, code, stderr, exitFailure, "choreo serve: invalid_input: --choreography: "+shop+" and "+shop2+` are both the choreography "shop"`)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the data directory was touched: %d entries", len(entries))
	}

	versions := func(base string) []client.Deployment {
		t.Helper()
		c, err := client.New(base)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		vs, err := c.ChoreographyVersions(context.Background(), "shop")
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	for i, tt := range []struct {
		file string
		want int
	}{{shop, 1}, {shop, 1}, {shop, 1}, {shop2, 2}, {shop2, 2}} {
		base, stop := startServeWith(t, serveConfig{data: dir, choreographies: []string{tt.file}})
		vs := versions(base)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if len(vs) != tt.want {
			t.Fatalf("start %d with %s: %d versions, want %d", i+1, filepath.Base(tt.file), len(vs), tt.want)
		}
	}
}

// TestServeLogInUse: serve and ingest on a data directory another process
// holds say so, with the code replay uses.
func TestServeLogInUse(t *testing.T) {
	noLeaks(t, pebbleLockLeak)
	dir := t.TempDir()
	st, err := pebble.Open(dir, &pebble.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := "log_in_use: --data: the log in " + dir + " is in use by another process (a running choreo serve or ingest)"
	code, _, stderr := runWith(t, context.Background(), "", runServe, "--data", dir, "--addr", "127.0.0.1:0")
	wantExit(t, code, stderr, exitFailure, "choreo serve: "+want)
	events := writeFile(t, t.TempDir(), "events.jsonl", "")
	code, _, stderr = runWith(t, context.Background(), "", runIngest, "--data", dir, "--choreography", exampleChoreography, "--events", events)
	wantExit(t, code, stderr, exitFailure, "choreo ingest: "+want)
}

// TestServeSlowBody runs the server on loopback with short timeouts: a
// client that announces a body and sends part of it has its connection
// closed once --read-timeout has passed; an idle kept-alive connection is
// closed after --idle-timeout; a subscription outlives both.
func TestServeSlowBody(t *testing.T) {
	for _, args := range [][]string{{"--read-timeout", "0"}, {"--idle-timeout", "-1s"}} {
		code, _, stderr := runWith(t, context.Background(), "", runServe, append(args, "--data", t.TempDir())...)
		wantExit(t, code, stderr, exitUsage, "must be positive")
	}
	const readTimeout, idleTimeout = 300 * time.Millisecond, 500 * time.Millisecond
	base, stop := startServeWith(t, serveConfig{data: t.TempDir(), readTimeout: readTimeout, idleTimeout: idleTimeout})
	defer stop()
	addr := strings.TrimPrefix(base, "http://")

	// closedWithin reads conn until the server closes it, and returns how
	// long that took and what the server sent.
	closedWithin := func(conn net.Conn, limit time.Duration) (time.Duration, string) {
		t.Helper()
		start := time.Now()
		conn.SetReadDeadline(start.Add(limit))
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("the connection was still open after %v: %v (read %q)", limit, err, got)
		}
		return time.Since(start), string(got)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":1", addr)
	took, got := closedWithin(conn, 10*readTimeout)
	if took < readTimeout/2 {
		t.Errorf("closed after %v, before the read timeout of %v", took, readTimeout)
	}
	t.Logf("slow body: closed after %v, answer %q", took, firstLine(got))

	// A whole request, then nothing: closed as idle.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	fmt.Fprintf(conn2, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	took, got = closedWithin(conn2, 10*idleTimeout)
	if !strings.HasPrefix(got, "HTTP/1.1 200") || took < idleTimeout/2 {
		t.Errorf("idle connection: closed after %v with %q; want a 200, then a close after about %v", took, firstLine(got), idleTimeout)
	}

	// A subscription, one response read as it comes, is not cut by either
	// timeout; a publish whose body comes in time goes through.
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/subscribe?type=late", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/subscribe: %s", resp.Status)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(3 * idleTimeout)
	if _, err := c.Publish(ctx, &event.Event{SpecVersion: "1.0", ID: "late-1", Source: "test", Type: "late", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the subscription's response ended before the event published after both timeouts")
			}
			found = strings.Contains(l, `"late-1"`)
		case <-timeout:
			t.Fatal("the subscription did not deliver the event published after both timeouts")
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
