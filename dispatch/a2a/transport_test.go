package a2a

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"go.uber.org/goleak"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/event"
)

func TestMain(m *testing.M) {
	// The SDK's server logs every execution through slog's default logger.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// deliver runs one delivery with a deadline of 10 s.
func deliver(t *testing.T, tr *Transport, d *dispatch.Delivery) (dispatch.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return tr.Deliver(ctx, d)
}

// oneEvent checks that res holds one event of type typ, with what the
// dispatcher fills left empty, and decodes its data into v.
func oneEvent(t *testing.T, res dispatch.Result, typ string, v any) *event.Event {
	t.Helper()
	if len(res.Events) != 1 {
		t.Fatalf("got %d events, want 1", len(res.Events))
	}
	ev := res.Events[0]
	if ev.Type != typ {
		t.Errorf("event type = %q, want %q", ev.Type, typ)
	}
	if ev.ID != "" || ev.Source != "" || ev.CorrelationID != "" || ev.CausationID != "" || ev.Hops != 0 {
		t.Errorf("event fills what the dispatcher fills: id %q source %q correlation %q causation %q hops %d",
			ev.ID, ev.Source, ev.CorrelationID, ev.CausationID, ev.Hops)
	}
	if ev.Time.IsZero() {
		t.Error("event has no time")
	}
	if err := json.Unmarshal(ev.Data, v); err != nil {
		t.Fatalf("event data %s: %v", ev.Data, err)
	}
	return ev
}

func TestDeliverCompleted(t *testing.T) {
	a := newTestAgent(t, completeWith(
		sdk.DataPart{Data: map[string]any{"reserved": true, "sku": "b-1"}},
		sdk.TextPart{Text: "reserved 1 item"},
		sdk.DataPart{Data: map[string]any{"warehouse": "north"}},
	), nil)
	tr := newTestTransport(t, Config{})

	res, err := deliver(t, tr, testDelivery(a.endpoint))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	var got Completed
	ev := oneEvent(t, res, "reserve_stock.completed", &got)
	if ev.DataContentType != "application/json" {
		t.Errorf("datacontenttype = %q", ev.DataContentType)
	}
	want := []map[string]any{{"reserved": true, "sku": "b-1"}, {"warehouse": "north"}}
	if !reflect.DeepEqual(got.Artifacts, want) {
		t.Errorf("artifacts = %v, want %v", got.Artifacts, want)
	}
	if !reflect.DeepEqual(got.Text, []string{"reserved 1 item"}) {
		t.Errorf("text = %q", got.Text)
	}
	if got.TaskID == "" || got.ContextID != testCorrelation || got.MessageID != "" {
		t.Errorf("task_id %q context_id %q message_id %q", got.TaskID, got.ContextID, got.MessageID)
	}

	// What the agent received.
	msgs := a.messages()
	if len(msgs) != 1 {
		t.Fatalf("agent got %d messages, want 1", len(msgs))
	}
	rc := msgs[0]
	m := rc.Message
	if m.ID != testActionID {
		t.Errorf("messageId = %q, want the action id %q", m.ID, testActionID)
	}
	if m.ContextID != testCorrelation || rc.ContextID != testCorrelation {
		t.Errorf("contextId = %q (task context %q), want %q", m.ContextID, rc.ContextID, testCorrelation)
	}
	if m.Role != sdk.MessageRoleUser {
		t.Errorf("role = %q", m.Role)
	}
	wantMeta := map[string]any{
		MetaActionID: testActionID, MetaAction: "reserve_stock",
		MetaAttempt: 2.0, MetaHops: 3.0, MetaPriority: "HIGH",
	}
	if !reflect.DeepEqual(m.Metadata, wantMeta) {
		t.Errorf("metadata = %v, want %v", m.Metadata, wantMeta)
	}
	if len(m.Parts) != 1 {
		t.Fatalf("got %d parts, want 1", len(m.Parts))
	}
	dp, ok := m.Parts[0].(sdk.DataPart)
	if !ok {
		t.Fatalf("part is %T, want a data part", m.Parts[0])
	}
	data := dp.Data
	for k, v := range map[string]any{
		"action": "reserve_stock", "message_id": testActionID, "correlation_id": testCorrelation,
		"sender_id": "choreo", "recipient_id": "stock", "priority": "HIGH", "hops": 3.0, "attempt": 2.0,
		"timestamp": "2026-01-02T03:04:06Z", "capabilities_required": []any{"inventory"},
	} {
		if !reflect.DeepEqual(data[k], v) {
			t.Errorf("data[%q] = %#v, want %#v", k, data[k], v)
		}
	}
	trig, _ := data["trigger_event"].(map[string]any)
	if trig["id"] != "ev-1" || trig["type"] != "order.placed" || trig["correlationid"] != testCorrelation {
		t.Errorf("trigger_event = %v", data["trigger_event"])
	}
	if d, _ := trig["data"].(map[string]any); d["order_id"] != "o-7" {
		t.Errorf("trigger_event.data = %v", trig["data"])
	}
	payload, _ := data["payload"].(map[string]any)
	if payload["pattern"] != "reserve" || !reflect.DeepEqual(payload["trigger_event"], data["trigger_event"]) {
		t.Errorf("payload = %v", payload)
	}
	cc, _ := data["choreography_context"].(map[string]any)
	if cc["pattern_id"] != "reserve" || cc["choreography"] != "shop" || cc["triggered_at"] != "2026-01-02T03:04:05Z" ||
		!reflect.DeepEqual(cc["trigger_event_ids"], []any{"ev-1"}) {
		t.Errorf("choreography_context = %v", cc)
	}
	if !reflect.DeepEqual(payload["choreography_context"], data["choreography_context"]) {
		t.Errorf("payload.choreography_context = %v, want %v", payload["choreography_context"], cc)
	}
}

func TestDeliverWithoutTrigger(t *testing.T) {
	a := newTestAgent(t, completeAtOnce(sdk.DataPart{Data: map[string]any{"ok": true}}), nil)
	tr := newTestTransport(t, Config{})
	d := testDelivery(a.endpoint)
	d.Trigger = nil
	d.Message.Payload.TriggerEvent = nil

	if _, err := deliver(t, tr, d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	data := a.messages()[0].Message.Parts[0].(sdk.DataPart).Data
	if _, ok := data["trigger_event"]; ok {
		t.Errorf("trigger_event present: %v", data["trigger_event"])
	}
	if p, _ := data["payload"].(map[string]any); p["trigger_event"] != nil {
		t.Errorf("payload.trigger_event present: %v", p["trigger_event"])
	}
}

func TestDeliverTriggerFromEvent(t *testing.T) {
	// A Delivery whose message lacks the trigger's JSON but has the event.
	a := newTestAgent(t, completeAtOnce(), nil)
	tr := newTestTransport(t, Config{})
	d := testDelivery(a.endpoint)
	d.Message.Payload.TriggerEvent = nil

	if _, err := deliver(t, tr, d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	data := a.messages()[0].Message.Parts[0].(sdk.DataPart).Data
	if trig, _ := data["trigger_event"].(map[string]any); trig["id"] != "ev-1" {
		t.Errorf("trigger_event = %v", data["trigger_event"])
	}
}

func TestDeliverMessageReply(t *testing.T) {
	a := newTestAgent(t, replyWith(
		sdk.TextPart{Text: "done"},
		sdk.DataPart{Data: map[string]any{"reserved": 2.0}},
	), nil)
	tr := newTestTransport(t, Config{})

	res, err := deliver(t, tr, testDelivery(a.endpoint))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	var got Completed
	oneEvent(t, res, "reserve_stock.completed", &got)
	if !reflect.DeepEqual(got.Artifacts, []map[string]any{{"reserved": 2.0}}) || !reflect.DeepEqual(got.Text, []string{"done"}) {
		t.Errorf("got %+v", got)
	}
	if got.MessageID == "" || got.TaskID != "" || got.ContextID != testCorrelation {
		t.Errorf("message_id %q task_id %q context_id %q", got.MessageID, got.TaskID, got.ContextID)
	}
}

func TestDeliverCompletedWithoutArtifacts(t *testing.T) {
	a := newTestAgent(t, completeAtOnce(), nil)
	tr := newTestTransport(t, Config{})
	res, err := deliver(t, tr, testDelivery(a.endpoint))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if got := string(res.Events[0].Data); !strings.Contains(got, `"artifacts":[]`) {
		t.Errorf("data = %s, want an empty artifacts array", got)
	}
}

func TestDeliverLongTask(t *testing.T) {
	a := newTestAgent(t, workUntilPolled(3, sdk.DataPart{Data: map[string]any{"shipped": true}}), nil)
	tr := newTestTransport(t, Config{})

	res, err := deliver(t, tr, testDelivery(a.endpoint))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	var got Completed
	oneEvent(t, res, "reserve_stock.completed", &got)
	if !reflect.DeepEqual(got.Artifacts, []map[string]any{{"shipped": true}}) {
		t.Errorf("artifacts = %v", got.Artifacts)
	}
	if n := a.gets.Load(); n < 4 {
		t.Errorf("agent served %d tasks/get, want at least 4 (3 while working, 1 to see it completed)", n)
	}
}

func TestDeliverLongTaskDefaultPolling(t *testing.T) {
	if testing.Short() {
		t.Skip("polls at the default interval")
	}
	a := newTestAgent(t, workUntilPolled(2), nil)
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	if _, err := deliver(t, tr, testDelivery(a.endpoint)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	// Polls at 200, 600 and 1400 ms: the third sees the task completed.
	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Errorf("took %s, want ≥ 1.4 s of polling at 200, 400, 800 ms", took)
	}
	if n := a.gets.Load(); n != 3 {
		t.Errorf("agent served %d tasks/get, want 3", n)
	}
}

func TestDeliverTaskNotCompleted(t *testing.T) {
	for _, tc := range []struct {
		state sdk.TaskState
		text  string
	}{
		{sdk.TaskStateFailed, "out of stock"},
		{sdk.TaskStateRejected, "not my job"},
		{sdk.TaskStateCanceled, ""},
		{sdk.TaskStateInputRequired, "which warehouse?"},
		{sdk.TaskStateAuthRequired, "log in first"},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			a := newTestAgent(t, endIn(tc.state, tc.text), nil)
			tr := newTestTransport(t, Config{})
			res, err := deliver(t, tr, testDelivery(a.endpoint))
			if err != nil {
				t.Fatalf("Deliver: %v (a task that ends is a delivered action)", err)
			}
			var got Failed
			oneEvent(t, res, "reserve_stock.failed", &got)
			if got.State != string(tc.state) || got.Message != tc.text || got.TaskID == "" || got.ContextID != testCorrelation {
				t.Errorf("got %+v, want state %q message %q", got, tc.state, tc.text)
			}
		})
	}
}

func TestDeliverExecutorError(t *testing.T) {
	// An agent that fails before it makes a task answers with a JSON-RPC
	// internal error: retryable.
	a := newTestAgent(t, func(context.Context, *testAgent, *a2asrv.RequestContext, eventqueue.Queue) error {
		return errors.New("model unavailable")
	}, nil)
	tr := newTestTransport(t, Config{})
	_, err := deliver(t, tr, testDelivery(a.endpoint))
	wantErr(t, err, CodeAgentError, false)
	if !errors.Is(err, sdk.ErrInternalError) {
		t.Errorf("err = %v, want one matching ErrInternalError", err)
	}
}

// wantErr checks err's code and whether it is permanent.
func wantErr(t *testing.T, err error, code string, permanent bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want code %q", code)
	}
	if got := Code(err); got != code {
		t.Errorf("code = %q, want %q (err: %v)", got, code, err)
	}
	if got := dispatch.IsPermanent(err); got != permanent {
		t.Errorf("permanent = %v, want %v (err: %v)", got, permanent, err)
	}
	if !strings.HasPrefix(err.Error(), "a2a: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestDeliverAgentDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String() + "/rpc"
	l.Close()

	tr := newTestTransport(t, Config{})
	_, err = deliver(t, tr, testDelivery(endpoint))
	wantErr(t, err, CodeUnreachable, false)
	if !strings.Contains(err.Error(), endpoint) {
		t.Errorf("error %q does not name the endpoint", err)
	}
}

func TestDeliverDeadline(t *testing.T) {
	t.Run("task never ends", func(t *testing.T) {
		a := newTestAgent(t, workForever, nil)
		tr := newTestTransport(t, Config{})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := tr.Deliver(ctx, testDelivery(a.endpoint))
		wantErr(t, err, CodeTimeout, false)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want one matching DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "working") {
			t.Errorf("error %q does not say the task was still working", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %s after a 300 ms deadline", took)
		}
		if a.gets.Load() == 0 {
			t.Error("the task was never polled")
		}
	})
	t.Run("agent never answers", func(t *testing.T) {
		endpoint := hangingServer(t)
		tr := newTestTransport(t, Config{})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := tr.Deliver(ctx, testDelivery(endpoint))
		wantErr(t, err, CodeTimeout, false)
	})
	t.Run("request timeout", func(t *testing.T) {
		endpoint := hangingServer(t)
		tr := newTestTransport(t, Config{RequestTimeout: 100 * time.Millisecond})
		start := time.Now()
		_, err := deliver(t, tr, testDelivery(endpoint))
		wantErr(t, err, CodeTimeout, false)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %s with a 100 ms request timeout", took)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		a := newTestAgent(t, workForever, nil)
		tr := newTestTransport(t, Config{})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-a.polled
			cancel()
		}()
		_, err := tr.Deliver(ctx, testDelivery(a.endpoint))
		cancel()
		wantErr(t, err, CodeCanceled, false)
	})
}

