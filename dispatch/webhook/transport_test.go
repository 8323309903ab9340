package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/event"
)

func TestDeliverMessageAndHeaders(t *testing.T) {
	reqs := make(chan captured, 1)
	srv := newServer(t, capture(reqs, http.StatusNoContent, ""))
	now := time.Date(2025, 1, 1, 12, 0, 5, 0, time.UTC)
	tr := newTransport(t, webhook.Config{UserAgent: "test-agent", Now: func() time.Time { return now }})

	d := delivery(srv.URL + "/actions?token=abc")
	res, err := tr.Deliver(context.Background(), d)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(res.Events) != 0 {
		t.Errorf("got %d events from an empty 204, want 0", len(res.Events))
	}
	got := <-reqs

	if got.method != http.MethodPost {
		t.Errorf("method: got %s, want POST", got.method)
	}
	if got.req.URL.Path != "/actions" || got.req.URL.Query().Get("token") != "abc" {
		t.Errorf("URL: got %s, want /actions?token=abc", got.req.URL)
	}
	for k, want := range map[string]string{
		"Content-Type":         "application/json",
		"User-Agent":           "test-agent",
		"Idempotency-Key":      actionID,
		"X-Choreo-Action":      "process_payment",
		"X-Choreo-Attempt":     "2",
		"X-Choreo-Correlation": "order-1",
		"X-Choreo-Timestamp":   "",
		"X-Choreo-Signature":   "",
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("header %s: got %q, want %q", k, v, want)
		}
	}

	var m dispatch.Message
	if err := json.Unmarshal(got.body, &m); err != nil {
		t.Fatalf("body is not a Message: %v\n%s", err, got.body)
	}
	want := d.Message
	want.Attempt = 2
	want.Timestamp = now
	want.Payload.TriggerEvent = m.Payload.TriggerEvent // compared below
	if !equalJSON(t, m, want) {
		t.Errorf("message:\ngot  %+v\nwant %+v", m, want)
	}
	te, err := event.Decode(m.Payload.TriggerEvent)
	if err != nil {
		t.Fatalf("payload.trigger_event: %v", err)
	}
	if g, w := te.AppendJSON(nil), trigger().AppendJSON(nil); !bytes.Equal(g, w) {
		t.Errorf("payload.trigger_event:\ngot  %s\nwant %s", g, w)
	}
	// The raw JSON uses the course's field names.
	var raw map[string]any
	_ = json.Unmarshal(got.body, &raw)
	for _, k := range []string{"message_id", "sender_id", "recipient_id", "action", "payload", "capabilities_required", "priority", "correlation_id", "timestamp", "hops", "attempt"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("body has no %q: %s", k, got.body)
		}
	}
}

