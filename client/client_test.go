package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

func newEvent(id, typ, corr string) *event.Event {
	return &event.Event{
		SpecVersion: event.SpecVersion, ID: id, Source: "agent/test", Type: typ, CorrelationID: corr,
		Time:       time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC),
		Subject:    "subject \"quoted\" ✓",
		Extensions: map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`), "priority": json.RawMessage(`7`)},
		Data:       json.RawMessage(`{"order_id":"o-1","order_value":129.95,"items":[{"sku":"A-1","qty":2}]}`),
	}
}

// sameEvent compares events by their JSON.
func sameEvent(t *testing.T, got, want *event.Event) {
	t.Helper()
	if got == nil {
		t.Fatalf("no event, want %s", want.AppendJSON(nil))
	}
	if g, w := got.AppendJSON(nil), want.AppendJSON(nil); !bytes.Equal(g, w) {
		t.Errorf("event\n got %s\nwant %s", g, w)
	}
}

func TestPublishGetRead(t *testing.T) {
	e := newEnv(t, envOptions{durable: true})
	ctx := testCtx(t)

	ev := newEvent("", "order_received", "")
	pos, err := e.c.Publish(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID == "" || ev.CorrelationID != ev.ID {
		t.Fatalf("Publish did not complete the event in place: id %q, correlation %q", ev.ID, ev.CorrelationID)
	}
	if want := (client.Position{ID: ev.ID, Stream: ev.ID}); pos[0] != want {
		t.Errorf("position %+v, want %+v", pos[0], want)
	}
	rec, err := e.c.Get(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, rec.Event, ev)
	if rec.Stream != ev.ID || rec.GlobalPosition != 0 || rec.Recorded.IsZero() {
		t.Errorf("record %+v", rec)
	}
	stored, err := e.store.Get(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Partition != stored.Partition || !rec.Recorded.Equal(stored.Recorded) {
		t.Errorf("partition %d recorded %v; the store says %d %v", rec.Partition, rec.Recorded, stored.Partition, stored.Recorded)
	}

	var batch []*event.Event
	for i := range 5 {
		batch = append(batch, newEvent(fmt.Sprintf("b%d", i), "item_added", "cart-1"))
	}
	pos, err = e.c.PublishBatch(ctx, batch, client.WithStream("carts/cart 1"), client.WithExpectedVersion(store.NoStream))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pos {
		if p.ID != batch[i].ID || p.Stream != "carts/cart 1" || p.StreamPosition != uint64(i) || p.GlobalPosition != uint64(i+1) {
			t.Errorf("position %d: %+v", i, p)
		}
	}

	recs, next, err := e.c.ReadStream(ctx, "carts/cart 1", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || next != 4 {
		t.Fatalf("ReadStream: %d records, next %d", len(recs), next)
	}
	for i, r := range recs {
		sameEvent(t, r.Event, batch[i+1])
		if r.StreamPosition != uint64(i+1) || r.Stream != "carts/cart 1" {
			t.Errorf("record %d: %+v", i, r)
		}
	}

	var all []store.Record
	for from := uint64(0); ; {
		recs, next, err := e.c.ReadAll(ctx, from, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
		from = next
	}
	if len(all) != 6 {
		t.Fatalf("ReadAll: %d records, want 6", len(all))
	}
	for i, r := range all {
		if r.GlobalPosition != uint64(i) {
			t.Errorf("record %d at %d", i, r.GlobalPosition)
		}
	}
	if recs, _, err := e.c.ReadStream(ctx, "nobody", 0, 0); err != nil || len(recs) != 0 {
		t.Errorf("unknown stream: %d records, %v", len(recs), err)
	}
}

func TestPublishRetryIsIdempotent(t *testing.T) {
	e := newEnv(t, envOptions{durable: true})
	ctx := testCtx(t)
	ev := newEvent("", "t", "")
	first, err := e.c.Publish(ctx, ev, client.WithStream("s"), client.WithExpectedVersion(store.NoStream))
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.c.Publish(ctx, ev, client.WithStream("s"), client.WithExpectedVersion(store.NoStream))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if first[0] != again[0] {
		t.Errorf("retry at %+v, first at %+v", again[0], first[0])
	}
	if h, _ := e.store.Head(ctx); h != 1 {
		t.Errorf("head %d after a retry, want 1", h)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	if _, err := e.c.Publish(ctx, newEvent("x0", "t", ""), client.WithStream("acct")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		call     func() error
		status   int
		code     string
		field    string
		sentinel error
		msg      string
	}{
		{"wrong version", func() error {
			_, err := e.c.Publish(ctx, newEvent("x1", "t", ""), client.WithStream("acct"), client.WithExpectedVersion(store.Exact(4)))
			return err
		}, 409, "wrong_expected_version", "expected_version", store.ErrWrongVersion, "actual 0"},
		{"no stream", func() error {
			_, err := e.c.Publish(ctx, newEvent("x2", "t", ""), client.WithStream("acct"), client.WithExpectedVersion(store.NoStream))
			return err
		}, 409, "wrong_expected_version", "expected_version", store.ErrWrongVersion, "actual 0"},
		{"conflict", func() error {
			_, err := e.c.Publish(ctx, newEvent("x0", "other", ""), client.WithStream("acct"))
			return err
		}, 409, "duplicate_id_conflict", "id", store.ErrConflict, ""},
		{"not found", func() error {
			_, err := e.c.Get(ctx, "nope")
			return err
		}, 404, "not_found", "id", store.ErrNotFound, "nope"},
		{"invalid event in a batch", func() error {
			bad := newEvent("x3", "t", "")
			bad.Source = ""
			_, err := e.c.PublishBatch(ctx, []*event.Event{newEvent("x4", "t", ""), bad})
			return err
		}, 400, "missing_field", "events[1].source", event.ErrInvalid, ""},
		{"empty batch", func() error {
			_, err := e.c.PublishBatch(ctx, nil)
			return err
		}, 400, "empty_batch", "", store.ErrEmptyBatch, ""},
		{"reserved type", func() error {
			_, err := e.c.Publish(ctx, newEvent("x5", "choreo.timer", ""))
			return err
		}, 400, "reserved_type", "type", nil, ""},
		{"reserved stream", func() error {
			_, err := e.c.Publish(ctx, newEvent("x6", "t", ""), client.WithStream("$dlq"))
			return err
		}, 400, "reserved_stream", "stream", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var ae *client.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v, want *client.Error", err, err)
			}
			if ae.Status != c.status || ae.Code != c.code || ae.Field != c.field || !strings.Contains(ae.Message, c.msg) {
				t.Errorf("got %+v, want %d %s %s with %q", ae, c.status, c.code, c.field, c.msg)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.code) {
				t.Errorf("Error() = %q lacks the code", err)
			}
		})
	}
	if h, _ := e.store.Head(ctx); h != 1 {
		t.Errorf("failed calls grew the log to %d events", h)
	}
}

func TestNonAPIErrors(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/events":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"events":[` + strings.Repeat(`{"stream":"s","stream_position":0,"global_position":0,"partition":0},`, 100) + `{}],"next":1}`))
		case "/v1/events/odd":
			w.Write([]byte(`{"id":"odd"}`))
		default:
			http.Error(w, "upstream down", http.StatusBadGateway)
		}
	}))
	defer ts.Close()
	ctx := testCtx(t)

	c, err := client.New(ts.URL, client.WithMaxResponseBytes(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(ctx, "x")
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "" || ae.Message != "upstream down" {
		t.Errorf("plain-text error: %#v", err)
	}
	if _, _, err := c.ReadAll(ctx, 0, 10); !errors.Is(err, client.ErrResponseTooLarge) {
		t.Errorf("large response: %v, want ErrResponseTooLarge", err)
	}
	if _, err := c.Get(ctx, "odd"); !errors.Is(err, client.ErrProtocol) {
		t.Errorf("record without members: %v, want ErrProtocol", err)
	}
}

func TestHeadersAndToken(t *testing.T) {
	var auth, custom atomic.Value
	e := newEnv(t, envOptions{
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Store(r.Header.Get("Authorization"))
				custom.Store(r.Header.Get("X-Agent"))
				h.ServeHTTP(w, r)
			})
		},
		opts: []client.Option{client.WithToken("s3cret"), client.WithHeader("X-Agent", "billing")},
	})
	if _, err := e.c.Publish(testCtx(t), newEvent("h1", "t", "")); err != nil {
		t.Fatal(err)
	}
	if auth.Load() != "Bearer s3cret" || custom.Load() != "billing" {
		t.Errorf("Authorization %q, X-Agent %q", auth.Load(), custom.Load())
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "localhost:7070", "ftp://host", "http://", "http://h/?q=1", "http://h/#f", "http://[::1"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := client.New("http://example.com/choreo/", client.WithHTTPClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int64
	e := newEnv(t, envOptions{connState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}})
	ctx := testCtx(t)
	for i := range 20 {
		if _, err := e.c.Publish(ctx, newEvent(fmt.Sprintf("k%d", i), "t", "")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n > 1 {
		t.Errorf("%d connections for 40 sequential calls, want 1 kept alive", n)
	}
}
