package condition

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
)

// fakeContext is a Context that records which of its methods were called.
type fakeContext struct {
	ev         *event.Event
	data       any
	ts         time.Time
	recent     []*event.Event
	correlated []*event.Event
	count      int64
	srcCount   int64

	calls []string
}

func (c *fakeContext) called(name string) {
	if !slices.Contains(c.calls, name) {
		c.calls = append(c.calls, name)
	}
}

func (c *fakeContext) Event() *event.Event { c.called("Event"); return c.ev }
func (c *fakeContext) Data() any           { c.called("Data"); return c.data }
func (c *fakeContext) Timestamp() time.Time {
	c.called("Timestamp")
	return c.ts
}
func (c *fakeContext) RecentEvents() []*event.Event {
	c.called("RecentEvents")
	return c.recent
}
func (c *fakeContext) CorrelatedEvents() []*event.Event {
	c.called("CorrelatedEvents")
	return c.correlated
}
func (c *fakeContext) EventCount() int64       { c.called("EventCount"); return c.count }
func (c *fakeContext) SourceEventCount() int64 { c.called("SourceEventCount"); return c.srcCount }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newFake returns a context around an order event; raw selects whether
// Data returns the JSON text or the decoded value.
func newFake(raw bool) *fakeContext {
	data := json.RawMessage(`{"order_value": 1500, "status": "confirmed", "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}], "customer": {"tier": "gold"}, "note": null}`)
	ev := &event.Event{
		ID: "evt-3", Type: "order_received", Source: "shop", Subject: "order-7",
		Time: t0, DataContentType: "application/json", Data: data,
		CorrelationID: "order-7", CausationID: "evt-2", Hops: 2,
	}
	c := &fakeContext{ev: ev, ts: t0, count: 42, srcCount: 7}
	if raw {
		c.data = data
	} else {
		var d any
		if err := json.Unmarshal(data, &d); err != nil {
			panic(err)
		}
		c.data = d
	}
	for i, typ := range []string{"order_received", "payment_failed", "payment_failed"} {
		c.recent = append(c.recent, &event.Event{ID: "r" + string(rune('0'+i)), Type: typ, Source: "pay",
			Time: t0.Add(time.Duration(i-3) * time.Minute), Data: json.RawMessage(`{"attempt": ` + string(rune('1'+i)) + `}`)})
	}
	c.recent = append(c.recent, ev)
	c.correlated = []*event.Event{c.recent[0], ev}
	return c
}

