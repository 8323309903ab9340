package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/event"
)

// paymentAgent answers every action with one event naming it.
func paymentAgent(calls *atomic.Int64) func(context.Context, *dispatch.Message) ([]*event.Event, error) {
	return func(_ context.Context, m *dispatch.Message) ([]*event.Event, error) {
		n := calls.Add(1)
		return []*event.Event{{
			Type: "payment_processed",
			Data: fmt.Appendf(nil, `{"action":%q,"call":%d}`, m.Action, n),
		}}, nil
	}
}

func TestHandlerWithTransport(t *testing.T) {
	secret := []byte("shared")
	var calls atomic.Int64
	var got dispatch.Message
	srv := newServer(t, webhook.Handler(webhook.HandlerConfig{Secret: secret},
		func(ctx context.Context, m *dispatch.Message) ([]*event.Event, error) {
			got = *m
			return paymentAgent(&calls)(ctx, m)
		}))
	tr := newTransport(t, webhook.Config{Secret: secret})

	res, err := tr.Deliver(context.Background(), delivery(srv.URL))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(res.Events) != 1 || res.Events[0].Type != "payment_processed" ||
		string(res.Events[0].Data) != `{"action":"process_payment","call":1}` {
		t.Fatalf("events: got %v", res.Events)
	}
	if got.MessageID != actionID || got.Action != "process_payment" || got.Attempt != 2 || len(got.Payload.TriggerEvent) == 0 {
		t.Errorf("the function got %+v", got)
	}

	// With the wrong secret the handler answers 401: the agent is not
	// one this dispatcher can use, so the attempt fails, retryably, and
	// counts against it.
	other := newTransport(t, webhook.Config{Secret: []byte("wrong")})
	_, err = other.Deliver(context.Background(), delivery(srv.URL))
	if se, ok := errors.AsType[*webhook.StatusError](err); !ok || se.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Deliver with the wrong secret: got %v, want a 401", err)
	}
	if dispatch.IsPermanent(err) {
		t.Errorf("a 401 is permanent, want retryable")
	}
	if calls.Load() != 1 {
		t.Errorf("the function ran %d times, want 1", calls.Load())
	}
}

func TestHandlerOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		fn         func(context.Context, *dispatch.Message) ([]*event.Event, error)
		wantStatus int
		wantCode   string
		permanent  bool
	}{
		{"no events", func(context.Context, *dispatch.Message) ([]*event.Event, error) { return nil, nil }, 200, "", false},
		{"permanent error", func(context.Context, *dispatch.Message) ([]*event.Event, error) {
			return nil, dispatch.Permanent(errors.New("card declined"))
		}, 422, webhook.CodeRejected, true},
		{"error", func(context.Context, *dispatch.Message) ([]*event.Event, error) {
			return nil, errors.New("database down")
		}, 500, webhook.CodeAgentError, false},
		{"nil event", func(context.Context, *dispatch.Message) ([]*event.Event, error) {
			return []*event.Event{nil}, nil
		}, 500, webhook.CodeAgentError, false},
		{"event without type", func(context.Context, *dispatch.Message) ([]*event.Event, error) {
			return []*event.Event{{Source: "x"}}, nil
		}, 500, webhook.CodeAgentError, false},
		{"nil function", nil, 500, webhook.CodeAgentError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, webhook.Handler(webhook.HandlerConfig{}, tt.fn))
			tr := newTransport(t, webhook.Config{})
			res, err := tr.Deliver(context.Background(), delivery(srv.URL))
			if tt.wantStatus == 200 {
				if err != nil || len(res.Events) != 0 {
					t.Fatalf("Deliver: got %v, %v; want no events, no error", res.Events, err)
				}
				return
			}
			se, ok := errors.AsType[*webhook.StatusError](err)
			if !ok || se.StatusCode != tt.wantStatus {
				t.Fatalf("Deliver: got %v, want status %d", err, tt.wantStatus)
			}
			if code := errorCode(t, []byte(se.Body)); code != tt.wantCode {
				t.Errorf("code: got %q, want %q", code, tt.wantCode)
			}
			if got := dispatch.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent: got %v, want %v", got, tt.permanent)
			}
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	secret := []byte("shared")
	var calls atomic.Int64
	h := webhook.Handler(webhook.HandlerConfig{Secret: secret, MaxBodyBytes: 1024}, paymentAgent(&calls))
	srv := newServer(t, h)
	body := []byte(`{"message_id":"m1","action":"a"}`)
	signed := func(r *http.Request, b []byte) {
		ts := time.Now().Unix()
		r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
		r.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, b))
	}
	tests := []struct {
		name       string
		method     string
		ctype      string
		body       []byte
		chunked    bool
		sign       func(*http.Request, []byte)
		wantStatus int
		wantCode   string
	}{
		{"valid", "POST", "application/json", body, false, signed, 200, ""},
		{"valid with charset", "POST", "application/json; charset=utf-8", body, false, signed, 200, ""},
		{"GET", "GET", "", nil, false, signed, 405, webhook.CodeMethodNotAllowed},
		{"PUT", "PUT", "application/json", body, false, signed, 405, webhook.CodeMethodNotAllowed},
		{"text", "POST", "text/plain", body, false, signed, 415, webhook.CodeUnsupportedMediaType},
		{"no content type", "POST", "", body, false, signed, 415, webhook.CodeUnsupportedMediaType},
		{"form", "POST", "application/x-www-form-urlencoded", body, false, signed, 415, webhook.CodeUnsupportedMediaType},
		{"too large", "POST", "application/json", bytes.Repeat([]byte(" "), 2048), false, signed, 413, webhook.CodeTooLarge},
		{"too large, chunked", "POST", "application/json", bytes.Repeat([]byte(" "), 2048), true, signed, 413, webhook.CodeTooLarge},
		{"unsigned", "POST", "application/json", body, false, nil, 401, webhook.CodeBadSignature},
		{"bad signature", "POST", "application/json", body, false, func(r *http.Request, b []byte) {
			signed(r, append([]byte(" "), b...))
		}, 401, webhook.CodeBadSignature},
		{"stale", "POST", "application/json", body, false, func(r *http.Request, b []byte) {
			ts := time.Now().Add(-time.Hour).Unix()
			r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
			r.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, b))
		}, 401, webhook.CodeBadSignature},
		{"not JSON", "POST", "application/json", []byte("hello"), false, signed, 400, webhook.CodeInvalidMessage},
		{"no message id", "POST", "application/json", []byte(`{"action":"a"}`), false, signed, 400, webhook.CodeInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			r, err := http.NewRequest(tt.method, srv.URL, rd)
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			if tt.sign != nil {
				tt.sign(r, tt.body)
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d, want %d; body %s", resp.StatusCode, tt.wantStatus, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q", ct)
			}
			if tt.wantCode == "" {
				return
			}
			if code := errorCode(t, b); code != tt.wantCode {
				t.Errorf("code: got %q, want %q (%s)", code, tt.wantCode, b)
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow: got %q, want POST", resp.Header.Get("Allow"))
			}
		})
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the function ran %d times, want 2 (the valid requests only)", n)
	}
}

