package demo

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// feed gives the tracker the records of a log, in order.
type feed struct {
	t   *testing.T
	tr  *tracker
	at  time.Time
	pos uint64
}

func (f *feed) add(stream string, e *event.Event) {
	f.t.Helper()
	if e.SpecVersion == "" {
		e.SpecVersion = event.SpecVersion
	}
	if e.Source == "" {
		e.Source = "test"
	}
	f.at = f.at.Add(time.Millisecond)
	f.tr.handle(&store.Record{Event: e, Stream: stream, GlobalPosition: f.pos, Recorded: f.at})
	f.pos++
}

func (f *feed) user(id, corr, typ, data string) {
	f.add(corr, &event.Event{ID: id, Type: typ, CorrelationID: corr, Source: "agents/inventory", Data: json.RawMessage(data)})
}

func (f *feed) decide(id, corr, action, trigger string) {
	a := &engine.Action{ID: id, Action: action, CorrelationID: corr, RuleID: "r-" + action, TriggerEventIDs: []string{trigger}, Time: f.at}
	f.add(live.ActionsStream, live.ActionEvent(a))
}

func (f *feed) delivered(corr string, ds ...dispatch.Delivered) {
	b, _ := json.Marshal(dispatch.Deliveries{Deliveries: ds})
	f.add(live.ActionsStream, &event.Event{ID: "d" + ds[0].ActionID, Type: dispatch.DeliveredType, CorrelationID: corr, Data: b})
}

func ended(tr *tracker) bool {
	select {
	case <-tr.allEnded:
		return true
	default:
		return false
	}
}

// TestTracker follows a hand-written log of two orders: one delivered,
// one cancelled, with deliveries of both in one dispatcher record.
func TestTracker(t *testing.T) {
	plan := NewPlan(3, 2)
	o1, o2 := plan.Orders[0].ID, plan.Orders[1].ID
	var out bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker(plan, &printer{w: &out}, start, func(id string) string { return "agent:" + id })
	f := &feed{t: t, tr: tr, at: start}

	p, _ := json.Marshal(agent.Profile{ID: "inventory", Capabilities: []string{"inventory_management"}, Endpoint: "http://x", Protocol: "webhook"})
	f.add(agent.StreamAgents, &event.Event{ID: "reg", Type: agent.EventRegistered, Data: p})
	f.user("e1", o1, "order_received", `{"order_value":12.5,"items":1,"customer_id":"ada"}`)
	f.user("e2", o2, "order_received", `{"order_value":1500,"items":2,"customer_id":"alan"}`)
	f.decide("a1", o1, "close_order", "e1")
	f.decide("a2", o1, "request_product_review", "e1")
	f.decide("a3", o2, "cancel_order", "e2")
	f.user("e3", o1, "order_closed", `{}`)
	f.user("e4", o1, "request_product_review.completed", `{"artifacts":[{"rating":5}],"text":["5/5 stars"]}`)
	f.user("e5", o2, "order_cancelled", `{"reason":"payment failed 4 times"}`)
	if ended(tr) {
		t.Fatal("ended with actions pending")
	}
	// One record, deliveries of both orders, under some other correlation.
	f.delivered("batch",
		dispatch.Delivered{ActionID: "a1", Action: "close_order", RuleID: "r1", Agent: "orders", Attempts: 1, DurationMS: 2},
		dispatch.Delivered{ActionID: "a3", Action: "cancel_order", RuleID: "r3", Agent: "orders", Attempts: 2, DurationMS: 3})
	if ended(tr) {
		t.Fatal("ended with the review's delivery pending")
	}
	orders, last := tr.orders()
	if orders[1].Outcome != OutcomeCancelled || orders[0].Outcome != "" || !last.IsZero() {
		t.Fatalf("orders %+v, last %v; want the second cancelled, the first going on", orders, last)
	}
	f.delivered(o1, dispatch.Delivered{ActionID: "a2", Action: "request_product_review", RuleID: "r2", Agent: "http://a2a", Attempts: 1})
	if !ended(tr) {
		t.Fatal("not ended once every action was delivered")
	}
	orders, last = tr.orders()
	if orders[0].Outcome != OutcomeDelivered || orders[0].Events != 3 || orders[0].Last != "request_product_review.completed" || last != f.at {
		t.Errorf("orders %+v, last %v", orders, last)
	}
	decide, _ := tr.latencies(nil)
	if len(decide) != 3 {
		t.Errorf("%d decision latencies, want 3", len(decide))
	}

	text := out.String()
	for _, want := range []string{
		"agent registered", "inventory_management · webhook", "agent:inventory",
		"$12.50 · 1 item · ada", "$1,500.00 · 2 items · alan · high value",
		o2 + "  ✓ cancel_order", "rule r3 · 3.0 ms · attempt 2",
		o1 + "  ✓ close_order", "A2A · 5/5 stars", "cancelled: payment failed 4 times",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "batch") || strings.Contains(text, "close_order  ") && strings.Contains(text, "choreo.action") {
		t.Errorf("output shows a record's own correlation or a decision:\n%s", text)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		typ, data, want string
	}{
		{"order_received", `{"order_value":1234567.891,"items":3,"customer_id":"ada"}`, "$1,234,567.89 · 3 items · ada · high value"},
		{"inventory_confirmed", `{"items":1,"warehouse":"W"}`, "1 item in stock at W"},
		{"inventory_confirmed", `{"restocked":true,"restocked_quantity":2,"supplier":"S"}`, "restocked 2 units by S"},
		{"inventory_shortage", `{"shortage_quantity":2,"sku":"X-1"}`, "short of 2 × X-1"},
		{"payment_failed", `{"reason":"card declined","retry_count":2}`, "card declined, attempt 3"},
		{"shipping_complete", `{"carrier":"C","tracking_number":"T"}`, "handed to C, tracking T"},
		{"x.completed", `{"artifacts":[{"b":2,"a":"x"}]}`, "A2A · a=x, b=2"},
		{"x.failed", `{"state":"rejected","message":"no","task_id":"t"}`, "A2A · task rejected: no"},
		{"something_else", `{ "a" : "b c" }`, `{"a":"b c"}`},
		{"something_else", ``, ``},
		{"order_received", `[1, 2]`, `[1,2]`},
	} {
		if got := describe(tc.typ, json.RawMessage(tc.data)); got != tc.want {
			t.Errorf("describe(%s, %s) = %q, want %q", tc.typ, tc.data, got, tc.want)
		}
	}
}

