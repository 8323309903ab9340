package a2a

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// execFunc is what a test agent does with a message.
type execFunc func(ctx context.Context, a *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error

// testAgent is a real A2A agent: the SDK's request handler and JSON-RPC
// HTTP handler on a loopback server, running exec for every message.
type testAgent struct {
	base     string // the server's base URL
	endpoint string // its JSON-RPC URL
	exec     execFunc

	release chan struct{} // closed when the test ends: waiting executors return
	running sync.WaitGroup

	mu       sync.Mutex
	received []*a2asrv.RequestContext
	discard  bool // keep no received messages (benchmarks)

	gets     atomic.Int32  // tasks/get calls served
	polled   chan struct{} // one token per tasks/get, dropped when full
	failGets atomic.Int32  // tasks/get calls still to fail with an internal error
	cancels  atomic.Int32  // tasks/cancel calls that reached the executor
}

// newTestAgent starts an agent that serves card (if not nil, with its URL
// set to the agent's endpoint) and runs exec for every message.
func newTestAgent(t testing.TB, exec execFunc, card *sdk.AgentCard) *testAgent {
	t.Helper()
	a := &testAgent{exec: exec, release: make(chan struct{}), polled: make(chan struct{}, 64)}
	h := a2asrv.NewHandler(a,
		a2asrv.WithLogger(slog.New(slog.DiscardHandler)),
		a2asrv.WithCallInterceptor(a))
	mux := http.NewServeMux()
	mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(h))
	srv := httptest.NewServer(mux)
	a.base = srv.URL
	a.endpoint = srv.URL + "/rpc"
	if card != nil {
		c := *card
		if c.URL == "" {
			c.URL = a.endpoint
		}
		mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&c))
	}
	t.Cleanup(func() {
		close(a.release)
		srv.Close()
		a.running.Wait()
	})
	return a
}

// Execute implements a2asrv.AgentExecutor.
func (a *testAgent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	a.running.Add(1)
	defer a.running.Done()
	a.mu.Lock()
	if !a.discard {
		a.received = append(a.received, rc)
	}
	a.mu.Unlock()
	return a.exec(ctx, a, rc, q)
}

// Cancel implements a2asrv.AgentExecutor.
func (a *testAgent) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	a.cancels.Add(1)
	ev := sdk.NewStatusUpdateEvent(rc, sdk.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// Before implements a2asrv.CallInterceptor: it counts tasks/get calls and
// fails the ones failGets asks for.
func (a *testAgent) Before(ctx context.Context, cc *a2asrv.CallContext, _ *a2asrv.Request) (context.Context, error) {
	if cc.Method() != "OnGetTask" {
		return ctx, nil
	}
	a.gets.Add(1)
	select {
	case a.polled <- struct{}{}:
	default:
	}
	for {
		n := a.failGets.Load()
		if n <= 0 {
			return ctx, nil
		}
		if a.failGets.CompareAndSwap(n, n-1) {
			return ctx, sdk.ErrInternalError
		}
	}
}

// After implements a2asrv.CallInterceptor.
func (a *testAgent) After(context.Context, *a2asrv.CallContext, *a2asrv.Response) error { return nil }

func (a *testAgent) messages() []*a2asrv.RequestContext {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*a2asrv.RequestContext(nil), a.received...)
}

// Executors.

// completeWith writes working, an artifact with parts, then completed.
func completeWith(parts ...sdk.Part) execFunc {
	return func(ctx context.Context, _ *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
		if err := q.Write(ctx, sdk.NewStatusUpdateEvent(rc, sdk.TaskStateWorking, nil)); err != nil {
			return err
		}
		if err := q.Write(ctx, sdk.NewArtifactEvent(rc, parts...)); err != nil {
			return err
		}
		done := sdk.NewStatusUpdateEvent(rc, sdk.TaskStateCompleted, nil)
		done.Final = true
		return q.Write(ctx, done)
	}
}

// completeAtOnce writes one task event, already completed, with parts.
func completeAtOnce(parts ...sdk.Part) execFunc {
	return func(ctx context.Context, _ *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
		return q.Write(ctx, &sdk.Task{
			ID:        rc.TaskID,
			ContextID: rc.ContextID,
			Status:    sdk.TaskStatus{State: sdk.TaskStateCompleted},
			Artifacts: []*sdk.Artifact{{ID: "result", Parts: parts}},
		})
	}
}

// replyWith answers with a message instead of a task.
func replyWith(parts ...sdk.Part) execFunc {
	return func(ctx context.Context, _ *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
		m := sdk.NewMessage(sdk.MessageRoleAgent, parts...)
		m.ContextID = rc.ContextID
		return q.Write(ctx, m)
	}
}