func TestCompileIssues(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []Issue // Msg is matched as a substring
	}{
		{"syntax error", "data.amount >", []Issue{{1, 14, "Syntax error"}}},
		{"syntax errors on line 2", "data.amount > 0 &&\n  data.x = 1", []Issue{
			{2, 10, "Syntax error: token recognition error at: '= '"},
			{2, 12, "Syntax error: extraneous input '1'"},
		}},
		{"python True", "True", []Issue{{1, 1, "undeclared reference to 'True' (CEL writes true)"}}},
		{"python get", "data.get('x', 0) > 1", []Issue{{1, 9, "data.?key.orValue(default)"}}},
		{"python len", "len(recent_events) > 2", []Issue{{1, 4, "size(x)"}}},
		{"unknown variable", "payload.x == 1", []Issue{{1, 1, "undeclared reference to 'payload'"}}},
		{"every undeclared reference", "foo && bar", []Issue{{1, 1, "'foo'"}, {1, 8, "'bar'"}}},
		{"unknown event field", "event.tpye == 'x'", []Issue{{1, 6, "undefined field 'tpye'"}}},
		{"type mismatch", "event.hops == 'two'", []Issue{{1, 12, "no matching overload"}}},
		{"int result", "1 + 1", []Issue{{1, 1, "must be a bool expression, but its type is int"}}},
		{"string result after blank lines", "\n\n   event.type", []Issue{{3, 4, "must be a bool expression, but its type is string"}}},
		{"too long", "true || " + strings.Repeat("x", MaxLength), []Issue{{1, 1, "bytes long"}}},
		{"too expensive", "correlated_events.all(a, correlated_events.all(b, a.id != b.id || a == b))",
			[]Issue{{1, 1, "too expensive"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, got := Compile(tt.expr, Options{})
			if p != nil {
				t.Fatalf("Compile(%q) succeeded; want issues %v", tt.expr, tt.want)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Compile(%q) issues = %v; want %d issues %v", tt.expr, got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Line != w.Line || g.Col != w.Col || !strings.Contains(g.Msg, w.Msg) {
					t.Errorf("issue %d = %d:%d %q; want %d:%d containing %q", i, g.Line, g.Col, g.Msg, w.Line, w.Col, w.Msg)
				}
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, expr := range []string{
		"data.order_value > 0",
		"data.flag", // dyn: checked at run time
		"data.?retry_count.orValue(0) < 3",
		"has(data.tracking_number) && data.tracking_number != null",
		"event.type.startsWith('order_') && source == 'shop'",
		"recent_events.filter(e, e.type == 'payment_failed').size() >= 3",
		"timestamp - event.time < duration('5m')",
		"data.items.exists(i, i.qty > 1)",
		"recent_events.exists(e, correlated_events.exists(c, c.hops > e.hops))",
		"'a,b'.split(',').size() == 2",
	} {
		if _, iss := Compile(expr, Options{}); iss != nil {
			t.Errorf("Compile(%q) issues = %v; want none", expr, iss)
		}
	}
}

func TestCompileCostLimit(t *testing.T) {
	const expr = "recent_events.exists(e, e.type == 'x')"
	p, iss := Compile(expr, Options{})
	if iss != nil {
		t.Fatalf("Compile(%q) = %v", expr, iss)
	}
	_, max := p.Cost()
	if max == 0 || max > DefaultMaxCost {
		t.Fatalf("estimated max cost = %d; want in (0, %d]", max, DefaultMaxCost)
	}
	if _, iss := Compile(expr, Options{MaxCost: max}); iss != nil {
		t.Errorf("Compile with MaxCost = estimate %d: issues %v; want none", max, iss)
	}
	_, iss = Compile(expr, Options{MaxCost: max - 1})
	if len(iss) != 1 || !strings.Contains(iss[0].Msg, "too expensive") {
		t.Errorf("Compile with MaxCost = estimate-1: issues %v; want one 'too expensive'", iss)
	}
}

func TestRunTimeCostLimit(t *testing.T) {
	// The estimate assumes SizeHint items; the event has many more.
	const expr = "data.items.all(i, i >= 0)"
	p, iss := Compile(expr, Options{MaxCost: 10 * SizeHint})
	if iss != nil {
		t.Fatalf("Compile(%q) = %v", expr, iss)
	}
	for _, tt := range []struct {
		name    string
		items   int
		wantErr error
	}{
		{"within limit", 10, nil},
		{"over limit", 20 * SizeHint, ErrCostLimit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			items := make([]any, tt.items)
			for i := range items {
				items[i] = float64(i)
			}
			c := newFake(false)
			c.data = map[string]any{"items": items}
			got, err := p.Eval(c)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Eval = %v, %v; want error %v", got, err, tt.wantErr)
			}
			if got != (tt.wantErr == nil) {
				t.Errorf("Eval = %v; want %v", got, tt.wantErr == nil)
			}
		})
	}
}

func TestNoRunTimeTrackingWhenBounded(t *testing.T) {
	for _, tt := range []struct {
		expr        string
		wantTracked bool
	}{
		{"data.amount > 1000", false},
		{"recent_events.exists(e, e.hops > 1)", false},
		{"data.items.exists(i, i.qty > 1)", true},
		{"data.note.contains('x')", true},
	} {
		p, iss := Compile(tt.expr, Options{})
		if iss != nil {
			t.Fatalf("Compile(%q) = %v", tt.expr, iss)
		}
		if p.tracked != tt.wantTracked {
			t.Errorf("Compile(%q): cost tracked = %v; want %v", tt.expr, p.tracked, tt.wantTracked)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		data    any
		wantErr error
		wantMsg string
	}{
		{"missing key", "data.amount > 1000", map[string]any{}, ErrEval, "no such key: amount"},
		{"missing key raw", "data.amount > 1000", json.RawMessage(`{"x":1}`), ErrEval, "no such key: amount"},
		{"no data", "data.amount > 1000", nil, ErrEval, ""},
		{"wrong type at run time", "data.amount > 1000", map[string]any{"amount": "lots"}, ErrEval, "no such overload"},
		{"non-bool result", "data.flag", map[string]any{"flag": "yes"}, ErrNotBool, "got string"},
		{"malformed raw JSON", "data.amount > 1", json.RawMessage(`{"amount": }`), ErrJSON, ""},
		{"division by zero", "1 / data.n == 0", map[string]any{"n": 0.0}, ErrEval, ""},
		{"int division by zero", "1 / int(data.n) == 0", map[string]any{"n": 0.0}, ErrEval, "division by zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, iss := Compile(tt.expr, Options{})
			if iss != nil {
				t.Fatalf("Compile(%q) = %v", tt.expr, iss)
			}
			c := newFake(false)
			c.data = tt.data
			got, err := p.Eval(c)
			if got || !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Eval = %v, %v; want false and %v containing %q", got, err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	p, _ := Compile("data.x == 1", Options{})
	if _, err := p.Eval(nil); !errors.Is(err, ErrNilContext) {
		t.Errorf("Eval(nil) error = %v; want %v", err, ErrNilContext)
	}
}

func TestVariables(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{"event.id == 'evt-3' && event.event_id == 'evt-3'", true},
		{"event.type == 'order_received' && event.event_type == event.type", true},
		{"event.source == 'shop' && event.source_agent == 'shop'", true},
		{"event.subject == 'order-7'", true},
		{"event.time == timestamp('2025-03-01T12:00:00Z') && event.timestamp == event.time", true},
		{"event.datacontenttype == 'application/json'", true},
		{"event.correlation_id == 'order-7' && event.causation_id == 'evt-2'", true},
		{"event.hops == 2", true},
		{"event.data.customer.tier == 'gold'", true},
		{"has(event.subject) && !has(event.dataschema)", true},
		{"data.order_value == 1500", true},
		{"data.order_value > 1000.5", true},
		{"data.status == 'confirmed'", true},
		{"data.items.size() == 2 && data.items[0].sku == 'a'", true},
		{"data.items.exists(i, i.qty > 1)", true},
		{"data.customer.tier in ['gold', 'platinum']", true},
		{"data.note == null", true},
		{"has(data.status) && !has(data.refund)", true},
		{"data.?retry_count.orValue(0) < 3", true},
		{"data.?order_value.orValue(0) > 1000", true},
		{"data.?customer.?tier.orValue('none') == 'gold'", true},
		{"'status' in data && !('refund' in data)", true},
		{"source == 'shop'", true},
		{"timestamp == timestamp('2025-03-01T12:00:00Z')", true},
		{"correlation_id == 'order-7'", true},
		{"recent_events.size() == 4", true},
		{"recent_events[0].type == 'order_received' && recent_events[3].id == 'evt-3'", true},
		{"recent_events.filter(e, e.type == 'payment_failed').size() >= 2", true},
		{"recent_events.exists(e, e.data.attempt == 3)", true},
		{"recent_events.all(e, timestamp - e.time <= duration('3m'))", true},
		{"correlated_events.size() == 2 && correlated_events[1].id == event.id", true},
		{"event_count == 42", true},
		{"source_event_count == 7", true},
		{"data.order_value < 0", false},
	}
	for _, raw := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.expr
			if raw {
				name = "raw/" + name
			}
			t.Run(name, func(t *testing.T) {
				p, iss := Compile(tt.expr, Options{})
				if iss != nil {
					t.Fatalf("Compile(%q) = %v", tt.expr, iss)
				}
				got, err := p.Eval(newFake(raw))
				if err != nil || got != tt.want {
					t.Errorf("Eval(%q) = %v, %v; want %v, nil", tt.expr, got, err, tt.want)
				}
			})
		}
	}
}

func TestRecentEventsCapped(t *testing.T) {
	c := newFake(false)
	c.recent = nil
	for i := range 15 {
		c.recent = append(c.recent, &event.Event{ID: string(rune('a' + i)), Type: "t"})
	}
	p, iss := Compile("recent_events.size() == 10 && recent_events[0].id == 'f'", Options{})
	if iss != nil {
		t.Fatal(iss)
	}
	if got, err := p.Eval(c); !got || err != nil {
		t.Errorf("Eval = %v, %v; want the last 10 events", got, err)
	}
}

func TestLazyContext(t *testing.T) {
	tests := []struct {
		expr      string
		wantCalls []string
		wantUses  Var
	}{
		{"data.order_value > 0", []string{"Data"}, VarData},
		{"event.hops < 3", []string{"Event"}, VarEvent},
		{"source == 'shop'", []string{"Event"}, VarSource},
		{"correlation_id != ''", []string{"Event"}, VarCorrelationID},
		{"timestamp > timestamp('2000-01-01T00:00:00Z')", []string{"Timestamp"}, VarTimestamp},
		{"recent_events.size() > 0", []string{"RecentEvents"}, VarRecentEvents},
		{"correlated_events.size() > 0", []string{"CorrelatedEvents"}, VarCorrelatedEvents},
		{"event_count > 0", []string{"EventCount"}, VarEventCount},
		{"source_event_count > 0", []string{"SourceEventCount"}, VarSourceEventCount},
		{"event_count > 0 || data.order_value > 0", []string{"EventCount"}, VarEventCount | VarData},
		{"data.order_value > 0 && source_event_count > 100 && event_count > 0", []string{"Data", "SourceEventCount"},
			VarData | VarSourceEventCount | VarEventCount},
		{"true", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, iss := Compile(tt.expr, Options{})
			if iss != nil {
				t.Fatalf("Compile(%q) = %v", tt.expr, iss)
			}
			if got := p.Uses(); got != tt.wantUses {
				t.Errorf("Uses() = %b; want %b", got, tt.wantUses)
			}
			c := newFake(true)
			if _, err := p.Eval(c); err != nil {
				t.Fatalf("Eval = %v", err)
			}
			if !slices.Equal(c.calls, tt.wantCalls) {
				t.Errorf("context calls = %v; want %v", c.calls, tt.wantCalls)
			}
		})
	}
}

