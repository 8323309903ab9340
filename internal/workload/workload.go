// Package workload generates deterministic e-commerce event streams: many
// orders interleaved in event time, with payment retries, inventory
// shortages, high-value orders and late steps. Tests, benchmarks and the
// command line use it to exercise the engine on the example choreography.
package workload

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/choreohq/choreo/event"
)

// The event types of the e-commerce workload, as the example choreography
// names them.
const (
	OrderReceived       = "order_received"
	InventoryConfirmed  = "inventory_confirmed"
	InventoryShortage   = "inventory_shortage"
	PaymentSuccessful   = "payment_successful"
	PaymentFailed       = "payment_failed"
	FulfillmentComplete = "fulfillment_complete"
	ShippingComplete    = "shipping_complete"
	DeliveryConfirmed   = "delivery_confirmed"
	OrderCancelled      = "order_cancelled"
)

// Config shapes a workload. The zero value works; each zero field takes
// the default in its comment.
type Config struct {
	Seed        uint64        // seed of the random source; the same seed gives the same events
	Orders      int           // orders to generate; zero means 100
	Concurrency int           // orders in flight at once, interleaved; zero means 100
	Start       time.Time     // time of the first event; zero means 2025-01-01T00:00:00Z
	Step        time.Duration // mean time between two steps of an order; zero means 30s
	// ArrivalGap is the mean time between two new orders while fewer than
	// Concurrency are in flight; zero means Step/Concurrency.
	ArrivalGap time.Duration

	HighValueRate   float64       // share of orders over 1000; zero means 0.05 (negative: none)
	ShortageRate    float64       // share of orders with an inventory shortage; zero means 0.05
	PaymentFailRate float64       // share of orders paid with a troubled card, whose attempts fail 7 times in 10; zero means 0.1
	LateRate        float64       // chance that a step comes LateGap after the previous; zero means 0.01
	LateGap         time.Duration // the gap of a late step; zero means 20m
	AbandonRate     float64       // chance that an order stops after a shortage; zero means 0.5
}

