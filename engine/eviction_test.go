package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/event"
)

// TestIdleEvictionOrder checks that idle correlations go quietest first,
// whatever order they were created in, and that a correlation kept busy
// stays.
func TestIdleEvictionOrder(t *testing.T) {
	ch := &choreography.Choreography{Name: "c", Sequences: []choreography.Sequence{{
		ID: "s", Events: []string{"a", "b", "c"}, MaxInterval: time.Hour, Action: "x", TargetCapability: "y",
	}}}
	e := mustNew(t, Config{IdleTimeout: 10 * time.Second, MaxCorrelations: 3}, ch)
	for i, corr := range []string{"k1", "k2", "k3"} {
		e.Process(ev("e"+strconv.Itoa(i), "a", corr, float64(i), ""))
	}
	// k1 is touched again; k4 then evicts the quietest, k2.
	e.Process(ev("e3", "b", "k1", 3, ""))
	e.Process(ev("e4", "a", "k4", 4, ""))
	m := e.Metrics()
	if m.CorrelationsEvicted != 1 || m.ActiveCorrelations != 3 {
		t.Fatalf("metrics %+v; want one eviction, 3 correlations", m)
	}
	for _, k := range []string{"k1", "k3", "k4"} {
		if e.corrs.find(k, e.corrs.hash(k)) == nil {
			t.Errorf("%s evicted; want k2 evicted", k)
		}
	}
	// At 12.5 s, k3 (last seen at 2 s) is idle; k1 (3 s) and k4 (4 s) are not.
	e.Advance(t0.Add(12500 * time.Millisecond))
	if m := e.Metrics(); m.CorrelationsIdled != 1 || m.ActiveCorrelations != 2 {
		t.Fatalf("metrics %+v; want k3 idled", m)
	}
	e.Process(&event.Event{ID: "e5", Type: "c", CorrelationID: "k1", Time: t0.Add(12900 * time.Millisecond)})
	if m := e.Metrics(); m.CompletedSequences != 1 || m.CorrelationsIdled != 1 || m.ActiveCorrelations != 1 {
		t.Fatalf("metrics %+v; want k1 completed, k4 left", m)
	}
	e.Advance(t0.Add(15 * time.Second))
	if m := e.Metrics(); m.CorrelationsIdled != 2 || m.ActiveCorrelations != 0 {
		t.Fatalf("metrics %+v; want k4 idled", m)
	}
}

// TestIdleEvictionOfTimerOwner lets a correlation go idle while it still
// waits for an absence timer longer than the idle timeout. Whether an
// event comes in between (the correlation is dropped then) or the next
// event comes only after the timer's due time, the correlation is idle
// before the timer is due: it goes, with its timer, which never fires.
func TestIdleEvictionOfTimerOwner(t *testing.T) {
	ch := &choreography.Choreography{Name: "c", Complex: []choreography.Complex{{
		ID: "abs", Type: choreography.KindAbsence, EventType: "a", ExpectedEvent: "b", Timeout: time.Minute,
		Action: "chase", TargetCapability: "y",
	}}}
	for _, between := range []bool{false, true} {
		e := mustNew(t, Config{IdleTimeout: 10 * time.Second}, ch)
		if acts := e.Process(ev("e1", "a", "k1", 0, "")); len(acts) != 0 {
			t.Fatalf("first event decided %v", acts)
		}
		var acts []Action
		if between {
			acts = append(acts, e.Process(ev("e2", "z", "k2", 30, ""))...)
		}
		acts = append(acts, e.Process(ev("e3", "z", "k3", 120, ""))...)
		acts = append(acts, e.Flush()...)
		if len(acts) != 0 {
			t.Fatalf("event in between %v: actions %+v; want none", between, acts)
		}
		if m := e.Metrics(); m.TimersDropped != 1 || m.CorrelationsIdled != 1 || m.PendingTimers != 0 {
			t.Fatalf("event in between %v: metrics %+v; want k1 idled and its timer dropped", between, m)
		}
	}
}
