package condition

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
)

func BenchmarkEval(b *testing.B) {
	raw := json.RawMessage(`{"order_id":"o-123","customer":"c-9","order_value":1500.5,"amount":2500,"items":[{"sku":"a","qty":2}],"payment_status":"confirmed"}`)
	var decoded map[string]any
	if err := json.Unmarshal(raw, &decoded); err != nil {
		b.Fatal(err)
	}
	ev := &event.Event{ID: "e-1", Type: "order_received", Source: "shop", Time: time.Unix(1700000000, 0), Data: raw, CorrelationID: "order-123"}
	recent := make([]*event.Event, 10)
	for i := range recent {
		recent[i] = &event.Event{ID: "r", Type: "payment_failed", Source: "pay", Time: ev.Time}
	}
	recent[9] = ev
	cases := []struct {
		name, expr string
		data       any
	}{
		{"always", "true", decoded},
		{"compare/decoded", "data.order_value > 0", decoded},
		{"compare/raw", "data.order_value > 0", raw},
		{"compare_int/decoded", "data.amount > 1000", decoded},
		{"compare_int/raw", "data.amount > 1000", raw},
		{"optional/decoded", "data.?retry_count.orValue(0) < 3", decoded},
		{"optional/raw", "data.?retry_count.orValue(0) < 3", raw},
		{"string_eq/decoded", "data.payment_status == 'confirmed'", decoded},
		{"string_eq/raw", "data.payment_status == 'confirmed'", raw},
		{"event_field", "event.type == 'order_received' && event.hops < 5", decoded},
		{"recent_exists", "recent_events.exists(e, e.type == 'payment_failed')", decoded},
		{"recent_count", "recent_events.filter(e, e.type == 'payment_failed').size() >= 3", decoded},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, iss := Compile(c.expr, Options{})
			if iss != nil {
				b.Fatal(iss)
			}
			ctx := &benchContext{ev: ev, data: c.data, recent: recent}
			b.ReportAllocs()
			for b.Loop() {
				ok, err := p.Eval(ctx)
				if err != nil || !ok {
					b.Fatalf("Eval = %v, %v; want true, nil", ok, err)
				}
			}
		})
	}
}

type benchContext struct {
	ev     *event.Event
	data   any
	recent []*event.Event
}

func (c *benchContext) Event() *event.Event              { return c.ev }
func (c *benchContext) Data() any                        { return c.data }
func (c *benchContext) Timestamp() time.Time             { return c.ev.Time }
func (c *benchContext) RecentEvents() []*event.Event     { return c.recent }
func (c *benchContext) CorrelatedEvents() []*event.Event { return c.recent }
func (c *benchContext) EventCount() int64                { return 100 }
func (c *benchContext) SourceEventCount() int64          { return 10 }
