package demo

import (
	"fmt"
	"math/rand/v2"
)

// Kind is what a planned order goes through, besides the happy path.
type Kind string

// The kinds of order a Plan mixes.
const (
	KindNormal    Kind = "normal"     // in stock, paid at once
	KindHighValue Kind = "high_value" // over 1000: a manual fraud review as well
	KindShortage  Kind = "shortage"   // short of stock: the suppliers restock it first
	KindRetry     Kind = "retry"      // the card is declined once or twice, then accepted
	KindDeclined  Kind = "declined"   // the card is declined every time: the order is cancelled
	KindHiccup    Kind = "hiccup"     // the payment gateway fails the first delivery: the dispatcher retries it
)

// kindDeck is one block of orders: every block of len(kindDeck) orders
// holds these kinds, shuffled, so that a short demo still shows each one.
var kindDeck = []Kind{KindNormal, KindNormal, KindHighValue, KindShortage, KindRetry, KindDeclined, KindHiccup, KindNormal}

// Line is one line of an order.
type Line struct {
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"` // per unit
}

// Order is one order of the scenario and what its simulated agents will do
// with it.
type Order struct {
	ID       string // the order id, also its correlation id and stream
	Customer string // the customer's id
	Lines    []Line
	Value    float64 // the sum of the lines, rounded to cents
	Kind     Kind

	// Shortage is the number of units missing at the warehouse; zero when
	// everything is in stock.
	Shortage int
	// PaymentFailures is how many payment attempts the card fails before
	// it is accepted. Four or more exceed the choreography's three
	// retries: the order is cancelled.
	PaymentFailures int
	// GatewayHiccup makes the payments agent fail the first delivery of
	// process_payment with a server error, so the dispatcher retries it.
	GatewayHiccup bool
	// Rating is the stars the customer gives in the product review, 1 to 5.
	Rating int
}

// Items returns the number of units in the order.
func (o *Order) Items() int {
	n := 0
	for _, l := range o.Lines {
		n += l.Quantity
	}
	return n
}

// Plan is the scenario of one demo run: its orders, in the order they are
// published. The same seed and size give the same plan.
type Plan struct {
	Seed   uint64
	Orders []Order
	byID   map[string]*Order
}

// product is an item of the simulated shop's catalogue.
type product struct {
	sku   string
	name  string
	price float64
}

var (
	everyday = []product{
		{"BK-1031", "Paperback novel", 14.99},
		{"HD-2207", "Wireless headphones", 89.00},
		{"KT-4410", "Chef's knife", 64.50},
		{"LP-0815", "Desk lamp", 39.90},
		{"MG-7702", "Coffee grinder", 119.00},
		{"SH-3390", "Running shoes", 129.95},
		{"TB-5521", "Yoga mat", 24.00},
		{"WB-6604", "Water bottle", 18.75},
	}
	premium = []product{
		{"TV-9001", "65-inch OLED television", 1899.00},
		{"LT-9120", "Ultralight laptop", 1499.00},
		{"CM-9350", "Mirrorless camera", 1249.00},
	}
	customers = []string{"ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "dennis", "radia", "linus", "frances", "john"}
)

// NewPlan returns the plan of n orders drawn from seed.
func NewPlan(seed uint64, n int) *Plan {
	rng := rand.New(rand.NewPCG(seed, 0x63686f72656f)) // "choreo"
	p := &Plan{Seed: seed, Orders: make([]Order, n), byID: make(map[string]*Order, n)}
	deck := make([]Kind, 0, len(kindDeck))
	for i := range p.Orders {
		if len(deck) == 0 {
			deck = append(deck, kindDeck...)
			rng.Shuffle(len(deck), func(a, b int) { deck[a], deck[b] = deck[b], deck[a] })
		}
		kind := deck[0]
		deck = deck[1:]
		o := &p.Orders[i]
		*o = Order{
			ID:       fmt.Sprintf("order-%04d", i+1),
			Customer: customers[rng.IntN(len(customers))],
			Kind:     kind,
			Rating:   3 + rng.IntN(3),
		}
		for range 1 + rng.IntN(3) {
			pr := everyday[rng.IntN(len(everyday))]
			o.Lines = append(o.Lines, Line{SKU: pr.sku, Name: pr.name, Quantity: 1 + rng.IntN(2), Price: pr.price})
		}
		switch kind {
		case KindHighValue:
			pr := premium[rng.IntN(len(premium))]
			o.Lines = append(o.Lines, Line{SKU: pr.sku, Name: pr.name, Quantity: 1, Price: pr.price})
		case KindShortage:
			o.Shortage = 1 + rng.IntN(3)
		case KindRetry:
			o.PaymentFailures = 1 + rng.IntN(2)
		case KindDeclined:
			o.PaymentFailures = 4
			o.Rating = 0
		case KindHiccup:
			o.GatewayHiccup = true
		}
		cents := 0
		for _, l := range o.Lines {
			cents += int(l.Price*100+0.5) * l.Quantity
		}
		o.Value = float64(cents) / 100
		p.byID[o.ID] = o
	}
	return p
}

// Order returns the planned order with id, and whether there is one.
func (p *Plan) Order(id string) (*Order, bool) {
	o, ok := p.byID[id]
	return o, ok
}

// Outcome returns how a planned order is expected to end: OutcomeCancelled when
// its card is declined more often than the choreography retries, else
// OutcomeDelivered.
func (o *Order) Outcome() string {
	if o.PaymentFailures > maxPaymentRetries {
		return OutcomeCancelled
	}
	return OutcomeDelivered
}

// maxPaymentRetries is how many times examples/ecommerce.yaml retries a
// failed payment (payment_retry: retry_count < 3).
const maxPaymentRetries = 3

// The final states of an order.
const (
	OutcomeDelivered = "delivered" // delivered, reviewed and closed
	OutcomeCancelled = "cancelled" // cancelled after its payment failed for good
)
