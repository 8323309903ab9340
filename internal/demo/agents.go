package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/event"
)

// job is one action as a simulated agent sees it, whatever the protocol
// it came by.
type job struct {
	actionID    string
	action      string
	correlation string
	attempt     int
	trigger     *event.Event // nil when the delivery did not carry it
	order       *Order       // the planned order, or a plain one for orders the plan does not know
}

// triggerData decodes the trigger event's data, or returns an empty map.
func (j *job) triggerData() map[string]any {
	m := map[string]any{}
	if j.trigger != nil && len(j.trigger.Data) > 0 {
		_ = json.Unmarshal(j.trigger.Data, &m) // a trigger that is not an object reads as empty
	}
	return m
}

// artifact is what an A2A agent answers: the data part of its result and
// a sentence for people.
type artifact struct {
	data map[string]any
	text string
}

// simAgent is one simulated agent: its profile, its behaviour, its HTTP
// server and its counters.
type simAgent struct {
	id          string // the id it registers with (webhook agents) or its label (A2A agents)
	name        string
	description string
	caps        []string
	protocol    string // agent.ProtocolWebhook or agent.ProtocolA2A

	// Exactly one of these is set, by protocol.
	webhook func(ctx context.Context, j *job) ([]*event.Event, error)
	a2a     func(ctx context.Context, j *job) (artifact, error)

	srv  *http.Server
	ln   *onceListener
	base string // http://127.0.0.1:port

	// fresh holds the connections that have not carried a request yet.
	// Shutdown waits up to five seconds for those, so stop closes them.
	mu struct {
		sync.Mutex
		fresh map[net.Conn]struct{}
	}

	// regID is the id the registry knows the agent by: id for a webhook
	// agent, the one the registry derived from the card for an A2A agent.
	regID atomic.Pointer[string]

	received atomic.Int64 // requests that reached the agent's behaviour, retries included
	inflight atomic.Int64
}

// registeredID returns the id the registry gave the agent, or "" before
// it registered.
func (a *simAgent) registeredID() string {
	if p := a.regID.Load(); p != nil {
		return *p
	}
	return ""
}

// world is what every simulated agent shares: the plan and the demo's
// pace. It is read-only once the agents start, except receipts.
type world struct {
	plan     *Plan
	workTime time.Duration
	receipts *receipts
}

// order returns the planned order with id, or a plain order for one the
// plan does not know (published by hand while the demo keeps running).
func (w *world) order(id string) *Order {
	if o, ok := w.plan.Order(id); ok {
		return o
	}
	return &Order{ID: id, Kind: KindNormal, Rating: 5}
}

