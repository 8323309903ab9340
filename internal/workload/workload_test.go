package workload

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
)

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 7, Orders: 300, Concurrency: 50}
	var a, b bytes.Buffer
	na, err := WriteJSONL(&a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := WriteJSONL(&b, cfg)
	if na != nb || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two runs with one seed differ: %d vs %d events", na, nb)
	}
	var c bytes.Buffer
	WriteJSONL(&c, Config{Seed: 8, Orders: 300, Concurrency: 50})
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("seeds 7 and 8 give the same events")
	}
}

func TestShape(t *testing.T) {
	evs := Generate(Config{Seed: 1, Orders: 2000, Concurrency: 200})
	counts := map[string]int{}
	ids := map[string]bool{}
	perOrder := map[string][]string{}
	var last time.Time
	for i, ev := range evs {
		if err := ev.Validate(event.Limits{}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ids[ev.ID] {
			t.Fatalf("event %d: duplicate id %s", i, ev.ID)
		}
		ids[ev.ID] = true
		if ev.Time.Before(last) {
			t.Fatalf("event %d: time %v before %v", i, ev.Time, last)
		}
		last = ev.Time
		counts[ev.Type]++
		perOrder[ev.CorrelationID] = append(perOrder[ev.CorrelationID], ev.Type)
	}
	if got := counts[OrderReceived]; got != 2000 {
		t.Errorf("order_received: got %d, want 2000", got)
	}
	for _, typ := range []string{InventoryShortage, PaymentFailed, PaymentSuccessful, DeliveryConfirmed, OrderCancelled} {
		if counts[typ] == 0 {
			t.Errorf("no %s events in %v", typ, counts)
		}
	}
	if counts[DeliveryConfirmed] < 1600 {
		t.Errorf("delivered: got %d of 2000 orders, want most", counts[DeliveryConfirmed])
	}
	// Interleaved: the first order is not done before the second starts.
	if evs[1].CorrelationID == evs[0].CorrelationID {
		t.Errorf("orders are not interleaved: %s then %s", evs[0].CorrelationID, evs[1].CorrelationID)
	}
	for corr, types := range perOrder {
		if types[0] != OrderReceived {
			t.Fatalf("%s starts with %s", corr, types[0])
		}
	}
}

func TestJSONLDecodes(t *testing.T) {
	var buf bytes.Buffer
	n, err := WriteJSONL(&buf, Config{Seed: 3, Orders: 20})
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		ev, err := event.Decode(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if err := ev.Validate(event.Limits{}); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite examples/orders.jsonl")

// TestExampleFile checks that examples/orders.jsonl is the Example
// workload; -update rewrites it.
func TestExampleFile(t *testing.T) {
	var buf bytes.Buffer
	if _, err := WriteJSONL(&buf, Example); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "examples", "orders.jsonl")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("%s is not the Example workload; run go test ./internal/workload -update", path)
	}
}