func TestHandlerDedup(t *testing.T) {
	var calls atomic.Int64
	srv := newServer(t, webhook.Handler(webhook.HandlerConfig{Dedup: true, DedupSize: 2}, paymentAgent(&calls)))
	tr := newTransport(t, webhook.Config{})

	deliver := func(id string) string {
		t.Helper()
		d := delivery(srv.URL)
		d.Action.ID = id
		res, err := tr.Deliver(context.Background(), d)
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("Deliver %s: %v, %v", id, res.Events, err)
		}
		return string(res.Events[0].AppendJSON(nil))
	}
	first := deliver("a")
	if again := deliver("a"); again != first {
		t.Errorf("a repeated key got\n%s\nwant the first response\n%s", again, first)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the function ran %d times for one key, want 1", n)
	}
	if deliver("b") == first {
		t.Errorf("another key got the first key's response")
	}
	deliver("c") // evicts a: the cache holds two keys
	if deliver("a") == first {
		t.Errorf("an evicted key got its old response")
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("the function ran %d times, want 4", n)
	}

	// The replay is marked.
	body, _ := json.Marshal(delivery(srv.URL).Message)
	r, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(webhook.HeaderIdempotencyKey, "a") // the most recent key
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a replay has no Idempotent-Replayed header")
	}
}

func TestHandlerDedupConcurrentAndFailures(t *testing.T) {
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	var calls atomic.Int64
	srv := newServer(t, webhook.Handler(webhook.HandlerConfig{Dedup: true},
		func(ctx context.Context, m *dispatch.Message) ([]*event.Event, error) {
			n := calls.Add(1)
			entered <- struct{}{}
			<-release
			if m.Action == "flaky" && n == 1 {
				return nil, errors.New("try again")
			}
			return []*event.Event{{Type: "done", Data: fmt.Appendf(nil, "%d", n)}}, nil
		}))
	tr := newTransport(t, webhook.Config{})

	// Two deliveries of one action at once: the function runs once and
	// both get its response.
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range results {
		wg.Go(func() {
			res, err := tr.Deliver(context.Background(), delivery(srv.URL))
			if err != nil || len(res.Events) != 1 {
				t.Errorf("Deliver: %v, %v", res.Events, err)
				return
			}
			results[i] = string(res.Events[0].Data)
		})
	}
	<-entered
	close(release)
	wg.Wait()
	if results[0] != "1" || results[1] != "1" || calls.Load() != 1 {
		t.Errorf("got responses %q after %d calls, want both 1 after 1 call", results, calls.Load())
	}

	// A failed attempt is not remembered: the retry runs the function.
	calls.Store(0)
	d := delivery(srv.URL)
	d.Action.ID, d.Message.Action = "flaky-1", "flaky"
	if _, err := tr.Deliver(context.Background(), d); err == nil {
		t.Fatal("first delivery of the flaky action succeeded")
	}
	res, err := tr.Deliver(context.Background(), d)
	if err != nil || len(res.Events) != 1 || string(res.Events[0].Data) != "2" {
		t.Fatalf("retry: got %v, %v; want the second call's event", res.Events, err)
	}
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if v.Error.Message == "" || strings.TrimSpace(v.Error.Message) != v.Error.Message {
		t.Errorf("error body %s has no message", body)
	}
	return v.Error.Code
}
