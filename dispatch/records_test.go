package dispatch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

func TestRecordEncodingMatchesEncodingJSON(t *testing.T) {
	at := &Attempt{ActionID: "a<1>", Action: "check", Choreography: "shop", RuleID: "r&1", Attempt: 3, Agent: "ag\"1", Error: "boom\n", DurationMS: 12.3456}
	dl := &Delivered{ActionID: "a1", Action: "x", Choreography: "c", RuleID: "r", Agent: "ag", Attempts: 2, DurationMS: 0.0004, Results: []string{"a1/0", "a1/1"}}
	withTask := *at
	withTask.Task = "task<7>"
	for _, v := range []any{at, &withTask, dl, &Delivered{DurationMS: 1500}, &Delivered{Results: []string{"x"}, ResultsOmitted: 7}} {
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

// checkDeliveries fails t unless Deliveries.UnmarshalJSON and
// encoding/json agree on b, and unless a fast-path decoding agrees with
// encoding/json.
func checkDeliveries(t *testing.T, b []byte) {
	t.Helper()
	type plain Deliveries
	var want plain
	wantErr := json.Unmarshal(b, &want)
	var got, fast Deliveries
	gotErr := got.UnmarshalJSON(b)
	if (gotErr == nil) != (wantErr == nil) || (wantErr == nil && !reflect.DeepEqual(got, Deliveries(want))) {
		t.Fatalf("UnmarshalJSON(%q) = %+v, %v; encoding/json: %+v, %v", b, got, gotErr, want, wantErr)
	}
	if fast.decodeFast(b) && (wantErr != nil || !reflect.DeepEqual(fast, Deliveries(want))) {
		t.Fatalf("fast path on %q = %+v; encoding/json: %+v, %v", b, fast, want, wantErr)
	}
}

func sampleDeliveries() []Deliveries {
	return []Deliveries{
		{Deliveries: []Delivered{}},
		{Deliveries: []Delivered{
			{ActionID: "a1", Action: "check", Choreography: "shop", RuleID: "r", Agent: "ag", Attempts: 2, DurationMS: 12.3456, Results: []string{"a1/0", "a1/1"}},
			{ActionID: "a2", Action: "pay", Choreography: "shop", RuleID: "r2", Agent: "ag-2", Attempts: 1, DurationMS: 0.0004},
			{ActionID: "a4", Action: "ship", Choreography: "shop", RuleID: "r4", Agent: "ag", Attempts: 1, DurationMS: 1, Results: []string{"a4/0"}, ResultsOmitted: 12000},
			{ActionID: "a<3>", Agent: "é", DurationMS: 1e9},
		}},
	}
}

// TestDeliveriesDecode: the dispatcher's own records take the fast path,
// and every decoding agrees with encoding/json.
func TestDeliveriesDecode(t *testing.T) {
	for i, ds := range sampleDeliveries() {
		b := ds.appendJSON(nil)
		checkDeliveries(t, b)
		var fast Deliveries
		if ok := fast.decodeFast(b); ok != (i == 0) { // record 1 holds escapes
			t.Errorf("record %d: fast path taken = %v: %s", i, ok, b)
		}
		// Without its escaped entry, the second record takes the fast path.
		if i == 1 {
			plain := Deliveries{Deliveries: ds.Deliveries[:3]}
			if !fast.decodeFast(plain.appendJSON(nil)) {
				t.Errorf("the fast path refused %s", plain.appendJSON(nil))
			}
		}
	}
	for _, b := range []string{``, `null`, `{}`, `{"deliveries":null}`, `{"deliveries":[]}`, `{"deliveries":[]} `,
		`{"deliveries":[{"action_id":"a","action":"b","choreography":"c","rule_id":"r","agent":"g","attempts":01,"duration_ms":1}]}`,
		`{"deliveries":[{"action_id":"a","action":"b","choreography":"c","rule_id":"r","agent":"g","attempts":1,"duration_ms":1e999}]}`,
		`{"deliveries":[{"action_id":"a","action":"b","choreography":"c","rule_id":"r","agent":"g","attempts":1,"duration_ms":.5}]}`,
		`{"deliveries":[{"action_id":"a","action":"b","choreography":"c","rule_id":"r","agent":"g","attempts":1,"duration_ms":2,"results":[]}]}`,
		`{"deliveries":[{"action_id":"a","action":"b","choreography":"c","rule_id":"r","agent":"g","attempts":1,"duration_ms":2,"results_omitted":-1}]}`,
		`{"deliveries":[{"action_id":"a","action":"b","choreography":"c","rule_id":"r","agent":"g","attempts":1,"duration_ms":2,"results_omitted":1.5}]}`,
	} {
		checkDeliveries(t, []byte(b))
	}
}

func FuzzDeliveriesDecode(f *testing.F) {
	for _, ds := range sampleDeliveries() {
		f.Add(ds.appendJSON(nil))
	}
	f.Fuzz(checkDeliveries)
}

// BenchmarkDeliveriesDecode decodes a record of 512 deliveries, as the
// dispatcher's recovery and the actions view read them.
func BenchmarkDeliveriesDecode(b *testing.B) {
	var ds Deliveries
	for i := range 512 {
		ds.Deliveries = append(ds.Deliveries, Delivered{ActionID: fmt.Sprintf("0192f3a4-0000-8000-8000-%012d", i),
			Action: "check_inventory", Choreography: "ecommerce", RuleID: "order_received", Agent: "inventory",
			Attempts: 1, DurationMS: 1.234})
	}
	rec := ds.appendJSON(nil)
	type plain Deliveries
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			var v plain
			if err := json.Unmarshal(rec, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalJSON", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			var v Deliveries
			if err := v.UnmarshalJSON(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