// hangingServer answers no request until the client gives up or the test
// ends.
func hangingServer(t *testing.T) string {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	return srv.URL
}

func TestDeliverBadResponses(t *testing.T) {
	huge := strings.Repeat("x", 4096)
	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		code      string
		permanent bool
		is        error
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		}, CodeBadResponse, false, nil},
		{"502", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}, CodeBadResponse, false, nil},
		{"404", func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, CodeBadResponse, false, nil},
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html><body>hello</body></html>"))
		}, CodeBadResponse, false, nil},
		{"empty body", func(w http.ResponseWriter, r *http.Request) {}, CodeBadResponse, false, nil},
		{"unknown result kind", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"jsonrpc":"2.0","id":"1","result":{"kind":"bogus"}}`))
		}, CodeBadResponse, false, nil},
		{"too large with length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "4100")
			w.Write([]byte(`{"a":"` + huge + `"}`))
		}, CodeBadResponse, false, ErrTooLarge},
		{"too large chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"jsonrpc":"2.0","id":"1","result":{"kind":"message","x":"`))
			w.(http.Flusher).Flush()
			w.Write([]byte(huge + `"}}`))
		}, CodeBadResponse, false, ErrTooLarge},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, CodeNetwork, false, nil},
		{"half a response", func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			writeHalf(buf)
			conn.Close()
		}, CodeBadResponse, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			tr := newTestTransport(t, Config{MaxResponseBytes: 1024})
			_, err := deliver(t, tr, testDelivery(srv.URL))
			wantErr(t, err, tc.code, tc.permanent)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want one matching %v", err, tc.is)
			}
		})
	}
}

