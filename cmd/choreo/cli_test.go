package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/view"
)

// cliShop is the choreography the test server runs.
const cliShop = `name: shop
patterns:
  - id: new_order
    event_type: order_received
    action: check_stock
    target_capability: stock
  - id: refund
    event_type: refund_requested
    action: refund
    target_capability: refunds
`

// cliEnv is a choreo server on 127.0.0.1 wired as choreo serve wires it —
// the log, the choreography cliShop deployed, the registry, a dispatcher
// (in-process transport), the actions view, the metrics — for the
// commands to talk to.
type cliEnv struct {
	url    string
	st     store.Store
	c      *client.Client
	inproc *dispatch.InProcess
}

// noLeaks checks, after every cleanup of t, that the test left no
// goroutine behind. Call it first.
func noLeaks(t *testing.T, opts ...goleak.Option) {
	t.Helper()
	opts = append(opts, goleak.IgnoreCurrent())
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// pebbleLockLeak is the goroutine Pebble leaves running when it fails to
// open a directory whose lock is held (its disk-health ticker). A process
// exits after such a failure; tests that cause one in process ignore it.
var pebbleLockLeak = goleak.IgnoreTopFunction("github.com/cockroachdb/pebble/v2/vfs.(*diskHealthCheckingFS).startTickerLocked.func1")

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mem.New(store.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	deps, err := deploy.Open(ctx, st, deploy.Config{RunnerConfig: live.Config{Logger: log}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := deps.Deploy(ctx, "shop", []byte(cliShop)); err != nil {
		t.Fatal(err)
	}
	reg, err := agent.Open(ctx, st, agent.Config{Resolver: a2a.ResolveCard, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	inproc := dispatch.NewInProcess()
	disp, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolInProcess: inproc},
		dispatch.Config{Logger: log, MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, AgentWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	actions := view.NewActions(st, 0)
	srv, err := server.New(server.Config{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	srv.Mount(server.Services{Agents: reg, Dispatcher: disp, Actions: actions, Deployments: deps,
		Metrics: func() map[string]any {
			return metricsOf(deps.Metrics(), disp.Metrics(), actions.Counts(), reg.Len(), started)
		}})
	ts := httptest.NewServer(srv.Handler())
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{deps.Run, disp.Run, reg.Run, actions.Run} {
		wg.Go(func() { run(ctx) }) //nolint:errcheck // ends with ctx
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		ts.Close()
		cancel()
		wg.Wait()
		deps.Close()
		st.Close()
	})
	return &cliEnv{url: ts.URL, st: st, c: c, inproc: inproc}
}

// run runs a command against the server, with --server after the other
// arguments, and returns its exit code and outputs.
func (e *cliEnv) run(t *testing.T, stdin string, cmd func(context.Context, []string, stdio) int, args ...string) (int, string, string) {
	t.Helper()
	return runWith(t, context.Background(), stdin, cmd, append(args, "--server", e.url)...)
}

// runWith runs a command with ctx and returns its exit code and outputs.
func runWith(t *testing.T, ctx context.Context, stdin string, cmd func(context.Context, []string, stdio) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cmd(ctx, args, stdio{strings.NewReader(stdin), &out, &errb})
	return code, out.String(), errb.String()
}

// eventually waits for cond, checking it every few milliseconds, for at
// most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantExit checks a command's exit code, and that stderr holds each of
// want.
func wantExit(t *testing.T, code int, stderr string, wantCode int, want ...string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, wantCode, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not hold %q", stderr, w)
		}
	}
}

// jsonError decodes an error printed with --output json.
func jsonError(t *testing.T, stderr string) errorReport {
	t.Helper()
	var doc struct {
		Error errorReport `json:"error"`
	}
	if err := json.Unmarshal([]byte(stderr), &doc); err != nil || doc.Error.Code == "" {
		t.Fatalf("stderr is not a JSON error: %q (%v)", stderr, err)
	}
	return doc.Error
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		name string
		args []string
		pos  []string
		out  string
	}{
		{"flags first", []string{"--output", "json", "a", "b"}, []string{"a", "b"}, "json"},
		{"flags after", []string{"a", "--output", "json", "b"}, []string{"a", "b"}, "json"},
		{"flags last", []string{"a", "b", "-output=json"}, []string{"a", "b"}, "json"},
		{"dash is an argument", []string{"-", "--output", "json"}, []string{"-"}, "json"},
		{"double dash ends flags", []string{"a", "--", "--output", "json"}, []string{"a", "--output", "json"}, "text"},
		{"none", nil, nil, "text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCmd("x", "x", "", stdio{out: io.Discard, err: io.Discard})
			pos, err := parseInterleaved(c.fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tc.pos) || string(c.output) != tc.out {
				t.Errorf("got %q, output %s; want %q, output %s", pos, c.output, tc.pos, tc.out)
			}
		})
	}
}

func TestServerFlagAndErrors(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)

	// CHOREO_SERVER is the default of --server.
	t.Setenv(envServer, e.url)
	code, out, stderr := runWith(t, context.Background(), "", runAgents, "list")
	wantExit(t, code, stderr, exitOK)
	if out != "no agents registered\n" {
		t.Errorf("agents list: %q", out)
	}
	// --server wins over it.
	code, _, stderr = runWith(t, context.Background(), "", runAgents, "list", "--server", "http://127.0.0.1:1")
	wantExit(t, code, stderr, exitFailure, "choreo agents list: unreachable: cannot reach the server at http://127.0.0.1:1")
	code, _, stderr = runWith(t, context.Background(), "", runAgents, "list", "--server", "http://127.0.0.1:1", "--output", "json")
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != codeUnreachable || r.Status != 0 {
		t.Errorf("JSON error %+v", r)
	}

	// Usage errors exit 2; -h exits 0.
	for _, args := range [][]string{
		{"list", "--output", "yaml"},
		{"list", "extra"},
		{"list", "--timeout", "-1s"},
		{"get"},
		{"rm", "a", "b"},
		{"nope"},
		{},
	} {
		if code, _, stderr := e.run(t, "", runAgents, args...); code != exitUsage {
			t.Errorf("agents %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
	for _, args := range [][]string{{"-h"}, {"list", "-h"}, {"help"}} {
		if code, _, stderr := runWith(t, context.Background(), "", runAgents, args...); code != exitOK || !strings.Contains(stderr, "usage: choreo agents") {
			t.Errorf("agents %q: exit %d, stderr %q", args, code, stderr)
		}
	}
	code, _, stderr = runWith(t, context.Background(), "", runMetrics, "--server", "ftp://example.com")
	wantExit(t, code, stderr, exitFailure, "invalid_input: --server")

	// A timeout is reported as such.
	code, _, stderr = e.run(t, "", runMetrics, "--timeout", "1ns")
	wantExit(t, code, stderr, exitFailure, "choreo metrics: timeout")
}

func TestPrintError(t *testing.T) {
	var b bytes.Buffer
	sio := stdio{err: &b}
	printError(sio, "x", outputText, errorReport{Code: "invalid_field", Field: "time", Message: "bad", Status: 400})
	printError(sio, "x", outputText, errorReport{Code: "invalid_choreography", Message: "1:2: a\n3:4: b", Status: 422})
	printError(sio, "x", outputText, errorReport{Code: "unreachable", Message: "down"})
	want := "choreo x: invalid_field: time: bad (HTTP 400)\n" +
		"choreo x: invalid_choreography (HTTP 422)\n  1:2: a\n  3:4: b\n" +
		"choreo x: unreachable: down\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{clip("abcdef", 4), "abc…"},
		{clip("a\nb", 10), `a\nb`},
		{fmtDuration(1500 * time.Millisecond), "1.5s"},
		{fmtDuration(65*time.Second + 300*time.Millisecond), "1m5s"},
		{relTime(time.Unix(100, 0), time.Unix(40, 0)), "+1m0s"},
		{relTime(time.Time{}, time.Unix(40, 0)), "?"},
		{fmtTime(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)), "2026-01-02T03:04:05.006Z"},
		{figure("heap_alloc_bytes", json.Number("1572864")), "1.5 MiB"},
		{figure("uptime_seconds", json.Number("90.5")), "1m31s"},
		{figure("average_response_ms", json.Number("1.25")), "1.250 ms"},
		{figure("event_rate", json.Number("2.5")), "2.500"},
		{figure("events", json.Number("12")), "12"},
		{figureLabel("heap_alloc_bytes"), "heap alloc"},
		{figureLabel("events_processed"), "events processed"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// apiJSON sends a request to the test server and returns its JSON answer
// as decoded into a map, to compare with what a command prints.
func (e *cliEnv) apiJSON(t *testing.T, method, path, contentType, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return jsonObject(t, string(b))
}

// jsonObject decodes one JSON object.
func jsonObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %q", err, s)
	}
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