func (c Config) withDefaults() Config {
	if c.Orders == 0 {
		c.Orders = 100
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Step <= 0 {
		c.Step = 30 * time.Second
	}
	if c.ArrivalGap <= 0 {
		c.ArrivalGap = max(c.Step/time.Duration(c.Concurrency), time.Millisecond)
	}
	rate := func(p *float64, d float64) {
		switch {
		case *p == 0:
			*p = d
		case *p < 0:
			*p = 0
		}
	}
	rate(&c.HighValueRate, 0.05)
	rate(&c.ShortageRate, 0.05)
	rate(&c.PaymentFailRate, 0.1)
	rate(&c.LateRate, 0.01)
	rate(&c.AbandonRate, 0.5)
	if c.LateGap <= 0 {
		c.LateGap = 20 * time.Minute
	}
	return c
}

// order is one order in flight.
type order struct {
	n        int
	corr     string
	next     string // type of its next event
	at       int64  // time of its next event, ns
	seq      uint64 // tie-break: scheduling order
	value    int
	retries  int
	hops     int
	cause    string
	shortage bool
	badCard  bool
}

// orders is a min-heap of the orders in flight by (at, seq); the keys
// sit in the heap so comparisons do not chase pointers.
type orders []slot

type slot struct {
	at  int64
	seq uint64
	o   *order
}

func (h orders) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *orders) push(o *order) {
	*h = append(*h, slot{o.at, o.seq, o})
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2
		if !s.less(j, i) {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

// pop removes the first order.
func (h *orders) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s[n] = slot{}
	*h = s[:n]
	h.down()
}

// fix restores the heap after the first order's time changed.
func (h orders) fix() {
	h[0].at, h[0].seq = h[0].o.at, h[0].o.seq
	h.down()
}

func (h orders) down() {
	for i := 0; ; {
		j := 2*i + 1
		if j >= len(h) {
			return
		}
		if j+1 < len(h) && h.less(j+1, j) {
			j++
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// Generator yields the events of a workload in time order.
type Generator struct {
	cfg      Config
	rng      *rand.Rand
	inFlight orders
	started  int
	arrival  int64 // time of the next new order, ns
	now      int64 // time of the last event, ns
	seq      uint64
	events   int
	buf      []byte
}

// New returns a generator of the workload cfg describes.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	return &Generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x636f72656f)),
		arrival: cfg.Start.UnixNano(),
	}
}

// Next returns the next event in time order, or false when every order
// has finished.
func (g *Generator) Next() (*event.Event, bool) {
	if g.started < g.cfg.Orders && len(g.inFlight) < g.cfg.Concurrency &&
		(len(g.inFlight) == 0 || g.arrival <= g.inFlight[0].o.at) {
		g.startOrder()
	}
	if len(g.inFlight) == 0 {
		return nil, false
	}
	o := g.inFlight[0].o
	g.now = o.at
	ev := g.emit(o)
	if o.next == "" {
		g.inFlight.pop()
	} else {
		o.seq = g.seq
		g.seq++
		g.inFlight.fix()
	}
	return ev, true
}

func (g *Generator) startOrder() {
	g.started++
	g.arrival = max(g.arrival, g.now)
	o := &order{
		n:    g.started,
		corr: "order-" + strconv.Itoa(g.started),
		next: OrderReceived,
		at:   g.arrival,
		seq:  g.seq,
	}
	g.seq++
	if g.rng.Float64() < g.cfg.HighValueRate {
		o.value = 1001 + g.rng.IntN(9000)
	} else {
		o.value = 10 + g.rng.IntN(990)
	}
	o.shortage = g.rng.Float64() < g.cfg.ShortageRate
	o.badCard = g.rng.Float64() < g.cfg.PaymentFailRate
	g.inFlight.push(o)
	gap := g.cfg.ArrivalGap
	g.arrival += int64(gap/2) + g.rng.Int64N(int64(gap)+1)
}

// gap returns the time to an order's next step.
func (g *Generator) gap() int64 {
	if g.rng.Float64() < g.cfg.LateRate {
		return int64(g.cfg.LateGap)
	}
	s := int64(g.cfg.Step)
	return s/2 + g.rng.Int64N(s+1)
}

var sources = map[string]string{
	OrderReceived:       "agents/storefront",
	InventoryConfirmed:  "agents/inventory",
	InventoryShortage:   "agents/inventory",
	PaymentSuccessful:   "agents/payments",
	PaymentFailed:       "agents/payments",
	FulfillmentComplete: "agents/fulfillment",
	ShippingComplete:    "agents/shipping",
	DeliveryConfirmed:   "agents/delivery",
	OrderCancelled:      "agents/orders",
}

// emit builds o's next event and decides the one after.
func (g *Generator) emit(o *order) *event.Event {
	g.events++
	id := string(strconv.AppendInt(append(g.buf[:0], "evt-"...), int64(g.events), 10))
	ev := &event.Event{
		SpecVersion:   event.SpecVersion,
		ID:            id,
		Source:        sources[o.next],
		Type:          o.next,
		Time:          time.Unix(0, o.at).UTC(),
		CorrelationID: o.corr,
		CausationID:   o.cause,
		Hops:          o.hops,
	}
	b := append(g.buf[:0], `{"order_id":"`...)
	b = append(b, o.corr...)
	b = append(b, '"')
	next := ""
	switch o.next {
	case OrderReceived:
		b = append(b, `,"customer_id":"cust-`...)
		b = strconv.AppendInt(b, int64(o.n%997), 10)
		b = append(b, `","order_value":`...)
		b = strconv.AppendInt(b, int64(o.value), 10)
		b = append(b, `,"items":`...)
		b = strconv.AppendInt(b, int64(1+o.n%5), 10)
		next = InventoryConfirmed
		if o.shortage {
			next = InventoryShortage
		}
	case InventoryShortage:
		b = append(b, `,"sku":"sku-`...)
		b = strconv.AppendInt(b, int64(o.n%101), 10)
		b = append(b, `","shortage_quantity":`...)
		b = strconv.AppendInt(b, int64(1+o.n%3), 10)
		if g.rng.Float64() >= g.cfg.AbandonRate {
			next = InventoryConfirmed
		}
	case InventoryConfirmed:
		b = append(b, `,"items_available":true`...)
		next = g.payment(o)
	case PaymentFailed:
		b = append(b, `,"retry_count":`...)
		b = strconv.AppendInt(b, int64(o.retries), 10)
		b = append(b, `,"reason":"card_declined"`...)
		o.retries++
		switch {
		case o.retries > 3:
			next = OrderCancelled
		default:
			next = g.payment(o)
		}
	case PaymentSuccessful:
		b = append(b, `,"payment_status":"confirmed","amount":`...)
		b = strconv.AppendInt(b, int64(o.value), 10)
		next = FulfillmentComplete
	case FulfillmentComplete:
		b = append(b, `,"items_packed":true`...)
		next = ShippingComplete
	case ShippingComplete:
		b = append(b, `,"tracking_number":"TRK`...)
		b = strconv.AppendInt(b, int64(1000000+o.n), 10)
		b = append(b, '"')
		next = DeliveryConfirmed
	case OrderCancelled:
		b = append(b, `,"reason":"payment_failed"`...)
	case DeliveryConfirmed:
	}
	b = append(b, '}')
	g.buf = b
	ev.Data = json.RawMessage(string(b))
	o.cause = id
	o.hops++
	o.next = next
	if next != "" {
		o.at += g.gap()
	}
	return ev
}

func (g *Generator) payment(o *order) string {
	if o.badCard && g.rng.Float64() < 0.7 {
		return PaymentFailed
	}
	return PaymentSuccessful
}

// Generate returns every event of the workload cfg describes.
func Generate(cfg Config) []*event.Event {
	g := New(cfg)
	var evs []*event.Event
	for {
		ev, ok := g.Next()
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

// WriteJSONL writes every event of the workload cfg describes to w, one
// structured-mode CloudEvent per line, and returns how many it wrote.
func WriteJSONL(w io.Writer, cfg Config) (int, error) {
	g := New(cfg)
	var b []byte
	n := 0
	for {
		ev, ok := g.Next()
		if !ok {
			break
		}
		b = ev.AppendJSON(b)
		b = append(b, '\n')
		n++
		if len(b) >= 64<<10 {
			if _, err := w.Write(b); err != nil {
				return n, err
			}
			b = b[:0]
		}
	}
	if _, err := w.Write(b); err != nil {
		return n, err
	}
	return n, nil
}

// Example is the workload of examples/orders.jsonl: 34 orders, 10 in
// flight, with more of every mishap than the defaults so that a small
// file shows them all.
var Example = Config{
	Seed:            2025,
	Orders:          34,
	Concurrency:     10,
	HighValueRate:   0.15,
	ShortageRate:    0.1,
	PaymentFailRate: 0.3,
	LateRate:        0.03,
}