func writeHalf(buf *bufio.ReadWriter) {
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":\"2.0\",")
	buf.Flush()
}

func TestDeliverJSONRPCErrors(t *testing.T) {
	for _, tc := range []struct {
		code      int
		wantCode  string
		permanent bool
		is        error
	}{
		{-32700, CodeRefused, true, sdk.ErrParseError},
		{-32600, CodeRefused, true, sdk.ErrInvalidRequest},
		{-32601, CodeRefused, true, sdk.ErrMethodNotFound},
		{-32602, CodeRefused, true, sdk.ErrInvalidParams},
		{-32004, CodeRefused, true, sdk.ErrUnsupportedOperation},
		{-32005, CodeRefused, true, sdk.ErrUnsupportedContentType},
		{-32603, CodeAgentError, false, sdk.ErrInternalError},
		{-32000, CodeAgentError, false, sdk.ErrServerError},
		{-32099, CodeAgentError, false, sdk.ErrInternalError}, // an unknown code
	} {
		t.Run(tc.is.Error(), func(t *testing.T) {
			endpoint := rpcServer(t, func(string, json.RawMessage) (any, int, string) {
				return nil, tc.code, "no"
			})
			tr := newTestTransport(t, Config{})
			_, err := deliver(t, tr, testDelivery(endpoint))
			wantErr(t, err, tc.wantCode, tc.permanent)
			if !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want one matching %v", err, tc.is)
			}
		})
	}
}

