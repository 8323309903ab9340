package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/choreohq/choreo/internal/workload"
)

// TestWorkloadDecisionsPinned folds e-commerce workloads, with late
// steps, payment failures and repeated events, through engines whose caps
// and idle timeout bite, and compares a digest of every action and the
// final metrics with the digest the engine gave before its look-up
// structures were rewritten for speed. A change in what the engine
// decides, in which order or under which id, changes the digest: an
// intended one updates the constant.
func TestWorkloadDecisionsPinned(t *testing.T) {
	const want = "6157e1618f1db0ad72a32b7373a3f6deaae7b3d3f9fc774ce35f502eb7176a2e"
	h := sha256.New()
	cfgs := []Config{
		{},
		{MaxCorrelations: 50},
		{MaxPartials: 100},
		{IdleTimeout: 45 * time.Second},
		{MaxCorrelations: 300, IdleTimeout: 2 * time.Minute, DedupWindow: 50},
	}
	for ci, cfg := range cfgs {
		e := mustNew(t, cfg, ecommerce())
		evs := workload.Generate(workload.Config{Seed: uint64(ci + 11), Orders: 3000, Concurrency: 400,
			LateRate: 0.2, LateGap: 3 * time.Minute, PaymentFailRate: 0.4})
		for i := 0; i < len(evs); i += 97 {
			evs = append(evs, evs[i]) // repeated events
		}
		for _, ev := range evs {
			for _, a := range e.Process(ev) {
				b, _ := json.Marshal(a)
				fmt.Fprintf(h, "%d %s\n", ci, b)
			}
		}
		for _, a := range e.Flush() {
			b, _ := json.Marshal(a)
			fmt.Fprintf(h, "%d F %s\n", ci, b)
		}
		m, _ := json.Marshal(e.Metrics())
		fmt.Fprintf(h, "%d M %s\n", ci, m)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("digest of the decisions = %s; want %s", got, want)
	}
}