func TestFlowLine(t *testing.T) {
	var b bytes.Buffer
	p := &printer{w: &b}
	p.flow(flowLine{offset: 1500 * time.Millisecond, corr: "order-0001", what: "order_received", detail: strings.Repeat("x", 80), who: "shop"})
	got := b.String()
	if !strings.HasPrefix(got, "  +1.500s  order-0001  order_received ") || !strings.HasSuffix(got, "x… shop\n") {
		t.Errorf("line %q", got)
	}
	b.Reset()
	p.color = true
	p.flow(flowLine{corr: "", what: "agent registered", whatStyle: ansiMagenta, who: "inventory"})
	if got := b.String(); !strings.Contains(got, ansiMagenta+"agent registered") || !strings.Contains(got, "·") {
		t.Errorf("coloured line %q", got)
	}
}

func TestLatencyOf(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := latencyOf(ds)
	if l.N != 100 || l.P50 != 51*time.Millisecond || l.P90 != 90*time.Millisecond || l.Max != 100*time.Millisecond {
		t.Errorf("latencyOf = %+v", l)
	}
	if got := latencyOf(nil).String(); got != "no samples" {
		t.Errorf("empty: %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{},
		{BaseURL: "ftp://x"},
		{BaseURL: "http://"},
		{BaseURL: "http://x", Orders: -1},
		{BaseURL: "http://x", Orders: MaxOrders + 1},
		{BaseURL: "http://x", Rate: -1},
		{BaseURL: "http://x", Rate: MaxRate * 2},
		{BaseURL: "http://x", Timeout: -1},
		{BaseURL: "http://x", Heartbeat: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if err := (Config{BaseURL: "http://127.0.0.1:7070"}).Validate(); err != nil {
		t.Errorf("Validate of a minimal config: %v", err)
	}
}