func TestDeliverPollErrors(t *testing.T) {
	t.Run("a few failed polls are ridden out", func(t *testing.T) {
		a := newTestAgent(t, workUntilPolled(3, sdk.DataPart{Data: map[string]any{"ok": true}}), nil)
		a.failGets.Store(2)
		tr := newTestTransport(t, Config{MaxPollErrors: 3})
		res, err := deliver(t, tr, testDelivery(a.endpoint))
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		var got Completed
		oneEvent(t, res, "reserve_stock.completed", &got)
	})
	t.Run("too many failed polls", func(t *testing.T) {
		a := newTestAgent(t, workForever, nil)
		a.failGets.Store(100)
		tr := newTestTransport(t, Config{MaxPollErrors: 2})
		_, err := deliver(t, tr, testDelivery(a.endpoint))
		wantErr(t, err, CodeAgentError, false)
		if n := a.gets.Load(); n != 2 {
			t.Errorf("agent served %d tasks/get, want 2", n)
		}
		// Not work left running for the next attempt to come back to:
		// the agent stopped answering, and another may do better.
		var ip *dispatch.InProgress
		if errors.As(err, &ip) {
			t.Errorf("err = %v, a dispatch.InProgress; want a plain error", err)
		}
	})
	t.Run("task not found", func(t *testing.T) {
		var mu sync.Mutex
		gets := 0
		endpoint := rpcServer(t, func(method string, _ json.RawMessage) (any, int, string) {
			if method == "message/send" {
				return workingTask("working"), 0, ""
			}
			mu.Lock()
			gets++
			mu.Unlock()
			return nil, -32001, "task not found"
		})
		tr := newTestTransport(t, Config{})
		_, err := deliver(t, tr, testDelivery(endpoint))
		wantErr(t, err, CodeAgentError, false)
		if !errors.Is(err, sdk.ErrTaskNotFound) {
			t.Errorf("err = %v, want one matching ErrTaskNotFound", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if gets != 1 {
			t.Errorf("%d tasks/get, want 1: a lost task does not come back", gets)
		}
	})
	t.Run("unknown state", func(t *testing.T) {
		endpoint := rpcServer(t, func(method string, _ json.RawMessage) (any, int, string) {
			if method == "message/send" {
				return workingTask("submitted"), 0, ""
			}
			return workingTask("dancing"), 0, ""
		})
		tr := newTestTransport(t, Config{})
		_, err := deliver(t, tr, testDelivery(endpoint))
		wantErr(t, err, CodeBadResponse, false)
		if !strings.Contains(err.Error(), "dancing") {
			t.Errorf("error %q does not name the state", err)
		}
	})
	t.Run("unknown state is polled", func(t *testing.T) {
		var mu sync.Mutex
		gets := 0
		endpoint := rpcServer(t, func(method string, _ json.RawMessage) (any, int, string) {
			if method == "message/send" {
				return workingTask("unknown"), 0, ""
			}
			mu.Lock()
			defer mu.Unlock()
			if gets++; gets < 2 {
				return workingTask("unknown"), 0, ""
			}
			return workingTask("completed"), 0, ""
		})
		tr := newTestTransport(t, Config{})
		res, err := deliver(t, tr, testDelivery(endpoint))
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		var got Completed
		oneEvent(t, res, "reserve_stock.completed", &got)
		if got.TaskID != "task-1" {
			t.Errorf("task_id = %q", got.TaskID)
		}
	})
}

func TestDeliverBadDelivery(t *testing.T) {
	tr := newTestTransport(t, Config{})
	ok := testDelivery("http://127.0.0.1:1/rpc")
	for _, tc := range []struct {
		name      string
		d         *dispatch.Delivery
		permanent bool
	}{
		{"nil", nil, true},
		{"no action id", func() *dispatch.Delivery {
			d := *ok
			d.Action = nil
			d.Message.MessageID = ""
			return &d
		}(), true},
		{"no action name", func() *dispatch.Delivery {
			d := *ok
			d.Action = nil
			d.Message.Action = ""
			return &d
		}(), true},
		{"trigger not JSON", func() *dispatch.Delivery {
			d := *ok
			d.Message.Payload.TriggerEvent = json.RawMessage(`{"id":`)
			return &d
		}(), true},
		{"no endpoint", func() *dispatch.Delivery {
			d := *ok
			d.Agent.Endpoint = ""
			return &d
		}(), false},
		{"endpoint not http", func() *dispatch.Delivery {
			d := *ok
			d.Agent.Endpoint = "ftp://example.com/agent"
			return &d
		}(), false},
		{"endpoint not a URL", func() *dispatch.Delivery {
			d := *ok
			d.Agent.Endpoint = "http://[::1"
			return &d
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tr.Deliver(t.Context(), tc.d)
			wantErr(t, err, CodeBadDelivery, tc.permanent)
		})
	}
}

func TestDeliverFallsBackToAction(t *testing.T) {
	// A Delivery with an empty Message still names the action by its id.
	a := newTestAgent(t, completeAtOnce(), nil)
	tr := newTestTransport(t, Config{})
	d := testDelivery(a.endpoint)
	d.Message = dispatch.Message{}
	res, err := deliver(t, tr, d)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.Events[0].Type != "reserve_stock.completed" {
		t.Errorf("type = %q", res.Events[0].Type)
	}
	m := a.messages()[0].Message
	wantMeta := map[string]any{
		MetaActionID: testActionID, MetaAction: "reserve_stock",
		MetaAttempt: 2.0, MetaHops: 3.0, MetaPriority: "HIGH",
	}
	if m.ID != testActionID || m.ContextID != testCorrelation || !reflect.DeepEqual(m.Metadata, wantMeta) {
		t.Errorf("messageId %q contextId %q metadata %v", m.ID, m.ContextID, m.Metadata)
	}
}

func TestClientCache(t *testing.T) {
	var agents []*testAgent
	for range 3 {
		agents = append(agents, newTestAgent(t, completeAtOnce(), nil))
	}
	tr := newTestTransport(t, Config{MaxClients: 2})

	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			_, err := deliver(t, tr, testDelivery(agents[i%3].endpoint))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Deliver: %v", err)
		}
	}
	tr.mu.Lock()
	n, m := tr.mu.lru.Len(), len(tr.mu.clients)
	tr.mu.Unlock()
	if n != 2 || m != 2 {
		t.Errorf("cache holds %d clients (%d in the map), want 2", n, m)
	}

	// The most recently used stays.
	if _, err := deliver(t, tr, testDelivery(agents[0].endpoint)); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	front := tr.mu.lru.Front().Value.(*entry).endpoint
	tr.mu.Unlock()
	if front != agents[0].endpoint {
		t.Errorf("most recent client is %s, want %s", front, agents[0].endpoint)
	}
}

