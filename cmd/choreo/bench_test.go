package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/internal/loadgen"
)

// benchCmd runs choreo bench with args and returns its JSON report (nil
// when it printed none), its standard error and its exit code.
func benchCmd(t *testing.T, args ...string) (*loadgen.Report, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runBench(context.Background(), append(args, "--output", "json"), stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if out.Len() == 0 {
		return nil, errb.String(), code
	}
	var rep loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	return &rep, errb.String(), code
}

// checkBenchLatency fails t unless the latency has count positive samples
// with p50 ≤ p95 ≤ p99 ≤ max.
func checkBenchLatency(t *testing.T, name string, l loadgen.Latency, count int64) {
	t.Helper()
	if l.Count != uint64(count) {
		t.Errorf("%s latency: %d samples, want %d", name, l.Count, count)
	}
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%s latency: want 0 < min ≤ p50 ≤ p95 ≤ p99 ≤ max, got %+v", name, l)
	}
}

// TestBenchEmbeddedBatches publishes 2000 events in batches of 100 from 4
// connections to an embedded server: every event is accepted.
func TestBenchEmbeddedBatches(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("CHOREO_SERVER", "")
	rep, stderr, code := benchCmd(t, "--events", "2000", "--batch", "100", "--connections", "4", "--data", t.TempDir())
	if code != 0 || rep == nil {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Label == "" || rep.Mode != "closed" || rep.Batch != 100 || rep.Connections != 4 {
		t.Errorf("report header %+v: want an embedded closed-loop run, batches of 100 over 4 connections", rep)
	}
	if rep.EventsSent != 2000 || rep.EventsAccepted != 2000 || rep.Requests != 20 || rep.RequestsOK != 20 ||
		rep.RequestsFailed != 0 || rep.EventsUnsent != 0 || len(rep.Errors) != 0 || rep.Dispatch != nil {
		t.Fatalf("report %+v: want 2000 events accepted in 20 requests, nothing else", rep)
	}
	checkBenchLatency(t, "publish", rep.Publish, 20)
	if rep.EventsPerSecond <= 0 || rep.RequestsPerSecond <= 0 {
		t.Errorf("rates %v events/s, %v requests/s: want positive", rep.EventsPerSecond, rep.RequestsPerSecond)
	}
	// The process's CPU time, the embedded server's included, is read on
	// every system the tests run on.
	if !rep.ServerInProcess || rep.CPUSeconds <= 0 || rep.CPUMicrosPerEvent != rep.CPUSeconds*1e6/2000 {
		t.Errorf("cpu %v s, %v µs/event, server in process %v: want positive figures for an embedded server",
			rep.CPUSeconds, rep.CPUMicrosPerEvent, rep.ServerInProcess)
	}
}

// TestBenchEmbeddedDispatch offers 500 events/s for a second with
// dispatch: every action arrives at the bench's agent, once.
func TestBenchEmbeddedDispatch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("CHOREO_SERVER", "")
	rep, stderr, code := benchCmd(t, "--embedded", "--dispatch", "--rate", "500", "--events", "500", "--connections", "8", "--data", t.TempDir())
	if code != 0 || rep == nil {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Mode != "open" || rep.Rate != 500 {
		t.Errorf("mode %s at %v events/s, want open at 500", rep.Mode, rep.Rate)
	}
	if rep.EventsSent != 500 || rep.EventsAccepted != 500 || rep.Requests != 500 || rep.RequestsFailed != 0 {
		t.Fatalf("report %+v: want 500 events accepted in 500 requests", rep)
	}
	// 500 events at 500/s: the last is scheduled at 998 ms.
	if rep.ElapsedSeconds < 0.99 || rep.ElapsedSeconds > 10 {
		t.Errorf("published over %v s, want about 1", rep.ElapsedSeconds)
	}
	d := rep.Dispatch
	if d == nil || d.Received != 500 || d.Missing != 0 || d.Duplicates != 0 || d.Unexpected != 0 || d.Foreign != 0 {
		t.Fatalf("dispatch %+v: want 500 actions received, none missing or repeated", d)
	}
	checkBenchLatency(t, "publish", rep.Publish, 500)
	checkBenchLatency(t, "event→dispatch", d.Latency, 500)
	if d.ActionsPerSecond <= 0 || d.Capability != "bench_sink" {
		t.Errorf("dispatch %+v", d)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings %q, want none", rep.Warnings)
	}
}

// TestBenchServer runs the bench against a server started apart with the
// printed choreography, as a user would, and checks the log: it holds
// exactly the events reported accepted, and the agent is gone.
func TestBenchServer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	var chor bytes.Buffer
	if code := runBench(context.Background(), []string{"--print-choreography"}, stdio{strings.NewReader(""), &chor, io.Discard}); code != 0 {
		t.Fatalf("--print-choreography: exit %d", code)
	}
	if _, err := choreography.Parse("bench.yaml", chor.Bytes()); err != nil {
		t.Fatalf("printed choreography: %v\n%s", err, chor.String())
	}
	file := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(file, chor.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- serve(ctx, serveConfig{data: filepath.Join(dir, "data"), addr: "127.0.0.1:0", choreographies: []string{file}, shutdown: 5 * time.Second}, log, ready)
	}()
	var url string
	select {
	case addr := <-ready:
		url = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	// The server comes from the environment.
	t.Setenv("CHOREO_SERVER", url)
	rep, stderr, code := benchCmd(t, "--dispatch", "--rate", "2000", "--events", "300", "--batch", "10", "--connections", "3")
	if code != 0 || rep == nil {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Target != url || rep.Label != "" || rep.ServerInProcess {
		t.Errorf("target %q (%q, in process %v), want %s", rep.Target, rep.Label, rep.ServerInProcess, url)
	}
	if rep.EventsAccepted != 300 || rep.Requests != 30 || rep.Dispatch == nil || rep.Dispatch.Received != 300 || rep.Dispatch.Missing != 0 {
		t.Fatalf("report %+v, dispatch %+v: want 300 events accepted, 300 actions received", rep, rep.Dispatch)
	}

	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events, streams := 0, map[string]bool{}
	for from := uint64(0); ; {
		recs, next, err := c.ReadAll(ctx, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Event.Type == loadgen.DefaultEventType {
				events++
				streams[r.Stream] = true
			}
		}
		from = next
	}
	if events != 300 || len(streams) != 3 {
		t.Errorf("the log holds %d bench events in %d streams, want 300 in 3 (one per connection)", events, len(streams))
	}
	resp, _, err := c.ReadStream(ctx, "$agents", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) < 2 {
		t.Errorf("$agents holds %d records, want the bench agent's registration and removal", len(resp))
	}
}

// TestBenchFailures: a server that does not answer makes the run fail
// with a report of the errors; bad flags are usage errors.
func TestBenchFailures(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rep, _, code := benchCmd(t, "--server", "http://127.0.0.1:1", "--events", "3", "--connections", "1")
	if code != 1 || rep == nil || rep.EventsAccepted != 0 || rep.RequestsFailed != 3 || len(rep.Errors) != 1 || rep.Errors[0].Code != "connection_refused" {
		t.Errorf("exit %d, report %+v: want exit 1 and 3 connection_refused", code, rep)
	}

	for _, args := range [][]string{
		{"--server", "http://x", "--embedded"},
		{"--output", "xml"},
		{"--batch", "0"},
		{"--batch", "1001"},
		{"--connections", "0"},
		{"--rate", "-5"},
		{"--duration", "0"},
		{"--server", "localhost:7070"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if code := runBench(context.Background(), args, stdio{strings.NewReader(""), &out, &errb}); code != 2 || errb.Len() == 0 || out.Len() != 0 {
			t.Errorf("choreo bench %q: exit %d, stderr %q: want 2 and a message", args, code, errb.String())
		}
	}
}

// TestBenchText checks the text report of a short run.
func TestBenchText(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("CHOREO_SERVER", "")
	var out, errb bytes.Buffer
	code := runBench(context.Background(), []string{"--events", "50", "--connections", "2", "--data", t.TempDir()}, stdio{strings.NewReader(""), &out, &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"(embedded server, durable log, fsync on)", "closed loop, flat out, 2 connections, single events",
		"50 of 50 events accepted", "events/s accepted", "p50 ", "p99 ", "errors    none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestBenchDeploys runs --dispatch against a server that does not run the
// bench's choreography: the bench deploys it for the run and removes it
// afterwards.
func TestBenchDeploys(t *testing.T) {
	url, stop := startServe(t, t.TempDir())
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	rep, stderr, code := benchCmd(t, "--server", url, "--dispatch", "--rate", "2000", "--events", "200", "--batch", "10", "--connections", "2")
	if code != 0 || rep == nil || rep.Dispatch == nil || rep.Dispatch.Received != 200 {
		t.Fatalf("exit %d, report %+v: want 200 actions received; stderr: %s", code, rep, stderr)
	}
	if !strings.Contains(stderr, "deployed choreo-bench version 1") {
		t.Errorf("stderr %q does not say the choreography was deployed", stderr)
	}
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vs, err := c.ChoreographyVersions(context.Background(), "choreo-bench")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || !vs[0].Removed {
		t.Errorf("versions %+v, want one, removed after the run", vs)
	}
}