func TestDeliverKeepsDispatcherTrigger(t *testing.T) {
	reqs := make(chan captured, 1)
	srv := newServer(t, capture(reqs, http.StatusOK, ""))
	tr := newTransport(t, webhook.Config{})
	d := delivery(srv.URL)
	d.Message.Payload.TriggerEvent = json.RawMessage(`{"specversion":"1.0","id":"x","source":"s","type":"t"}`)
	if _, err := tr.Deliver(context.Background(), d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	var m dispatch.Message
	got := <-reqs
	if err := json.Unmarshal(got.body, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.Payload.TriggerEvent) != string(d.Message.Payload.TriggerEvent) {
		t.Errorf("trigger_event: got %s, want the dispatcher's %s", m.Payload.TriggerEvent, d.Message.Payload.TriggerEvent)
	}
}

func TestDeliverHeaderValuesAreEscaped(t *testing.T) {
	reqs := make(chan captured, 1)
	srv := newServer(t, capture(reqs, http.StatusOK, ""))
	tr := newTransport(t, webhook.Config{})
	d := delivery(srv.URL)
	d.Message.CorrelationID = "line\nbreak"
	if _, err := tr.Deliver(context.Background(), d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if got := (<-reqs).header.Get(webhook.HeaderCorrelation); got != "line%0Abreak" {
		t.Errorf("correlation header: got %q, want %q", got, "line%0Abreak")
	}
}

func TestDeliverSigned(t *testing.T) {
	secret := []byte("s3cret")
	reqs := make(chan captured, 1)
	srv := newServer(t, capture(reqs, http.StatusOK, ""))
	tr := newTransport(t, webhook.Config{Secret: secret})

	before := time.Now()
	if _, err := tr.Deliver(context.Background(), delivery(srv.URL)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := <-reqs
	if err := webhook.Verify(secret, got.req, got.body, 0, time.Now()); err != nil {
		t.Fatalf("Verify of a delivered request: %v", err)
	}
	ts := got.header.Get(webhook.HeaderTimestamp)
	if want := fmt.Sprint(before.Unix()); ts < want {
		t.Errorf("timestamp %s, want at least %s", ts, want)
	}
	if sig := got.header.Get(webhook.HeaderSignature); !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
		t.Errorf("signature %q, want sha256= and 64 hex digits", sig)
	}

	tampered := bytes.Replace(got.body, []byte("process_payment"), []byte("refund_payment!"), 1)
	if err := webhook.Verify(secret, got.req, tampered, 0, time.Now()); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify of a tampered body: got %v, want ErrBadSignature", err)
	}
	if err := webhook.Verify([]byte("other"), got.req, got.body, 0, time.Now()); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify with another secret: got %v, want ErrBadSignature", err)
	}
	if err := webhook.Verify(secret, got.req, got.body, time.Minute, time.Now().Add(2*time.Minute)); !errors.Is(err, webhook.ErrStaleTimestamp) {
		t.Errorf("Verify two minutes later with a one-minute skew: got %v, want ErrStaleTimestamp", err)
	}
}

func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '1700000000.{"message_id":"a1"}' |
	// openssl dgst -sha256 -hmac secret-key
	const want = "sha256=bfc8032d1b73f7458371af60fb8705d996f7f507fe87b0f43107667ee6b0b279"
	if got := webhook.Sign([]byte("secret-key"), 1700000000, []byte(`{"message_id":"a1"}`)); got != want {
		t.Errorf("Sign: got %s, want %s", got, want)
	}
}