func TestAlways(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want bool
	}{
		{"", true},
		{"true", true},
		{"  true\n", true},
		{"true && true", false},
		{"false", false},
	} {
		p, iss := Compile(tt.expr, Options{})
		if iss != nil {
			t.Fatalf("Compile(%q) = %v", tt.expr, iss)
		}
		if got := p.Always(); got != tt.want {
			t.Errorf("Compile(%q).Always() = %v; want %v", tt.expr, got, tt.want)
		}
		if got := p.String(); got != tt.expr {
			t.Errorf("String() = %q; want %q", got, tt.expr)
		}
		if tt.want {
			// An always-true condition needs no context at all.
			if ok, err := p.Eval(nil); !ok || err != nil {
				t.Errorf("Compile(%q).Eval(nil) = %v, %v; want true, nil", tt.expr, ok, err)
			}
		}
	}
	var nilProgram *Program
	if ok, err := nilProgram.Eval(nil); !ok || err != nil || !nilProgram.Always() {
		t.Errorf("nil Program: Eval = %v, %v, Always = %v; want true, nil, true", ok, err, nilProgram.Always())
	}
}

func TestConcurrentEval(t *testing.T) {
	p, iss := Compile("data.order_value > 1000 && recent_events.exists(e, e.type == 'payment_failed')", Options{})
	if iss != nil {
		t.Fatal(iss)
	}
	done := make(chan error)
	for i := range 4 {
		go func() {
			c := newFake(i%2 == 0)
			for range 200 {
				if ok, err := p.Eval(c); !ok || err != nil {
					done <- errors.Join(err, errors.New("want true"))
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
