package engine

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/workload"
)

// TestShapedIDMatchesUUID checks the engine's own hex encoding of action
// ids against event.AppendUUID, which it replaces on the hot path.
func TestShapedIDMatchesUUID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		var sum [sha256.Size]byte
		for i := range sum {
			sum[i] = byte(rng.Uint32())
		}
		u := [16]byte(sum[:16])
		u[6] = u[6]&0x0f | 0x80
		u[8] = u[8]&0x3f | 0x80
		want := string(event.AppendUUID(nil, u))
		if got := string(appendShapedID(nil, &sum)); got != want {
			t.Fatalf("appendShapedID(%x) = %s; want %s", sum, got, want)
		}
	}
}

// TestActionIDsUnchanged pins ActionID to values computed before the
// engine computed ids with a reused hash state: ids are persisted in
// logs, and a replay after an upgrade must decide the same actions under
// the same ids.
func TestActionIDsUnchanged(t *testing.T) {
	for _, tt := range []struct {
		chor, kind, rule string
		triggers         []string
		want             string
	}{
		{"ecommerce", KindPattern, "order_received", []string{"evt-1"}, "afb56df2-c48e-8193-b9f1-fc655df68eff"},
		{"ecommerce", KindSequence, "order_to_delivery", []string{"evt-1", "evt-2", "evt-3", "evt-4", "evt-5", "evt-6"}, "cb6cb544-9990-80f3-870c-d95c1a1d0a3a"},
		{"a-choreography-with-a-rather-long-name-that-passes-one-block", "threshold_pattern", "repeated_payment_failures", []string{"x", "y", "z"}, "6cef3ec3-c273-86a2-a97b-036a741abd5a"},
		{"", "", "", nil, "709e80c8-8487-8241-9e1e-e4dfb9f22a86"},
	} {
		if got := ActionID(tt.chor, tt.kind, tt.rule, tt.triggers); got != tt.want {
			t.Errorf("ActionID(%q, %q, %q, %q) = %s; want %s", tt.chor, tt.kind, tt.rule, tt.triggers, got, tt.want)
		}
	}
}

// TestEngineIDsAreActionIDs checks every action of the e-commerce
// workload against ActionID, the definition the engine's fast path must
// keep to.
func TestEngineIDsAreActionIDs(t *testing.T) {
	e := mustNew(t, Config{}, ecommerce())
	n := 0
	check := func(as []Action) {
		for _, a := range as {
			if want := ActionID(a.Choreography, a.RuleKind, a.RuleID, a.TriggerEventIDs); a.ID != want {
				t.Fatalf("action %s of %s on %v: id %s; want %s", a.Action, a.RuleID, a.TriggerEventIDs, a.ID, want)
			}
			n++
		}
	}
	for _, ev := range workload.Generate(workload.Config{Seed: 7, Orders: 2000, Concurrency: 200}) {
		check(e.Process(ev))
	}
	check(e.Flush())
	if n == 0 {
		t.Fatal("no actions")
	}
}