// work waits for the simulated work time of an action: between half and
// one and a half times the configured work time, drawn from the action id
// so that the same action always takes as long.
func (w *world) work(ctx context.Context, actionID string) error {
	if w.workTime <= 0 {
		return ctx.Err()
	}
	h := fnv.New64a()
	h.Write([]byte(actionID))
	frac := float64(h.Sum64()%1000) / 1000
	d := time.Duration(float64(w.workTime) * (0.5 + frac))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errGateway is the payment gateway's simulated outage.
var errGateway = errors.New("payment gateway timed out")

// newAgents returns the simulated agents of the shop. Their capabilities
// are those examples/ecommerce.yaml names; fraud review and product
// reviews speak A2A, the others take webhooks.
func newAgents(w *world) []*simAgent {
	return []*simAgent{
		{
			id: "inventory", name: "Inventory", protocol: agent.ProtocolWebhook,
			description: "Checks and reserves stock at the warehouse.",
			caps:        []string{"inventory_management"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				o := j.order
				switch j.action {
				case "check_inventory":
					if o.Shortage > 0 {
						sku := "unknown"
						if len(o.Lines) > 0 {
							sku = o.Lines[0].SKU
						}
						return one("inventory_shortage", map[string]any{
							"order_id": o.ID, "items_available": false, "sku": sku, "shortage_quantity": o.Shortage,
						}), nil
					}
					items := o.Items()
					if f, ok := j.triggerData()["items"].(float64); items == 0 && ok && f >= 0 {
						items = int(f) // an order the plan does not know: take its word
					}
					return one("inventory_confirmed", map[string]any{
						"order_id": o.ID, "items_available": true, "items": items, "warehouse": "DUB-1",
					}), nil
				}
				return nil, unknownAction("inventory", j.action)
			},
		},
		{
			id: "payments", name: "Payments", protocol: agent.ProtocolWebhook,
			description: "Charges the customer's card; its gateway fails now and then.",
			caps:        []string{"payment_processing"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				o := j.order
				switch j.action {
				case "process_payment":
					if o.GatewayHiccup && j.attempt == 1 {
						return nil, errGateway // a 500: the dispatcher tries again
					}
					return pay(o, 0), nil
				case "retry_payment":
					n := 0
					if f, ok := j.triggerData()["retry_count"].(float64); ok && f >= 0 {
						n = int(f)
					}
					return pay(o, n+1), nil
				}
				return nil, unknownAction("payments", j.action)
			},
		},
		{
			id: "suppliers", name: "Suppliers", protocol: agent.ProtocolWebhook,
			description: "Orders missing stock from suppliers and confirms it once restocked.",
			caps:        []string{"supplier_management"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				switch j.action {
				case "notify_suppliers":
					q := 1
					if f, ok := j.triggerData()["shortage_quantity"].(float64); ok && f > 0 {
						q = int(f)
					}
					return one("inventory_confirmed", map[string]any{
						"order_id": j.order.ID, "items_available": true, "restocked": true,
						"restocked_quantity": q, "supplier": "Northwind Supply",
					}), nil
				}
				return nil, unknownAction("suppliers", j.action)
			},
		},
		{
			id: "fulfillment", name: "Fulfillment", protocol: agent.ProtocolWebhook,
			description: "Picks and packs paid orders.",
			caps:        []string{"order_fulfillment"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				switch j.action {
				case "initiate_fulfillment":
					return one("fulfillment_complete", map[string]any{
						"order_id": j.order.ID, "items_packed": true, "packages": 1 + j.order.Items()/3, "warehouse": "DUB-1",
					}), nil
				}
				return nil, unknownAction("fulfillment", j.action)
			},
		},
		{
			id: "shipping", name: "Shipping", protocol: agent.ProtocolWebhook,
			description: "Books parcels with the carrier and reports their delivery.",
			caps:        []string{"shipping_management"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				switch j.action {
				case "schedule_shipping":
					return one("shipping_complete", map[string]any{
						"order_id": j.order.ID, "carrier": "Parcelo", "tracking_number": trackingNumber(j.order.ID),
					}), nil
				case "expedite_shipping":
					return one("shipping_expedited", map[string]any{"order_id": j.order.ID, "service": "express"}), nil
				}
				return nil, unknownAction("shipping", j.action)
			},
		},
		{
			id: "notifications", name: "Notifications", protocol: agent.ProtocolWebhook,
			description: "Tells customers where their parcel is.",
			caps:        []string{"customer_communication"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				switch j.action {
				case "send_tracking_notification":
					tn, _ := j.triggerData()["tracking_number"].(string)
					return one("customer_notified", map[string]any{
						"order_id": j.order.ID, "channel": "email", "tracking_number": tn,
					}), nil
				}
				return nil, unknownAction("notifications", j.action)
			},
		},
		{
			id: "orders", name: "Order desk", protocol: agent.ProtocolWebhook,
			description: "Closes, cancels and escalates orders, and takes returns.",
			caps:        []string{"order_management", "returns_management"},
			webhook: func(_ context.Context, j *job) ([]*event.Event, error) {
				id := j.order.ID
				switch j.action {
				case "close_order":
					return one("order_closed", map[string]any{"order_id": id, "status": "closed"}), nil
				case "cancel_order":
					return one("order_cancelled", map[string]any{
						"order_id": id, "reason": fmt.Sprintf("payment failed %d times", maxPaymentRetries+1),
					}), nil
				case "escalate_payment_timeout":
					return one("payment_escalated", map[string]any{"order_id": id, "team": "payments-ops"}), nil
				case "process_return":
					return one("return_processed", map[string]any{"order_id": id, "refund": "issued"}), nil
				}
				return nil, unknownAction("orders", j.action)
			},
		},
		{
			id: "fraud-review", name: "Fraud review", protocol: agent.ProtocolA2A,
			description: "Reviews high-value orders and flags cards that keep failing.",
			caps:        []string{"fraud_detection"},
			a2a: func(_ context.Context, j *job) (artifact, error) {
				o := j.order
				switch j.action {
				case "request_manual_review":
					score := float64(int(riskScore(o.ID)*100)) / 100
					return artifact{
						data: map[string]any{"order_id": o.ID, "decision": "approved", "risk_score": score},
						text: fmt.Sprintf("approved, risk score %.2f", score),
					}, nil
				case "flag_payment_fraud":
					return artifact{
						data: map[string]any{"order_id": o.ID, "flagged": true, "card_blocked": true},
						text: "card flagged and blocked after repeated failures",
					}, nil
				}
				return artifact{}, unknownAction("fraud-review", j.action)
			},
		},
		{
			id: "reviews", name: "Product reviews", protocol: agent.ProtocolA2A,
			description: "Asks customers for a review of what they bought.",
			caps:        []string{"customer_engagement"},
			a2a: func(_ context.Context, j *job) (artifact, error) {
				switch j.action {
				case "request_product_review":
					r := min(max(j.order.Rating, 1), 5)
					comment := [...]string{"", "disappointing", "could be better", "does the job", "very good", "excellent, would buy again"}[r]
					return artifact{
						data: map[string]any{"order_id": j.order.ID, "rating": r, "comment": comment},
						text: fmt.Sprintf("%d/5 stars: %s", r, comment),
					}, nil
				}
				return artifact{}, unknownAction("reviews", j.action)
			},
		},
	}
}

// pay is the payment agent's answer to the attempt-th payment of o (0 for
// the first): a failure while the card still has failures to give, else
// a success.
func pay(o *Order, attempt int) []*event.Event {
	if attempt < o.PaymentFailures {
		return one("payment_failed", map[string]any{
			"order_id": o.ID, "retry_count": attempt, "reason": "card declined", "amount": o.Value,
		})
	}
	return one("payment_successful", map[string]any{
		"order_id": o.ID, "payment_status": "confirmed", "amount": o.Value,
		"transaction_id": fmt.Sprintf("txn-%s-%d", o.ID, attempt),
	})
}

// unknownAction refuses an action the agent does not perform, for good:
// the dispatcher dead-letters it.
func unknownAction(agentID, action string) error {
	return dispatch.Permanent(fmt.Errorf("agent %s does not perform action %q", agentID, action))
}

// one returns a single event of type typ with data, leaving id, source,
// correlation, causation and hops for the dispatcher to fill.
func one(typ string, data map[string]any) []*event.Event {
	b, err := json.Marshal(data)
	if err != nil { // maps of strings, numbers and booleans always encode
		b = []byte("{}")
	}
	return []*event.Event{{SpecVersion: event.SpecVersion, Type: typ, DataContentType: "application/json", Data: b}}
}

func trackingNumber(orderID string) string {
	h := fnv.New32a()
	h.Write([]byte(orderID))
	return fmt.Sprintf("PX%010d", h.Sum32())
}

func riskScore(orderID string) float64 {
	h := fnv.New32a()
	h.Write([]byte("risk:" + orderID))
	return float64(h.Sum32()%300) / 1000 // 0.00 to 0.30: low enough to approve
}

// start listens on a random loopback port and serves the agent until
// stop. wg tracks the serving goroutine.
func (a *simAgent) start(w *world, secret []byte, wg *sync.WaitGroup) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("agent %s: listening: %w", a.id, err)
	}
	ln := &onceListener{Listener: l}
	a.ln = ln
	a.base = "http://" + ln.Addr().String()
	a.mu.fresh = make(map[net.Conn]struct{})
	mux := http.NewServeMux()
	switch a.protocol {
	case agent.ProtocolA2A:
		h := a2asrv.NewHandler(&executor{agent: a, world: w}, a2asrv.WithLogger(slog.New(slog.DiscardHandler)))
		mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(h))
		mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(a.card()))
	default:
		mux.Handle("/actions", webhook.Handler(webhook.HandlerConfig{Secret: secret, Dedup: true},
			func(ctx context.Context, m *dispatch.Message) ([]*event.Event, error) {
				j := jobFromMessage(m, w)
				if err := a.begin(ctx, w, j); err != nil {
					return nil, err
				}
				defer a.inflight.Add(-1)
				return a.webhook(ctx, j)
			}))
	}
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnState: a.connState}
	wg.Go(func() { _ = a.srv.Serve(ln) }) // returns http.ErrServerClosed after Shutdown
	return nil
}