func TestClose(t *testing.T) {
	a := newTestAgent(t, completeAtOnce(), &sdk.AgentCard{Name: "stock", Skills: []sdk.AgentSkill{{ID: "inventory"}}})
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deliver(t, tr, testDelivery(a.endpoint)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = tr.Deliver(t.Context(), testDelivery(a.endpoint))
	wantErr(t, err, CodeClosed, false)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
	_, err = tr.ResolveCard(t.Context(), a.base)
	if !errors.Is(err, ErrClosed) || Code(err) != CodeClosed {
		t.Errorf("ResolveCard after Close: %v", err)
	}
}

func TestOwnHTTPClient(t *testing.T) {
	a := newTestAgent(t, completeAtOnce(sdk.DataPart{Data: map[string]any{"ok": true}}), nil)
	hc := &http.Client{Timeout: 5 * time.Second}
	tr := newTestTransport(t, Config{HTTPClient: hc, MaxResponseBytes: 64})
	// The caller's client is not changed, but the limit applies.
	_, err := deliver(t, tr, testDelivery(a.endpoint))
	wantErr(t, err, CodeBadResponse, false)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	if hc.Transport != nil {
		t.Errorf("the caller's client was changed")
	}
	hc.CloseIdleConnections()
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"long poll interval", Config{PollInterval: 5 * time.Second}, true},
		{"negative timeout", Config{RequestTimeout: -1}, false},
		{"negative poll", Config{PollInterval: -1}, false},
		{"negative clients", Config{MaxClients: -1}, false},
		{"negative bytes", Config{MaxResponseBytes: -1}, false},
		{"negative card bytes", Config{MaxCardBytes: -1}, false},
		{"negative poll errors", Config{MaxPollErrors: -1}, false},
		{"negative idle", Config{MaxIdlePerHost: -1}, false},
		{"max below interval", Config{PollInterval: time.Second, MaxPollInterval: time.Millisecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("err = %v, want ErrInvalidConfig", err)
			}
			tr, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok %v", err, tc.ok)
			}
			if tr != nil {
				tr.Close()
			}
		})
	}
}

