package engine

import (
	"strings"
	"testing"
	"time"
)

func idFromJSONSeeds() [][]byte {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)
	base := Action{ID: "0193a4f0-0000-8000-8000-000000000001", Action: "check", TargetCapability: "cap",
		Priority: 8, Choreography: "shop", RuleID: "r", RuleKind: KindPattern, CorrelationID: "order-1",
		TriggerEventIDs: []string{"a", "b"}, Time: t0, Hops: 3}
	var seeds [][]byte
	for _, change := range []func(a *Action){
		func(*Action) {},
		func(a *Action) { a.Timeout = 90 * time.Second },
		func(a *Action) { a.TriggerEventIDs = nil },
		func(a *Action) { a.ID = `with "quotes" and <html>` },
		func(a *Action) { a.ID = "café" },
		func(a *Action) { a.Priority, a.Hops = -1, 0 },
		func(a *Action) { a.Time = time.Time{} },
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

// checkIDFromJSON fails t if IDFromJSON takes b while the action's decoder
// refuses it or decodes another id.
func checkIDFromJSON(t *testing.T, b []byte) (taken bool) {
	t.Helper()
	id, ok := IDFromJSON(b)
	if !ok {
		return false
	}
	var a Action
	if err := a.UnmarshalJSON(b); err != nil {
		t.Fatalf("IDFromJSON took %q, which does not decode: %v", b, err)
	}
	if a.ID != id {
		t.Fatalf("IDFromJSON read %q from %q, decoding gives %q", id, b, a.ID)
	}
	id, corr, ok := KeysFromJSON(b)
	if !ok || id != a.ID || corr != a.CorrelationID {
		t.Fatalf("KeysFromJSON read %q, %q, %v from %q, decoding gives %q, %q", id, corr, ok, b, a.ID, a.CorrelationID)
	}
	return true
}

func TestIDFromJSON(t *testing.T) {
	taken := 0
	for _, b := range idFromJSONSeeds() {
		if checkIDFromJSON(t, b) {
			taken++
		}
	}
	// The plain ones: all but the escaped and non-ASCII ids.
	if taken != 5 {
		t.Errorf("IDFromJSON took %d of the seeds, want 5", taken)
	}
	b := idFromJSONSeeds()[0]
	if n := testing.AllocsPerRun(100, func() { IDFromJSON(b); KeysFromJSON(b) }); n != 0 {
		t.Errorf("IDFromJSON allocates %v times", n)
	}
}

func FuzzIDFromJSON(f *testing.F) {
	for _, b := range idFromJSONSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkIDFromJSON(t, b) })
}