func (a *simAgent) connState(c net.Conn, s http.ConnState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s == http.StateNew {
		a.mu.fresh[c] = struct{}{}
	} else {
		delete(a.mu.fresh, c)
	}
}

// stop stops the agent's server: it stops accepting, closes the
// connections that never carried a request, and lets requests in progress
// finish until ctx ends.
func (a *simAgent) stop(ctx context.Context) {
	if a.srv == nil {
		if a.ln != nil {
			a.ln.Close()
		}
		return
	}
	a.ln.Close()
	a.mu.Lock()
	for c := range a.mu.fresh {
		c.Close()
	}
	a.mu.Unlock()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
}

// onceListener is a listener whose Close may be called more than once:
// stop closes it before the server's Shutdown does.
type onceListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// begin counts a request, notes its receipt for the latency figures and
// waits for the simulated work. On success the caller must decrement
// inflight.
func (a *simAgent) begin(ctx context.Context, w *world, j *job) error {
	a.received.Add(1)
	if j.attempt <= 1 && j.trigger != nil {
		w.receipts.add(j.trigger.ID, time.Now())
	}
	a.inflight.Add(1)
	if err := w.work(ctx, j.actionID); err != nil {
		a.inflight.Add(-1)
		return err
	}
	return nil
}

// profile is the registration of a webhook agent.
func (a *simAgent) profile() agent.Profile {
	return agent.Profile{
		ID: a.id, Name: a.name, Description: a.description, Capabilities: a.caps,
		Endpoint: a.base + "/actions", Protocol: agent.ProtocolWebhook,
	}
}