// TestRetryFollowsTheTaskAlreadyStarted: an attempt whose deadline passes
// while the agent's task is still working leaves the task running; the
// next attempt follows that task instead of sending the work again.
func TestRetryFollowsTheTaskAlreadyStarted(t *testing.T) {
	a := newTestAgent(t, workUntilPolled(60, sdk.DataPart{Data: map[string]any{"done": true}}), nil)
	tr := newTestTransport(t, Config{PollInterval: 5 * time.Millisecond, MaxPollInterval: 5 * time.Millisecond})
	d := testDelivery(a.endpoint)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	_, err := tr.Deliver(ctx, d)
	cancel()
	if err == nil {
		t.Fatal("the first attempt should have run out of time")
	}
	t.Logf("first attempt: %v", err)
	d.Attempt, d.Message.Attempt = 2, 2
	res, err := deliver(t, tr, d)
	if err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	var got Completed
	oneEvent(t, res, "reserve_stock.completed", &got)
	if n := len(a.messages()); n != 1 {
		t.Fatalf("the agent got %d messages; the retry must follow the running task, not start another", n)
	}
}

// TestTaskFollowedAfterRestart: an attempt that runs out of time with the
// task working returns a dispatch.InProgress naming the task, and a new
// Transport (as after a restart, remembering nothing) given that name in
// Delivery.Task follows the task instead of sending the work again.
func TestTaskFollowedAfterRestart(t *testing.T) {
	a := newTestAgent(t, workUntilPolled(60, sdk.DataPart{Data: map[string]any{"done": true}}), nil)
	cfg := Config{PollInterval: 5 * time.Millisecond, MaxPollInterval: 5 * time.Millisecond}
	d := testDelivery(a.endpoint)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	_, err := newTestTransport(t, cfg).Deliver(ctx, d)
	cancel()
	var ip *dispatch.InProgress
	if !errors.As(err, &ip) || ip.Task == "" {
		t.Fatalf("first attempt: %v; want a dispatch.InProgress naming the task", err)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeTimeout {
		t.Fatalf("first attempt: %v; want an *Error with code %s inside", err, CodeTimeout)
	}
	d.Attempt, d.Message.Attempt, d.Task = 2, 2, ip.Task
	res, err := deliver(t, newTestTransport(t, cfg), d)
	if err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	var got Completed
	oneEvent(t, res, "reserve_stock.completed", &got)
	if n := len(a.messages()); n != 1 || got.TaskID != ip.Task {
		t.Fatalf("the agent got %d messages, the result names task %q; want 1 and %q", n, got.TaskID, ip.Task)
	}
}

// TestCancel: work an attempt left running is canceled at the agent with
// tasks/cancel, and the next delivery of the action sends it anew rather
// than follow the canceled task.
func TestCancel(t *testing.T) {
	a := newTestAgent(t, workUntilCanceled, nil)
	tr := newTestTransport(t, Config{})
	d := testDelivery(a.endpoint)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := tr.Deliver(ctx, d)
	cancel()
	var ip *dispatch.InProgress
	if !errors.As(err, &ip) || ip.Task == "" {
		t.Fatalf("attempt: %v; want a dispatch.InProgress naming the task", err)
	}
	if err := tr.Cancel(t.Context(), d.Agent, d.Action.ID, ip.Task); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if n := a.cancels.Load(); n != 1 {
		t.Fatalf("the agent's executor was asked to cancel %d times, want 1", n)
	}
	c, err := tr.client(t.Context(), a.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.GetTask(t.Context(), &sdk.TaskQueryParams{ID: sdk.TaskID(ip.Task)})
	if err != nil {
		t.Fatalf("tasks/get: %v", err)
	}
	if task.Status.State != sdk.TaskStateCanceled {
		t.Fatalf("task state %q after Cancel, want %q", task.Status.State, sdk.TaskStateCanceled)
	}

	// Canceling again is no error, nor is canceling a task the agent does
	// not know: nothing is left to stop. A task that completed cannot be
	// canceled.
	if err := tr.Cancel(t.Context(), d.Agent, d.Action.ID, ip.Task); err != nil {
		t.Errorf("canceling a canceled task: %v", err)
	}
	done := newTestAgent(t, completeWith(sdk.DataPart{Data: map[string]any{"ok": true}}), nil)
	dd := testDelivery(done.endpoint)
	res, err := deliver(t, tr, dd)
	if err != nil {
		t.Fatal(err)
	}
	var got Completed
	oneEvent(t, res, "reserve_stock.completed", &got)
	err = tr.Cancel(t.Context(), dd.Agent, dd.Action.ID, got.TaskID)
	if !errors.Is(err, sdk.ErrTaskNotCancelable) {
		t.Errorf("canceling a completed task: %v, want one matching ErrTaskNotCancelable", err)
	}
	if err := tr.Cancel(t.Context(), d.Agent, d.Action.ID, "no-such-task"); err != nil {
		t.Errorf("canceling an unknown task: %v", err)
	}
	bad := d.Agent
	bad.Endpoint = "ftp://127.0.0.1/rpc"
	wantErr(t, tr.Cancel(t.Context(), bad, d.Action.ID, ip.Task), CodeBadDelivery, false)

	// The action's next delivery starts the work afresh.
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err = tr.Deliver(ctx, d)
	cancel()
	if !errors.As(err, &ip) {
		t.Fatalf("second attempt: %v; want a dispatch.InProgress", err)
	}
	if n := len(a.messages()); n != 2 {
		t.Fatalf("the agent got %d messages; after Cancel the action must be sent anew", n)
	}
}
