package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/internal/demo"
)

// TestDemo runs the whole demo in process: a server on a free port over a
// Pebble log, the nine agents, eight orders. Every order must end as its
// plan says, both kinds of agent must have taken actions, and the summary
// must carry the server's figures.
func TestDemo(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the demo's own temporary directory lands here
	rep, err := playDemo(ctx, demoConfig{
		orders: 8, rate: 100, addr: "127.0.0.1:0", seed: 7, seedSet: true,
		timeout: 30 * time.Second, workTime: 2 * time.Millisecond,
	}, stdio{out: &out, err: &errs})
	if err != nil {
		t.Fatalf("playDemo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errs.String())
	}
	if testing.Verbose() {
		t.Logf("output:\n%s", out.String())
	}

	if rep.Unfinished != 0 || rep.Delivered+rep.Cancelled != 8 {
		t.Errorf("orders: %d delivered, %d cancelled, %d unfinished; want all 8 ended", rep.Delivered, rep.Cancelled, rep.Unfinished)
	}
	for _, o := range rep.Orders {
		if o.Outcome != o.Expected {
			t.Errorf("order %s (%s): outcome %q, want %q (last event %q, %d pending)", o.ID, o.Kind, o.Outcome, o.Expected, o.Last, o.Pending)
		}
	}
	// Eight orders are one full deck of kinds: each shows up.
	kinds := map[demo.Kind]bool{}
	for _, o := range rep.Orders {
		kinds[o.Kind] = true
	}
	for _, k := range []demo.Kind{demo.KindHighValue, demo.KindShortage, demo.KindRetry, demo.KindDeclined, demo.KindHiccup} {
		if !kinds[k] {
			t.Errorf("no order of kind %s in the plan", k)
		}
	}
	if rep.Cancelled == 0 {
		t.Error("no order cancelled, though one card is declined for good")
	}

	received := map[string]int64{}
	for _, a := range rep.Agents {
		received[a.Protocol] += a.Received
		if a.Label == "fraud-review" || a.Label == "reviews" {
			if a.Protocol != agent.ProtocolA2A || a.Received == 0 {
				t.Errorf("A2A agent %s: protocol %s, %d requests; want a2a and some", a.Label, a.Protocol, a.Received)
			}
			if !strings.HasPrefix(a.ID, "http://127.0.0.1:") {
				t.Errorf("A2A agent %s registered as %q; want the id the card's URL gives", a.Label, a.ID)
			}
		}
	}
	if received[agent.ProtocolWebhook] == 0 || received[agent.ProtocolA2A] == 0 {
		t.Errorf("requests by protocol %v; want both webhook and a2a", received)
	}

	m := rep.Metrics
	if m == nil {
		t.Fatal("no metrics in the report")
	}
	if m.Dispatch.Delivered == 0 || m.Dispatch.DeadLettered != 0 {
		t.Errorf("dispatch: %d delivered, %d dead-lettered; want some, none", m.Dispatch.Delivered, m.Dispatch.DeadLettered)
	}
	// The hiccup order's first delivery of process_payment fails: the
	// dispatcher retries it.
	if m.Dispatch.FailedAttempts == 0 {
		t.Error("no failed attempt, though the payment gateway fails once")
	}
	if m.Engine.ActionsDecided != m.Dispatch.Delivered {
		t.Errorf("%d actions decided, %d delivered; want every one delivered", m.Engine.ActionsDecided, m.Dispatch.Delivered)
	}
	if m.Agents.Registered != 9 {
		t.Errorf("%d agents registered at the end; want 9", m.Agents.Registered)
	}
	if rep.Decide.N == 0 || rep.Receive.N == 0 {
		t.Errorf("latency samples: %d decisions, %d receipts; want some", rep.Decide.N, rep.Receive.N)
	}

	text := out.String()
	for _, want := range []string{
		"summary", "8 published", "check_inventory", "request_product_review.completed",
		"A2A · ", "↻ process_payment", "order_cancelled", "agent registered",
		"event committed → action decided", "fraud-review", "A2A",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Error("output to a buffer has ANSI colours")
	}
	// The temporary log is removed.
	left, _ := filepath.Glob(filepath.Join(tmp, "choreo-demo-*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestDemoFlags checks that bad flags are refused before anything starts.
func TestDemoFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"orders zero", []string{"--orders", "0"}, "--orders must be within"},
		{"orders too many", []string{"--orders", "10001"}, "--orders must be within"},
		{"rate zero", []string{"--rate", "0"}, "--rate must be above 0"},
		{"rate NaN", []string{"--rate", "NaN"}, "--rate must be above 0"},
		{"timeout", []string{"--timeout", "0s"}, "--timeout must be positive"},
		{"argument", []string{"extra"}, "usage: choreo demo"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			code := runDemo(context.Background(), tc.args, stdio{out: &out, err: &errs})
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(errs.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errs.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestDemoDataNotEmpty checks that the demo refuses a log directory that
// already holds something, rather than mixing its orders into it.
func TestDemoDataNotEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := runDemo(context.Background(), []string{"--data", dir, "--addr", "127.0.0.1:0"}, stdio{out: &out, err: &errs})
	if code != 1 || !strings.Contains(errs.String(), "is not empty") {
		t.Errorf("exit code %d, stderr %q; want 1 and a not-empty error", code, errs.String())
	}
}

// TestDemoChoreography checks which choreography the demo runs: the
// repository's example when the working directory has it, else the
// built-in copy, written to a file that cleanup removes.
func TestDemoChoreography(t *testing.T) {
	t.Run("built-in", func(t *testing.T) {
		t.Chdir(t.TempDir())
		path, note, cleanup, err := demoChoreography()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, demo.Choreography()) {
			t.Errorf("file %s: %v; want the built-in copy", path, err)
		}
		if !strings.Contains(note, "built-in") {
			t.Errorf("note %q", note)
		}
		cleanup()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("after cleanup: %v; want the file gone", err)
		}
	})
	t.Run("repository", func(t *testing.T) {
		t.Chdir(filepath.Join("..", ".."))
		path, _, cleanup, err := demoChoreography()
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		if path != demo.ChoreographyPath {
			t.Errorf("path %q, want %q", path, demo.ChoreographyPath)
		}
	})
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7070": "127.0.0.1:7070",
		"[::]:7070":      "127.0.0.1:7070",
		"0.0.0.0:80":     "127.0.0.1:80",
		":9":             "127.0.0.1:9",
		"localhost:1":    "localhost:1",
		"[::1]:2":        "[::1]:2",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

// syncBuffer is a buffer written by the demo's goroutines and read by the
// test, which waits for a text to appear in it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	want    string
	arrived chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.want != "" && strings.Contains(s.b.String(), s.want) {
		close(s.arrived)
		s.want = ""
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoKeep runs the demo quietly with --keep: after the summary it
// prints how to explore the server and keeps it running until ctx ends,
// leaving the log behind.
func TestDemoKeep(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{want: "keep running until you press Ctrl-C", arrived: make(chan struct{})}
	var errs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := playDemo(ctx, demoConfig{
			orders: 2, rate: 100, addr: "127.0.0.1:0", keep: true, quiet: true,
			timeout: 20 * time.Second, workTime: time.Millisecond,
		}, stdio{out: out, err: &errs})
		done <- err
	}()
	select {
	case <-out.arrived:
	case err := <-done:
		t.Fatalf("playDemo returned before the hints: %v\n%s\n%s", err, out.String(), errs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no hints after 30 s:\n%s", out.String())
	}
	// The server still answers.
	text := out.String()
	i := strings.Index(text, "http://127.0.0.1:")
	base := strings.Fields(text[i:])[0]
	resp, err := http.Get(base + "/v1/agents")
	if err != nil {
		t.Fatalf("the kept server: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/agents: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("playDemo after ctx ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("playDemo did not return after ctx ended")
	}
	text = out.String()
	for _, want := range []string{"summary", "choreo get --correlation order-0001", "curl -s " + base + "/v1/metrics", "choreo serve --data"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "✓ check_inventory") || strings.Contains(text, "agent registered") {
		t.Errorf("--quiet output has the flow:\n%s", text)
	}
	logs, _ := filepath.Glob(filepath.Join(tmp, "choreo-demo-*", "log"))
	if len(logs) != 1 {
		t.Errorf("logs kept: %v; want one", logs)
	}
}

// TestDemoAddrInUse checks the error for an address another process
// holds, and that nothing is left behind.
func TestDemoAddrInUse(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errs bytes.Buffer
	code := runDemo(context.Background(), []string{"--addr", ln.Addr().String(), "--keep"}, stdio{out: &out, err: &errs})
	if code != 1 || !strings.Contains(errs.String(), "--addr 127.0.0.1:0 picks a free port") {
		t.Errorf("exit code %d, stderr %q; want 1 and a hint", code, errs.String())
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "choreo-demo-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
