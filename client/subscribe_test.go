package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/server"
)

func TestSubscribe(t *testing.T) {
	e := newEnv(t, envOptions{durable: true})
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := e.c.Publish(ctx, newEvent(fmt.Sprintf("e%d", i), "order_received", "o1")); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	for rec, err := range e.c.Subscribe(ctx, 0, client.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.GlobalPosition)
		if want := fmt.Sprintf("e%d", rec.GlobalPosition); rec.Event.ID != want || rec.Stream != "o1" {
			t.Fatalf("record %d: id %s in %s", rec.GlobalPosition, rec.Event.ID, rec.Stream)
		}
		sameEvent(t, rec.Event, newEvent(rec.Event.ID, "order_received", "o1"))
		if len(got) == 3 {
			// Live: appended while the stream is open.
			if _, err := e.c.Publish(ctx, newEvent("e3", "order_received", "o1")); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) == 4 {
			break
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Errorf("positions %v", got)
	}
}

func TestSubscribeFilter(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	types := []string{"a", "b", "c", "a", "b"}
	for i, typ := range types {
		if _, err := e.c.Publish(ctx, newEvent(fmt.Sprintf("e%d", i), typ, fmt.Sprintf("c%d", i%2))); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		f    client.Filter
		from uint64
		want string
	}{
		{client.Filter{Types: []string{"a", "c"}}, 0, "[0 2 3]"},
		{client.Filter{Types: []string{"a", "c"}}, 1, "[2 3]"},
		{client.Filter{Correlation: "c1"}, 0, "[1 3]"},
		{client.Filter{Stream: "c0", Types: []string{"b"}}, 0, "[4]"},
	}
	for _, c := range cases {
		var got []uint64
		want := c.want
		for rec, err := range e.c.Subscribe(ctx, c.from, c.f) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.GlobalPosition)
			if fmt.Sprint(got) == want || len(got) > 5 {
				break
			}
		}
		if fmt.Sprint(got) != want {
			t.Errorf("%+v from %d: %v, want %s", c.f, c.from, got, want)
		}
	}
}

// TestSubscribeResume drops the connection under a subscription: it
// reconnects with Last-Event-ID and misses or repeats nothing.
func TestSubscribeResume(t *testing.T) {
	var lastEventIDs atomic.Value
	lastEventIDs.Store("")
	e := newEnv(t, envOptions{
		durable: true,
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v1/subscribe" {
					lastEventIDs.Store(lastEventIDs.Load().(string) + "[" + r.Header.Get("Last-Event-ID") + "]")
				}
				h.ServeHTTP(w, r)
			})
		},
		opts: []client.Option{client.WithReconnect(0, 20*time.Millisecond)},
	})
	ctx := testCtx(t)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := e.c.Publish(ctx, newEvent(fmt.Sprintf("e%d", i), "t", "c")); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 3)
	var got []uint64
	for rec, err := range e.c.Subscribe(ctx, 0, client.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.GlobalPosition)
		switch len(got) {
		case 3:
			e.ts.CloseClientConnections() // the stream drops
			publish(3, 6)
		case 5:
			e.ts.CloseClientConnections() // and again
			publish(6, 8)
		}
		if len(got) == 8 {
			break
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7]" {
		t.Errorf("positions %v, want each once in order", got)
	}
	// The second drop may come before or after record 5 has reached the
	// client.
	if ids := lastEventIDs.Load().(string); ids != "[][2][4]" && ids != "[][2][5]" {
		t.Errorf("Last-Event-ID of the connections: %s, want [][2][4] or [][2][5]", ids)
	}
}

// TestSubscribeServerClose: a server closing its streams (503 while it
// shuts down) is retried, up to the attempts allowed.
func TestSubscribeServerClose(t *testing.T) {
	e := newEnv(t, envOptions{opts: []client.Option{client.WithReconnect(3, 10*time.Millisecond)}})
	ctx := testCtx(t)
	if _, err := e.c.Publish(ctx, newEvent("e0", "t", "c")); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	var final error
	for rec, err := range e.c.Subscribe(ctx, 0, client.Filter{}) {
		if err != nil {
			final = err
			break
		}
		got = append(got, rec.GlobalPosition)
		e.srv.Close() // ends the stream; reconnects meet 503 closed
	}
	var ae *client.Error
	if !errors.As(final, &ae) || ae.Status != 503 || ae.Code != "closed" {
		t.Errorf("final error %v, want the last 503 closed after the retries", final)
	}
	if fmt.Sprint(got) != "[0]" {
		t.Errorf("positions %v", got)
	}
}

func TestSubscribeFinalErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)

	// A request the server refuses ends the iteration at once.
	n := 0
	for _, err := range e.c.Subscribe(ctx, 0, client.Filter{Types: []string{""}}) {
		n++
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "invalid_query" || ae.Field != "type" {
			t.Errorf("error %v, want 400 invalid_query type", err)
		}
	}
	if n != 1 {
		t.Errorf("%d yields, want 1", n)
	}

	// A context that ends: its error, once.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	n = 0
	for _, err := range e.c.Subscribe(cctx, 0, client.Filter{}) {
		n++
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the context's", err)
		}
	}
	if n != 1 {
		t.Errorf("%d yields, want 1", n)
	}
}

func TestSubscribeGivesUp(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there any more
	c, err := client.New(url, client.WithReconnect(2, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, err := range c.Subscribe(testCtx(t), 0, client.Filter{}) {
		if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
			t.Errorf("error %v", err)
		}
	}
}

func TestSubscribeNotSSE(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>"))
	}))
	defer ts.Close()
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, err := range c.Subscribe(testCtx(t), 0, client.Filter{}) {
		if !errors.Is(err, client.ErrProtocol) {
			t.Errorf("error %v, want ErrProtocol", err)
		}
	}
}

// TestSubscribeHeartbeats: heartbeat comments are skipped.
func TestSubscribeHeartbeats(t *testing.T) {
	beat := make(chan struct{}, 1)
	e := newEnv(t, envOptions{
		cfg: server.Config{Heartbeat: 5 * time.Millisecond},
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(&beatWriter{ResponseWriter: w, beat: beat}, r)
			})
		},
	})
	ctx := testCtx(t)
	published := make(chan error, 1)
	go func() {
		// Publish once the stream has carried two heartbeats.
		for range 2 {
			select {
			case <-beat:
			case <-ctx.Done():
			}
		}
		_, err := e.c.Publish(ctx, newEvent("late", "t", "c"))
		published <- err
	}()
	for rec, err := range e.c.Subscribe(ctx, 0, client.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.ID != "late" {
			t.Errorf("record %+v", rec)
		}
		break
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// beatWriter signals each heartbeat comment written.
type beatWriter struct {
	http.ResponseWriter
	beat chan struct{}
}

func (w *beatWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	if strings.Contains(string(b), ": heartbeat") {
		select {
		case w.beat <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (w *beatWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