func TestVerifyErrors(t *testing.T) {
	secret := []byte("k")
	body := []byte(`{}`)
	now := time.Unix(1700000000, 0)
	good := webhook.Sign(secret, now.Unix(), body)
	tests := []struct {
		name   string
		secret []byte
		ts     string
		sig    string
		want   error
	}{
		{"valid", secret, "1700000000", good, nil},
		{"valid within skew", secret, "1699999800", webhook.Sign(secret, 1699999800, body), nil},
		{"no secret", nil, "1700000000", good, webhook.ErrNoSecret},
		{"no timestamp", secret, "", good, webhook.ErrUnsigned},
		{"no signature", secret, "1700000000", "", webhook.ErrUnsigned},
		{"timestamp not a number", secret, "yesterday", good, webhook.ErrBadTimestamp},
		{"timestamp too old", secret, "1699999000", webhook.Sign(secret, 1699999000, body), webhook.ErrStaleTimestamp},
		{"timestamp in the future", secret, "1700001000", webhook.Sign(secret, 1700001000, body), webhook.ErrStaleTimestamp},
		{"timestamp extreme", secret, "-9223372036854775808", good, webhook.ErrStaleTimestamp},
		{"signature for another time", secret, "1700000001", good, webhook.ErrBadSignature},
		{"no prefix", secret, "1700000000", strings.TrimPrefix(good, "sha256="), webhook.ErrBadSignature},
		{"short", secret, "1700000000", good[:20], webhook.ErrBadSignature},
		{"not hex", secret, "1700000000", "sha256=" + strings.Repeat("zz", 32), webhook.ErrBadSignature},
		{"upper-case hex", secret, "1700000000", "sha256=" + strings.ToUpper(good[7:]), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", bytes.NewReader(body))
			if tt.ts != "" {
				r.Header.Set(webhook.HeaderTimestamp, tt.ts)
			}
			if tt.sig != "" {
				r.Header.Set(webhook.HeaderSignature, tt.sig)
			}
			err := webhook.Verify(tt.secret, r, body, 0, now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestResponseForms(t *testing.T) {
	const ev1 = `{"specversion":"1.0","type":"payment_processed","data":{"ok":true}}`
	const ev2 = `{"type":"receipt_sent","id":"e2","source":"mailer"}`
	tests := []struct {
		name   string
		status int
		body   string
		want   []string // event types
	}{
		{"empty", http.StatusOK, "", nil},
		{"no content", http.StatusNoContent, "", nil},
		{"accepted, white space", http.StatusAccepted, " \r\n\t", nil},
		{"one event", http.StatusOK, ev1, []string{"payment_processed"}},
		{"array", http.StatusOK, "[" + ev1 + "," + ev2 + "]", []string{"payment_processed", "receipt_sent"}},
		{"empty array", http.StatusOK, "[]", nil},
		{"events object", http.StatusOK, `{"events":[` + ev2 + "," + ev1 + `]}`, []string{"receipt_sent", "payment_processed"}},
		{"events object, more members", http.StatusOK, `{"status":"ok","events":[` + ev1 + `]}`, []string{"payment_processed"}},
		{"events object, empty", http.StatusOK, `{"events":[]}`, nil},
		{"pretty array", http.StatusOK, "[\n  " + ev1 + "\n]\n", []string{"payment_processed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(tt.status, tt.body))
			tr := newTransport(t, webhook.Config{})
			res, err := tr.Deliver(context.Background(), delivery(srv.URL))
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			var got []string
			for _, e := range res.Events {
				got = append(got, e.Type)
				if e.SpecVersion != event.SpecVersion {
					t.Errorf("event %s: specversion %q, want %q", e.Type, e.SpecVersion, event.SpecVersion)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("event types: got %v, want %v", got, tt.want)
			}
		})
	}

	// Attributes the agent set are kept; those it left out stay empty for
	// the dispatcher to fill.
	srv := newServer(t, reply(http.StatusOK, "["+ev1+","+ev2+"]"))
	tr := newTransport(t, webhook.Config{})
	res, err := tr.Deliver(context.Background(), delivery(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Events[0]; e.ID != "" || e.Source != "" || e.CorrelationID != "" || string(e.Data) != `{"ok":true}` {
		t.Errorf("event 0: got %s, want no id, source or correlation, and the data", e.AppendJSON(nil))
	}
	if e := res.Events[1]; e.ID != "e2" || e.Source != "mailer" {
		t.Errorf("event 1: got %s, want id e2 and source mailer", e.AppendJSON(nil))
	}
}

// TestBadResponseIsDelivered: a 2xx answer means the agent took the
// action, whatever its body: another attempt would get the same answer.
// A body that is no attempt at events is an acknowledgement; one that
// tries and fails has its reason in Result.Refused.
func TestBadResponseIsDelivered(t *testing.T) {
	tests := []struct {
		name, body string
		refused    bool
	}{
		{"not JSON", "OK", false},
		{"HTML", "<html>hello</html>", false},
		{"string", `"done"`, false},
		{"number", `42`, false},
		{"null", `null`, false},
		{"status object", `{"status":"ok"}`, false},
		{"truncated object", `{"type":"x"`, true},
		{"truncated array", `[{"type":"x"}`, true},
		{"array of numbers", `[1,2]`, true},
		{"null event", `[null]`, true},
		{"event without type", `{"specversion":"1.0","data":{}}`, true},
		{"event with a bad specversion", `{"specversion":"0.3","type":"x"}`, true},
		{"event in array without type", `[{"type":"x"},{"source":"y"}]`, true},
		{"events not an array", `{"events":{"type":"x"}}`, true},
		{"bad time", `{"type":"x","time":"yesterday"}`, true},
		{"too many events", `[{"type":"a"},{"type":"b"},{"type":"c"}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(http.StatusOK, tt.body))
			tr := newTransport(t, webhook.Config{MaxEvents: 2})
			res, err := tr.Deliver(context.Background(), delivery(srv.URL))
			if err != nil {
				t.Fatalf("Deliver: %v, want delivered", err)
			}
			if len(res.Events) != 0 {
				t.Fatalf("%d events from a bad body", len(res.Events))
			}
			if got := res.Refused != nil; got != tt.refused {
				t.Fatalf("Refused %v, want refused = %v", res.Refused, tt.refused)
			}
			if tt.refused && !errors.Is(res.Refused, webhook.ErrBadResponse) {
				t.Fatalf("Refused %v does not wrap ErrBadResponse", res.Refused)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
		{http.StatusTooEarly, false},
		{http.StatusBadRequest, true},
		{http.StatusConflict, true},
		{http.StatusGone, true},
		{http.StatusRequestEntityTooLarge, true},
		{http.StatusUnprocessableEntity, true},
		// No working agent behind the URL: the agent's fault.
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
		{http.StatusMethodNotAllowed, false},
		{http.StatusMisdirectedRequest, false},
		{http.StatusMovedPermanently, false},
		{http.StatusTemporaryRedirect, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			body := `{"error":"nope"}` + strings.Repeat("x", 2000)
			srv := newServer(t, reply(tt.status, body))
			tr := newTransport(t, webhook.Config{})
			_, err := tr.Deliver(context.Background(), delivery(srv.URL))
			if err == nil {
				t.Fatal("Deliver succeeded")
			}
			if got := dispatch.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			se, ok := errors.AsType[*webhook.StatusError](err)
			if !ok {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if se.StatusCode != tt.status {
				t.Errorf("StatusCode: got %d, want %d", se.StatusCode, tt.status)
			}
			if len(se.Body) != 512 || !strings.HasPrefix(se.Body, `{"error":"nope"}`) {
				t.Errorf("Body: got %d bytes starting %.30q, want the first 512", len(se.Body), se.Body)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.status)) || !strings.Contains(err.Error(), "nope") {
				t.Errorf("message %q does not name the status and the body", err)
			}
		})
	}
}

func TestSlowAgentPastDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release) // before srv.Close, which waits for the handler

	t.Run("context deadline", func(t *testing.T) {
		tr := newTransport(t, webhook.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := tr.Deliver(ctx, delivery(srv.URL))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Deliver: got %v, want DeadlineExceeded", err)
		}
		if dispatch.IsPermanent(err) {
			t.Errorf("timeout is permanent, want retryable")
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Deliver took %v after a 100ms deadline", el)
		}
	})
	t.Run("config timeout without deadline", func(t *testing.T) {
		tr := newTransport(t, webhook.Config{Timeout: 100 * time.Millisecond})
		start := time.Now()
		_, err := tr.Deliver(context.Background(), delivery(srv.URL))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Deliver: got %v, want DeadlineExceeded", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Deliver took %v with a 100ms timeout", el)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		tr := newTransport(t, webhook.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := tr.Deliver(ctx, delivery(srv.URL)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Deliver: got %v, want Canceled", err)
		}
	})
}

func TestOversizedResponse(t *testing.T) {
	big := "[" + strings.Repeat(`{"type":"x"},`, 400) + `{"type":"x"}]`
	t.Run("with content length", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, big))
		tr := newTransport(t, webhook.Config{MaxResponseBytes: 1024})
		if res, err := tr.Deliver(context.Background(), delivery(srv.URL)); err != nil || !errors.Is(res.Refused, webhook.ErrResponseTooLarge) {
			t.Fatalf("Deliver: got %v, refused %v; want delivered with ErrResponseTooLarge refused", err, res.Refused)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(big); i += 100 {
				_, _ = w.Write([]byte(big[i:min(i+100, len(big))]))
				w.(http.Flusher).Flush()
			}
		}))
		tr := newTransport(t, webhook.Config{MaxResponseBytes: 1024})
		res, err := tr.Deliver(context.Background(), delivery(srv.URL))
		if err != nil || !errors.Is(res.Refused, webhook.ErrResponseTooLarge) {
			t.Fatalf("Deliver: got %v, refused %v; want delivered with ErrResponseTooLarge refused", err, res.Refused)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, big))
		tr := newTransport(t, webhook.Config{MaxResponseBytes: int64(len(big))})
		res, err := tr.Deliver(context.Background(), delivery(srv.URL))
		if err != nil || len(res.Events) != 401 {
			t.Fatalf("Deliver: got %d events, %v; want 401 events", len(res.Events), err)
		}
	})
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tr := newTransport(t, webhook.Config{})
	_, err = tr.Deliver(context.Background(), delivery("http://"+addr+"/hook?token=secret-token"))
	if err == nil {
		t.Fatal("Deliver to a closed port succeeded")
	}
	if dispatch.IsPermanent(err) {
		t.Errorf("connection refused is permanent, want retryable: %v", err)
	}
	if !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q should name %s and not the query", err, addr)
	}
}

func TestInvalidDeliveries(t *testing.T) {
	tr := newTransport(t, webhook.Config{})
	noID := delivery("http://127.0.0.1:1/")
	noID.Action.ID, noID.Message.MessageID = "", ""
	tests := []struct {
		name      string
		d         *dispatch.Delivery
		want      error
		permanent bool
	}{
		{"nil", nil, webhook.ErrInvalidDelivery, true},
		{"no action id", noID, webhook.ErrInvalidDelivery, true},
		{"empty endpoint", delivery(""), webhook.ErrBadEndpoint, false},
		{"relative endpoint", delivery("/hook"), webhook.ErrBadEndpoint, false},
		{"other scheme", delivery("ftp://127.0.0.1/hook"), webhook.ErrBadEndpoint, false},
		{"unparsable", delivery("http://[::1"), webhook.ErrBadEndpoint, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tr.Deliver(context.Background(), tt.d)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Deliver: got %v, want %v", err, tt.want)
			}
			if got := dispatch.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []webhook.Config{
		{MaxResponseBytes: -1},
		{MaxEvents: -1},
		{Timeout: -time.Second},
	} {
		if _, err := webhook.New(cfg); !errors.Is(err, webhook.ErrInvalidConfig) {
			t.Errorf("New(%+v): got %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t, reply(http.StatusOK, ""))
	tr := newTransport(t, webhook.Config{})
	if _, err := tr.Deliver(context.Background(), delivery(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tr.Deliver(context.Background(), delivery(srv.URL)); !errors.Is(err, webhook.ErrClosed) {
		t.Errorf("Deliver after Close: got %v, want ErrClosed", err)
	}
}

// connCounter counts the connections a server accepts.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) state(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func TestKeepAliveReusesConnections(t *testing.T) {
	var calls atomic.Int64
	var conns connCounter
	srv := newUnstartedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every third request fails with a body, which must be drained.
		if calls.Add(1)%3 == 0 {
			reply(http.StatusServiceUnavailable, strings.Repeat("busy ", 2000))(w, r)
			return
		}
		reply(http.StatusOK, `[{"type":"done"}]`)(w, r)
	}))
	srv.Config.ConnState = conns.state
	srv.Start()
	tr := newTransport(t, webhook.Config{Secret: []byte("k")})

	for i := range 30 {
		_, err := tr.Deliver(context.Background(), delivery(srv.URL))
		if (i+1)%3 == 0 {
			if se, ok := errors.AsType[*webhook.StatusError](err); !ok || se.StatusCode != 503 {
				t.Fatalf("delivery %d: got %v, want a 503", i, err)
			}
		} else if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if n := conns.n.Load(); n != 1 {
		t.Errorf("30 sequential deliveries opened %d connections, want 1", n)
	}

	const workers = 8
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range 25 {
				_, _ = tr.Deliver(context.Background(), delivery(srv.URL))
			}
		})
	}
	wg.Wait()
	// A request that waits for a dial takes a connection freed meanwhile,
	// and the dialed one joins the pool, so a few more than one connection
	// per worker may be opened; without reuse there would be 200.
	if n := conns.n.Load(); n > 2*workers {
		t.Errorf("%d workers doing 200 deliveries opened %d connections, want at most %d", workers, n, 2*workers)
	}
}

func equalJSON(t *testing.T, got, want any) bool {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(g, w)
}
