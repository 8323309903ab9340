package demo

import (
	"reflect"
	"testing"
)

func TestPlanDeterministic(t *testing.T) {
	a, b := NewPlan(42, 50), NewPlan(42, 50)
	if !reflect.DeepEqual(a.Orders, b.Orders) {
		t.Error("two plans of one seed differ")
	}
	c := NewPlan(43, 50)
	if reflect.DeepEqual(a.Orders, c.Orders) {
		t.Error("plans of seeds 42 and 43 are the same")
	}
}

func TestPlanKinds(t *testing.T) {
	p := NewPlan(7, 3*len(kindDeck)+3)
	// Each full block of len(kindDeck) orders holds the deck.
	for block := 0; block+len(kindDeck) <= len(p.Orders); block += len(kindDeck) {
		count := map[Kind]int{}
		for _, o := range p.Orders[block : block+len(kindDeck)] {
			count[o.Kind]++
		}
		want := map[Kind]int{}
		for _, k := range kindDeck {
			want[k]++
		}
		if !reflect.DeepEqual(count, want) {
			t.Errorf("block at %d: kinds %v, want %v", block, count, want)
		}
	}
	for i, o := range p.Orders {
		if want := "order-" + [...]string{"0001", "0002", "0003"}[min(i, 2)]; i < 3 && o.ID != want {
			t.Errorf("order %d: id %q, want %q", i, o.ID, want)
		}
		cents := 0
		for _, l := range o.Lines {
			cents += int(l.Price*100+0.5) * l.Quantity
		}
		if int(o.Value*100+0.5) != cents {
			t.Errorf("%s: value %v, lines add up to %d cents", o.ID, o.Value, cents)
		}
		if high := o.Value > 1000; high != (o.Kind == KindHighValue) {
			t.Errorf("%s (%s): value %v", o.ID, o.Kind, o.Value)
		}
		wantOutcome := OutcomeDelivered
		if o.Kind == KindDeclined {
			wantOutcome = OutcomeCancelled
		}
		if o.Outcome() != wantOutcome {
			t.Errorf("%s (%s): outcome %s, want %s", o.ID, o.Kind, o.Outcome(), wantOutcome)
		}
		if (o.Shortage > 0) != (o.Kind == KindShortage) || o.GatewayHiccup != (o.Kind == KindHiccup) ||
			(o.PaymentFailures > 0) != (o.Kind == KindRetry || o.Kind == KindDeclined) {
			t.Errorf("%s (%s): shortage %d, hiccup %v, payment failures %d", o.ID, o.Kind, o.Shortage, o.GatewayHiccup, o.PaymentFailures)
		}
		if got, ok := p.Order(o.ID); !ok || got != &p.Orders[i] {
			t.Errorf("Order(%q) = %v, %v", o.ID, got, ok)
		}
	}
	if _, ok := p.Order("order-9999"); ok {
		t.Error("Order of an unknown id found one")
	}
}
