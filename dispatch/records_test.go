package dispatch

import (
	"encoding/json"
	"testing"
)

func TestRecordEncodingMatchesEncodingJSON(t *testing.T) {
	at := &Attempt{ActionID: "a<1>", Action: "check", Choreography: "shop", RuleID: "r&1", Attempt: 3, Agent: "ag\"1", Error: "boom\n", DurationMS: 12.3456}
	dl := &Delivered{ActionID: "a1", Action: "x", Choreography: "c", RuleID: "r", Agent: "ag", Attempts: 2, DurationMS: 0.0004, Results: []string{"a1/0", "a1/1"}}
	for _, v := range []any{at, dl, &Delivered{DurationMS: 1500}} {
		var viaJSON, viaOurs map[string]any
		want, _ := json.Marshal(v)
		if err := json.Unmarshal(want, &viaJSON); err != nil {
			t.Fatal(err)
		}
		got := marshal(v)
		if err := json.Unmarshal(got, &viaOurs); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		// Durations are written with three decimals; compare them rounded.
		for _, m := range []map[string]any{viaJSON, viaOurs} {
			m["duration_ms"] = float64(int64(m["duration_ms"].(float64)*1000+0.5)) / 1000
		}
		a, _ := json.Marshal(viaJSON)
		b, _ := json.Marshal(viaOurs)
		if string(a) != string(b) {
			t.Fatalf("ours %s\njson %s", got, want)
		}
	}
}
