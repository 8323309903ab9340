package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

func TestValidate(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:7070"}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string // "" when valid
	}{
		{"zero but URL", func(*Config) {}, ""},
		{"everything", func(c *Config) {
			*c = Config{URL: "https://x/choreo", Rate: 5000, Duration: time.Second, Events: 10, Batch: MaxBatch,
				Connections: 3, DataSize: 1, Dispatch: true, SinkURL: "http://10.0.0.1:9/"}
		}, ""},
		{"no URL", func(c *Config) { c.URL = "" }, "URL"},
		{"relative URL", func(c *Config) { c.URL = "/v1" }, "URL"},
		{"other scheme", func(c *Config) { c.URL = "ftp://x" }, "URL"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "Rate"},
		{"NaN rate", func(c *Config) { c.Rate = nan() }, "Rate"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "Duration"},
		{"negative events", func(c *Config) { c.Events = -1 }, "Events"},
		{"too many events", func(c *Config) { c.Events = MaxEvents + 1 }, "Events"},
		{"batch too large", func(c *Config) { c.Batch = MaxBatch + 1 }, "Batch"},
		{"negative batch", func(c *Config) { c.Batch = -1 }, "Batch"},
		{"too many connections", func(c *Config) { c.Connections = MaxConnections + 1 }, "Connections"},
		{"data too large", func(c *Config) { c.DataSize = MaxDataSize + 1 }, "DataSize"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "Timeout"},
		{"negative grace", func(c *Config) { c.Grace = -1 }, "Grace"},
		{"bad sink URL", func(c *Config) { c.SinkURL = "127.0.0.1:9" }, "SinkURL"},
		{"non-ASCII host", func(c *Config) { c.URL = "http://bücher.example" }, "URL"},
		{"headers", func(c *Config) { c.Header = map[string]string{"Authorization": "Bearer x\ty", "X-Empty": ""} }, ""},
		{"bad header name", func(c *Config) { c.Header = map[string]string{"X Key": "1"} }, "Header"},
		{"header value with a newline", func(c *Config) { c.Header = map[string]string{"X-Key": "1\r\nX-Other: 2"} }, "Header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.field != "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+":")):
				t.Fatalf("Validate() = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
			if tc.field != "" {
				if rep, err := Run(context.Background(), c); rep != nil || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("Run() = %v, %v; want no report and ErrInvalidConfig", rep, err)
				}
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// TestBody decodes the bodies the workers send: valid events, unique ids
// that carry their sequence number and send time, data of the asked size.
func TestBody(t *testing.T) {
	for _, batch := range []int{1, 3} {
		for _, size := range []int{1, 200, 1000} {
			cfg := Config{URL: "http://x", Batch: batch, DataSize: size, Source: `a "quoted" source`}.withDefaults()
			r, err := newRun(cfg)
			if err != nil {
				t.Fatal(err)
			}
			w := &worker{r: r, stream: r.id + "-7", ts: []byte("2026-01-02T03:04:05.6Z")}
			body := w.appendBody(nil, 998, int64(batch), 1234*time.Microsecond)
			var raws []json.RawMessage
			if batch == 1 {
				raws = []json.RawMessage{body}
			} else if err := json.Unmarshal(body, &raws); err != nil {
				t.Fatalf("batch body %s: %v", body, err)
			}
			if len(raws) != batch {
				t.Fatalf("%d events in the body, want %d", len(raws), batch)
			}
			for i, raw := range raws {
				e, err := event.Decode(raw)
				if err != nil {
					t.Fatalf("event %s: %v", raw, err)
				}
				if err := e.Validate(event.Limits{}); err != nil {
					t.Fatalf("event %s: %v", raw, err)
				}
				seq, off, ok := parseID(r.id, e.ID)
				if !ok || seq != int64(998+i) || off != 1234*time.Microsecond {
					t.Errorf("id %q: parsed %d, %v, %v; want %d, 1.234ms", e.ID, seq, off, ok, 998+i)
				}
				if e.Type != DefaultEventType || e.Source != cfg.Source || e.CorrelationID != w.stream {
					t.Errorf("event %s: type, source or correlation id not as configured", raw)
				}
				if got := len(e.Data); got != max(size, 17+len("998")) && got != max(size, 17+len("1000")) {
					t.Errorf("data %s is %d bytes, want %d", e.Data, got, size)
				}
			}
		}
	}
}

func TestParseID(t *testing.T) {
	for _, id := range []string{"", "bench-1", "bench-1-", "bench-1-2", "bench-12-3-4", "bench-1--3-4", "bench-1-x-4", "bench-1-3-y", "other-3-4"} {
		if _, _, ok := parseID("bench-1", id); ok {
			t.Errorf("parseID(%q) ok, want not of the run", id)
		}
	}
	b := appendID(nil, "bench-1", 42, -5)
	if seq, off, ok := parseID("bench-1", string(b)); !ok || seq != 42 || off != -5 {
		t.Errorf("parseID(%q) = %d, %v, %v", b, seq, off, ok)
	}
}

// TestRunClosedLoop publishes a counted number of events flat out and
// finds every one in the log.
func TestRunClosedLoop(t *testing.T) {
	s := newStack(t, 0)
	rep, err := Run(context.Background(), Config{URL: s.url, Events: 1005, Batch: 10, Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "closed" || rep.EventsSent != 1005 || rep.EventsAccepted != 1005 || rep.Requests != 101 ||
		rep.RequestsOK != 101 || rep.RequestsFailed != 0 || len(rep.Errors) != 0 || rep.EventsUnsent != 0 || !rep.OK() {
		t.Fatalf("report %+v: want 1005 events accepted in 101 requests, no error", rep)
	}
	checkLatency(t, "publish", rep.Publish, 101)
	if rep.EventsPerSecond <= 0 || rep.RequestsPerSecond <= 0 || rep.ElapsedSeconds <= 0 {
		t.Errorf("rates %v, %v over %v s: want positive", rep.EventsPerSecond, rep.RequestsPerSecond, rep.ElapsedSeconds)
	}
	if got := s.count(t, DefaultEventType); got != 1005 {
		t.Errorf("the log holds %d bench events, want 1005", got)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closed loop, flat out", "1005 of 1005 events accepted", "batches of 10", "errors    none"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// TestRunOpenLoop offers a rate for a duration: the events scheduled in
// that time are all sent and accepted, and the run lasts about as long.
func TestRunOpenLoop(t *testing.T) {
	s := newStack(t, 0)
	rep, err := Run(context.Background(), Config{URL: s.url, Rate: 2000, Duration: 500 * time.Millisecond, Batch: 10, Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Slots at 0, 5 ms, …, 495 ms: 100 requests of 10.
	if rep.Mode != "open" || rep.Rate != 2000 || rep.EventsSent+rep.EventsUnsent != 1000 || rep.EventsAccepted != rep.EventsSent || rep.RequestsFailed != 0 {
		t.Fatalf("report %+v: want 1000 events scheduled, all sent accepted", rep)
	}
	if rep.EventsUnsent > 0 {
		t.Logf("%d events unsent: the machine is slow", rep.EventsUnsent)
	}
	// The run lasts at least until the slot of the last request sent: on a
	// slow machine the last slots may go unsent, and the run ends sooner.
	if last := float64(rep.Requests-1) * 0.005; rep.ElapsedSeconds < last || rep.ElapsedSeconds > 5 {
		t.Errorf("elapsed %v s with %d requests sent, want from %v s to about 0.5", rep.ElapsedSeconds, rep.Requests, last)
	}
	checkLatency(t, "publish", rep.Publish, uint64(rep.Requests))
}

// TestRunErrors counts refused requests by status and code, and failures
// to connect by kind.
func TestRunErrors(t *testing.T) {
	s := newStack(t, 5)
	rep, err := Run(context.Background(), Config{URL: s.url, Events: 40, Batch: 10, Connections: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.EventsAccepted != 0 || rep.RequestsFailed != 4 || rep.OK() || len(rep.Errors) != 1 {
		t.Fatalf("report %+v: want 4 failed requests", rep)
	}
	if e := rep.Errors[0]; e.Status != 413 || e.Code != "batch_too_large" || e.Count != 4 || e.Sample == "" {
		t.Errorf("errors %+v: want 4 of 413 batch_too_large with a message", rep.Errors)
	}
	if rep.Publish.Count != 0 {
		t.Errorf("publish latency of %d requests, want none: only 201s count", rep.Publish.Count)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep, err = Run(context.Background(), Config{URL: "http://" + addr, Events: 3, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Status != 0 || rep.Errors[0].Code != "connection_refused" || rep.Errors[0].Count != 3 {
		t.Errorf("errors %+v: want 3 connection_refused", rep.Errors)
	}
}

// TestRunDispatch runs the bench's agent: every accepted event's action
// arrives, once, and the agent is gone from the registry afterwards.
func TestRunDispatch(t *testing.T) {
	s := newStack(t, 0)
	rep, err := Run(context.Background(), Config{URL: s.url, Rate: 1000, Events: 300, Batch: 3, Connections: 4, Dispatch: true, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Dispatch
	if d == nil || rep.EventsAccepted != 300 || d.Received != 300 || d.Missing != 0 || d.Duplicates != 0 || d.Unexpected != 0 || d.Foreign != 0 || !rep.OK() {
		t.Fatalf("report %+v, dispatch %+v: want 300 events accepted and 300 actions received", rep, d)
	}
	checkLatency(t, "dispatch", d.Latency, 300)
	if d.ActionsPerSecond <= 0 || d.Capability != DefaultCapability || d.AgentID == "" {
		t.Errorf("dispatch %+v", d)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings %q, want none", rep.Warnings)
	}
	if _, ok := s.reg.Get(d.AgentID); ok {
		t.Errorf("agent %s still registered after the run", d.AgentID)
	}
}

// TestRunDispatchMissing runs without an agent-side choreography match:
// nothing arrives, the grace period runs out, every action is missing.
func TestRunDispatchMissing(t *testing.T) {
	s := newStack(t, 0)
	rep, err := Run(context.Background(), Config{URL: s.url, Events: 20, Batch: 5, Connections: 2, Dispatch: true,
		EventType: "other.event", Grace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Dispatch; d.Received != 0 || d.Missing != 20 || rep.OK() || len(rep.Warnings) == 0 {
		t.Fatalf("report %+v, dispatch %+v: want 20 missing, a warning, not OK", rep, d)
	}
}

// TestSinkCounts delivers actions to the agent directly: a repeat counts
// as a duplicate, an action of another run as foreign, and an action found
// by its trigger event when the id list is empty.
func TestSinkCounts(t *testing.T) {
	s := newStack(t, 0)
	ctx := context.Background()
	cfg := Config{URL: s.url, Dispatch: true, Events: 1}.withDefaults()
	r, err := newRun(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.start = time.Now()
	sk, err := startSink(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.reg.Get(sk.agentID)
	if !ok {
		t.Fatalf("agent %s not registered", sk.agentID)
	}
	wh, err := webhook.New(webhook.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	deliver := func(actionID, trigger string, inList bool) {
		t.Helper()
		a := &engine.Action{ID: actionID, Action: DefaultAction, TargetCapability: DefaultCapability}
		e := &event.Event{SpecVersion: "1.0", ID: trigger, Source: "s", Type: DefaultEventType}
		if inList {
			a.TriggerEventIDs = []string{trigger}
		}
		m := dispatch.Message{MessageID: actionID, Action: a.Action}
		m.Payload.ChoreographyContext.TriggerEventIDs = a.TriggerEventIDs
		if _, err := wh.Deliver(ctx, &dispatch.Delivery{Action: a, Trigger: e, Agent: p, Attempt: 1, Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	id := string(appendID(nil, r.id, 0, time.Millisecond))
	deliver("a1", id, true)
	deliver("a1", id, true)
	deliver("a2", "someone-else", true)
	deliver("a3", string(appendID(nil, r.id, 1, time.Millisecond)), false)
	rep := &Report{EventsAccepted: 2}
	r.accepted = new(bitset)
	r.accepted.addRange(0, 2)
	d := sk.wait(ctx, rep)
	sk.stop()
	if d.Received != 2 || d.Duplicates != 1 || d.Foreign != 1 || d.Missing != 0 || d.Unexpected != 0 {
		t.Errorf("dispatch %+v: want 2 received, 1 duplicate, 1 foreign", d)
	}
	if _, ok := s.reg.Get(sk.agentID); ok {
		t.Errorf("agent still registered after stop")
	}
}

func TestBitset(t *testing.T) {
	var a, b bitset
	for _, n := range []uint64{0, 63, 64, chunkBits - 1, chunkBits, 5 * chunkBits} {
		if !a.add(n) || a.add(n) {
			t.Errorf("add(%d): want new, then not", n)
		}
	}
	a.addRange(100, 10)
	b.addRange(105, 10)
	if got := a.count(nil); got != 16 {
		t.Errorf("count = %d, want 16", got)
	}
	if got := a.count(&b); got != 11 {
		t.Errorf("a minus b = %d, want 11", got)
	}
	if got := b.count(&a); got != 5 {
		t.Errorf("b minus a = %d, want 5", got)
	}
	if a.add(MaxEvents) {
		t.Errorf("add(MaxEvents) accepted, want ignored")
	}
}
