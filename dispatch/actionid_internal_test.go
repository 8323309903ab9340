package dispatch

import (
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
)

func actionIDSeeds() [][]byte {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)
	base := engine.Action{ID: "0193a4f0-0000-8000-8000-000000000001", Action: "check", TargetCapability: "cap",
		Priority: 8, Choreography: "shop", RuleID: "r", RuleKind: engine.KindPattern, CorrelationID: "order-1",
		TriggerEventIDs: []string{"a", "b"}, Time: t0, Hops: 3}
	var seeds [][]byte
	for _, change := range []func(a *engine.Action){
		func(*engine.Action) {},
		func(a *engine.Action) { a.Timeout = 90 * time.Second },
		func(a *engine.Action) { a.TriggerEventIDs = nil },
		func(a *engine.Action) { a.ID = `with "quotes" and <html>` },
		func(a *engine.Action) { a.ID = "café" },
		func(a *engine.Action) { a.Priority, a.Hops = -1, 0 },
		func(a *engine.Action) { a.Time = time.Time{} },
	} {
		a := base
		change(&a)
		seeds = append(seeds, a.AppendJSON(nil))
	}
	good := string(seeds[0])
	for _, bad := range []string{"", "{", `{"id":"x"}`, `{"id":1}`, good + " ", good[:len(good)-1],
		strings.Replace(good, `"hops":3`, `"hops":03`, 1),
		strings.Replace(good, `"time":"2026`, `"time":"2O26`, 1),
		strings.Replace(good, `,"hops"`, `,"timeout":"soon","hops"`, 1),
		strings.Replace(good, `,"hops":3`, `,"hops":3,"id":"other"`, 1),
		strings.Replace(good, `"trigger_event_ids":["a","b"]`, `"trigger_event_ids":["a",]`, 1),
		strings.Replace(good, `"trigger_event_ids":["a","b"]`, `"trigger_event_ids":["a" "b"]`, 1),
	} {
		seeds = append(seeds, []byte(bad))
	}
	return seeds
}

// checkActionID fails t if actionID takes b while the action's decoder
// refuses it or decodes another id.
func checkActionID(t *testing.T, b []byte) (taken bool) {
	t.Helper()
	id, ok := actionID(b)
	if !ok {
		return false
	}
	var a engine.Action
	if err := a.UnmarshalJSON(b); err != nil {
		t.Fatalf("actionID took %q, which does not decode: %v", b, err)
	}
	if a.ID != id {
		t.Fatalf("actionID read %q from %q, decoding gives %q", id, b, a.ID)
	}
	return true
}

func TestActionID(t *testing.T) {
	taken := 0
	for _, b := range actionIDSeeds() {
		if checkActionID(t, b) {
			taken++
		}
	}
	// The plain ones: all but the escaped and non-ASCII ids.
	if taken != 5 {
		t.Errorf("actionID took %d of the seeds, want 5", taken)
	}
	b := actionIDSeeds()[0]
	if n := testing.AllocsPerRun(100, func() { actionID(b) }); n != 0 {
		t.Errorf("actionID allocates %v times", n)
	}
}

func FuzzActionID(f *testing.F) {
	for _, b := range actionIDSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkActionID(t, b) })
}
