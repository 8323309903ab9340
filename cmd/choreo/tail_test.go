package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/event"
)

// lineWriter is a buffer safe for concurrent use that signals each line
// written.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan struct{}
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan struct{}, 1024)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range bytes.Count(p, []byte("\n")) {
		w.lines <- struct{}{}
	}
	return w.buf.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitLines waits for n more lines, for at most 10 s.
func (w *lineWriter) waitLines(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-w.lines:
		case <-timeout:
			t.Fatalf("timed out waiting for output; have %q", w.String())
		}
	}
}

func publishTimed(t *testing.T, c *client.Client, id, typ, corr string, at time.Time, data string) {
	t.Helper()
	ev := &event.Event{SpecVersion: "1.0", ID: id, Source: "test/agent", Type: typ, CorrelationID: corr, Time: at}
	if data != "" {
		ev.Data = json.RawMessage(data)
	}
	if _, err := c.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func TestTail(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	publishTimed(t, e.c, "t-1", "order_received", "o-1", t0, `{"n":1}`)
	publishTimed(t, e.c, "t-2", "note", "o-2", t0.Add(time.Second), "")
	publishTimed(t, e.c, "t-3", "order_received", "o-2", t0.Add(2*time.Second), `{"text":"`+strings.Repeat("x", 200)+`"}`)

	// The records already there, filtered, then it stops at --count.
	code, out, stderr := e.run(t, "", runTail, "--type", "order_received", "--count", "2")
	wantExit(t, code, stderr, exitOK)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "2026-03-01T10:00:00.000Z") || !strings.Contains(lines[0], "o-1[0]  order_received  test/agent  {\"n\":1}") ||
		!strings.Contains(lines[1], "o-2[1]") || !strings.HasSuffix(lines[1], "…") {
		t.Fatalf("output:\n%s", out)
	}
	code, out, stderr = e.run(t, "", runTail, "--correlation", "o-2", "--count", "2", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var ids []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		rec, err := client.DecodeRecord([]byte(l))
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		ids = append(ids, fmt.Sprintf("%s@%s/%d", rec.Event.ID, rec.Stream, rec.StreamPosition))
	}
	if got := strings.Join(ids, " "); got != "t-2@o-2/0 t-3@o-2/1" {
		t.Errorf("JSON records %s", got)
	}

	// Following: events published while it runs, from --from on. The
	// filter leaves out the actions the engine may still be appending for
	// the events above.
	head, _ := e.st.Head(context.Background())
	w := newLineWriter()
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- runTail(context.Background(), []string{"--from", fmt.Sprint(head), "--type", "later", "--count", "2", "--server", e.url}, stdio{strings.NewReader(""), w, &errb})
	}()
	publishTimed(t, e.c, "t-4", "later", "o-3", t0, "")
	publishTimed(t, e.c, "t-5", "later", "o-3", t0, "")
	select {
	case code := <-done:
		wantExit(t, code, errb.String(), exitOK)
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not end after --count events")
	}
	if out := w.String(); strings.Count(out, "\n") != 2 || !strings.Contains(out, "o-3[0]") || !strings.Contains(out, "o-3[1]") {
		t.Errorf("followed:\n%s", out)
	}
}

func TestTailInterrupt(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	publishTimed(t, e.c, "i-1", "x", "c", time.Time{}, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newLineWriter()
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- runTail(ctx, []string{"--type", "x", "--server", e.url}, stdio{strings.NewReader(""), w, &errb})
	}()
	w.waitLines(t, 1)
	cancel() // Ctrl-C
	select {
	case code := <-done:
		wantExit(t, code, errb.String(), exitOK)
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not end when interrupted")
	}

	// A server that is not there fails at once; the API's refusals too.
	code, _, stderr := runWith(t, context.Background(), "", runTail, "--server", "http://127.0.0.1:1")
	wantExit(t, code, stderr, exitFailure, "unreachable")
	code, _, stderr = e.run(t, "", runTail, "--stream", "bad\x01name")
	wantExit(t, code, stderr, exitFailure, "invalid_query: stream:", "(HTTP 400)")
	for _, args := range [][]string{{"extra"}, {"--count", "-1"}, {"--from", "x"}} {
		if code, _, stderr := e.run(t, "", runTail, args...); code != exitUsage {
			t.Errorf("tail %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}