// endIn writes working, then a final status state with text.
func endIn(state sdk.TaskState, text string) execFunc {
	return func(ctx context.Context, _ *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
		if err := q.Write(ctx, sdk.NewStatusUpdateEvent(rc, sdk.TaskStateWorking, nil)); err != nil {
			return err
		}
		var msg *sdk.Message
		if text != "" {
			msg = sdk.NewMessageForTask(sdk.MessageRoleAgent, rc, sdk.TextPart{Text: text})
		}
		ev := sdk.NewStatusUpdateEvent(rc, state, msg)
		ev.Final = true
		return q.Write(ctx, ev)
	}
}

// workUntilPolled stays working until the agent has served polls
// tasks/get calls, then completes with parts.
func workUntilPolled(polls int, parts ...sdk.Part) execFunc {
	return func(ctx context.Context, a *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
		if err := q.Write(ctx, sdk.NewStatusUpdateEvent(rc, sdk.TaskStateWorking, nil)); err != nil {
			return err
		}
		for a.gets.Load() < int32(polls) {
			select {
			case <-a.polled:
			case <-a.release:
				return abandon(ctx, rc, q)
			}
		}
		return completeWith(parts...)(ctx, a, rc, q)
	}
}

// workForever stays working until the test ends.
func workForever(ctx context.Context, a *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	if err := q.Write(ctx, sdk.NewStatusUpdateEvent(rc, sdk.TaskStateWorking, nil)); err != nil {
		return err
	}
	<-a.release
	return abandon(ctx, rc, q)
}

// workUntilCanceled is workForever for an executor that stops when the
// SDK ends its context, as it does once the task is canceled.
func workUntilCanceled(ctx context.Context, a *testAgent, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	if err := q.Write(ctx, sdk.NewStatusUpdateEvent(rc, sdk.TaskStateWorking, nil)); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-a.release:
		return abandon(ctx, rc, q)
	}
}

// abandon ends a task when the test is over: the SDK keeps an execution
// (and its goroutines) until the executor writes a final event.
func abandon(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := sdk.NewStatusUpdateEvent(rc, sdk.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// Deliveries.

const (
	testActionID    = "01924f8e-7c1a-8b2d-9e3f-4a5b6c7d8e9f"
	testCorrelation = "order-7"
)

func testTrigger() *event.Event {
	return &event.Event{
		SpecVersion:   event.SpecVersion,
		ID:            "ev-1",
		Source:        "shop",
		Type:          "order.placed",
		Time:          time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data:          json.RawMessage(`{"order_id":"o-7","total":42}`),
		CorrelationID: testCorrelation,
		Hops:          2,
	}
}

// testDelivery is the second attempt of an action for the agent at
// endpoint, built as the dispatcher builds it.
func testDelivery(endpoint string) *dispatch.Delivery {
	trig := testTrigger()
	a := &engine.Action{
		ID:               testActionID,
		Action:           "reserve_stock",
		TargetCapability: "inventory",
		Priority:         9,
		Choreography:     "shop",
		RuleID:           "reserve",
		RuleKind:         "pattern",
		CorrelationID:    testCorrelation,
		TriggerEventIDs:  []string{trig.ID},
		Time:             trig.Time,
		Hops:             2,
	}
	return &dispatch.Delivery{
		Action:  a,
		Trigger: trig,
		Agent:   agent.Profile{ID: "stock", Endpoint: endpoint, Protocol: agent.ProtocolA2A, Capabilities: []string{"inventory"}},
		Attempt: 2,
		Message: dispatch.Message{
			MessageID:   a.ID,
			SenderID:    "choreo",
			RecipientID: "stock",
			Action:      a.Action,
			Payload: dispatch.Payload{
				TriggerEvent: trig.AppendJSON(nil),
				Pattern:      a.RuleID,
				ChoreographyContext: dispatch.ChoreographyContext{
					Choreography:    a.Choreography,
					PatternID:       a.RuleID,
					RuleKind:        a.RuleKind,
					TriggeredAt:     a.Time,
					TriggerEventIDs: a.TriggerEventIDs,
				},
			},
			CapabilitiesRequired: []string{"inventory"},
			Priority:             dispatch.PriorityHigh,
			CorrelationID:        testCorrelation,
			Timestamp:            time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
			Hops:                 3,
			Attempt:              2,
		},
	}
}

// newTestTransport returns a Transport with fast polling unless cfg says
// otherwise, closed when the test ends.
func newTestTransport(t testing.TB, cfg Config) *Transport {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.MaxPollInterval == 0 {
		cfg.MaxPollInterval = 20 * time.Millisecond
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// rpcServer is a plain JSON-RPC server that answers each call with what
// answer returns: a result, or an error code and message.
func rpcServer(t testing.TB, answer func(method string, params json.RawMessage) (result any, code int, msg string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     any             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		res, code, msg := answer(req.Method, req.Params)
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if code != 0 {
			resp["error"] = map[string]any{"code": code, "message": msg}
		} else {
			resp["result"] = res
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// workingTask is the JSON of a task that has not ended.
func workingTask(state string) map[string]any {
	return map[string]any{
		"kind":      "task",
		"id":        "task-1",
		"contextId": testCorrelation,
		"status":    map[string]any{"state": state},
	}
}