// card is the agent card of an A2A agent: one skill per capability.
func (a *simAgent) card() *sdk.AgentCard {
	skills := make([]sdk.AgentSkill, len(a.caps))
	for i, c := range a.caps {
		skills[i] = sdk.AgentSkill{ID: c, Name: c, Description: a.description, Tags: []string{"demo"}}
	}
	return &sdk.AgentCard{
		Name:               a.name,
		Description:        a.description,
		URL:                a.base + "/rpc",
		PreferredTransport: sdk.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            "1.0.0",
		DefaultInputModes:  []string{"application/json"},
		DefaultOutputModes: []string{"application/json", "text/plain"},
		Skills:             skills,
	}
}

// load is the agent's load as it reports it in heartbeats: its requests in
// progress over the dispatcher's default per-agent bound.
func (a *simAgent) load() float64 {
	return min(float64(a.inflight.Load())/float64(dispatch.DefaultMaxPerAgent), 1)
}

// jobFromMessage reads a webhook delivery.
func jobFromMessage(m *dispatch.Message, w *world) *job {
	j := &job{actionID: m.MessageID, action: m.Action, correlation: m.CorrelationID, attempt: m.Attempt}
	if len(m.Payload.TriggerEvent) > 0 {
		var e event.Event
		if json.Unmarshal(m.Payload.TriggerEvent, &e) == nil {
			j.trigger = &e
		}
	}
	j.order = w.order(j.correlation)
	return j
}

// executor runs an A2A agent's behaviour for the SDK's request handler.
type executor struct {
	agent *simAgent
	world *world
}

var _ a2asrv.AgentExecutor = (*executor)(nil)

// Execute implements a2asrv.AgentExecutor: it reads the action from the
// message's data part, does the work and completes the task with one
// artifact, or fails it.
func (x *executor) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	j, err := jobFromA2A(rc.Message, x.world)
	if err != nil {
		return q.Write(ctx, failedStatus(rc, sdk.TaskStateRejected, err.Error()))
	}
	if err := x.agent.begin(ctx, x.world, j); err != nil {
		return q.Write(ctx, failedStatus(rc, sdk.TaskStateCanceled, err.Error()))
	}
	defer x.agent.inflight.Add(-1)
	res, err := x.agent.a2a(ctx, j)
	if err != nil {
		return q.Write(ctx, failedStatus(rc, sdk.TaskStateRejected, err.Error()))
	}
	parts := sdk.ContentParts{sdk.DataPart{Data: res.data}}
	if res.text != "" {
		parts = append(parts, sdk.TextPart{Text: res.text})
	}
	return q.Write(ctx, &sdk.Task{
		ID:        rc.TaskID,
		ContextID: rc.ContextID,
		Status:    sdk.TaskStatus{State: sdk.TaskStateCompleted},
		Artifacts: []*sdk.Artifact{{ID: "result", Name: j.action, Parts: parts}},
	})
}

// Cancel implements a2asrv.AgentExecutor. Tasks complete at once, so
// there is nothing to stop: the task is marked canceled.
func (x *executor) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	return q.Write(ctx, failedStatus(rc, sdk.TaskStateCanceled, "canceled"))
}

func failedStatus(rc *a2asrv.RequestContext, state sdk.TaskState, text string) *sdk.TaskStatusUpdateEvent {
	ev := sdk.NewStatusUpdateEvent(rc, state, sdk.NewMessageForTask(sdk.MessageRoleAgent, rc, sdk.TextPart{Text: text}))
	ev.Final = true
	return ev
}

// jobFromA2A reads the action from the data part the A2A transport sends.
func jobFromA2A(m *sdk.Message, w *world) (*job, error) {
	if m == nil {
		return nil, errors.New("no message")
	}
	var data map[string]any
	for _, p := range m.Parts {
		switch p := p.(type) {
		case sdk.DataPart:
			data = p.Data
		case *sdk.DataPart:
			if p != nil {
				data = p.Data
			}
		}
		if data != nil {
			break
		}
	}
	action, _ := data["action"].(string)
	if action == "" {
		return nil, errors.New("the message has no data part naming an action")
	}
	j := &job{action: action, actionID: m.ID, attempt: 1}
	j.correlation, _ = data["correlation_id"].(string)
	if j.correlation == "" {
		j.correlation = m.ContextID
	}
	if f, ok := data["attempt"].(float64); ok {
		j.attempt = int(f)
	}
	if t, ok := data["trigger_event"].(map[string]any); ok {
		if b, err := json.Marshal(t); err == nil {
			var e event.Event
			if json.Unmarshal(b, &e) == nil {
				j.trigger = &e
			}
		}
	}
	j.order = w.order(j.correlation)
	return j, nil
}

// receipts records when agents received the first attempt of an action,
// by trigger event id, for the event-to-agent latency. It keeps at most
// maxReceipts.
type receipts struct {
	mu   sync.Mutex
	list []receipt
}

type receipt struct {
	trigger string
	at      time.Time
}

const maxReceipts = 1 << 18

func (r *receipts) add(trigger string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) < maxReceipts {
		r.list = append(r.list, receipt{trigger, at})
	}
}

func (r *receipts) all() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.list...)
}
