package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestActionDecodeFastMatchesSlow(t *testing.T) {
	base := Action{ID: "0190a1b2-0000-8000-8000-000000000001", Action: "check_inventory", TargetCapability: "inventory_management",
		Priority: 8, Choreography: "shop", RuleID: "inventory", RuleKind: KindPattern, CorrelationID: "order-1",
		TriggerEventIDs: []string{"e1", "e2"}, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Hops: 3}
	cases := []Action{base, {}, {Priority: -4, TriggerEventIDs: []string{}, Time: time.Unix(0, 0)}}
	withTimeout := base
	withTimeout.Timeout = 90 * time.Second
	escaped := base
	escaped.Action = "say \"hi\" <now>"
	escaped.CorrelationID = "line\nbreak"
	cases = append(cases, withTimeout, escaped)
	for _, a := range cases {
		b := a.AppendJSON(nil)
		var fast, slow Action
		if err := fast.UnmarshalJSON(b); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", b, err)
		}
		if err := slow.decodeSlow(b); err != nil {
			t.Fatalf("decodeSlow(%s): %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\nslow %+v\nfrom %s", fast, slow, b)
		}
	}
	var a Action
	if !a.decodeFast(base.AppendJSON(nil)) {
		t.Fatal("the fast path refused AppendJSON's own output")
	}
	// Text in the layout but not JSON: a leading zero.
	zero := strings.Replace(string(base.AppendJSON(nil)), `"hops":`, `"hops":0`, 1)
	for _, bad := range []string{``, `{`, `{"id":"x"}`, `{"id":1}`, `[]`, `{"id":"a","action":"b"` + "\x00", zero} {
		var a Action
		if err := a.UnmarshalJSON([]byte(bad)); err == nil && bad != `{"id":"x"}` {
			t.Errorf("UnmarshalJSON(%q) accepted it", bad)
		}
	}
}

func FuzzActionDecode(f *testing.F) {
	f.Add((&Action{ID: "x", TriggerEventIDs: []string{"a"}}).AppendJSON(nil))
	f.Add([]byte(`{"id":"x","action":"y","target_capability":"","priority":1,"choreography":"","rule_id":"","rule_kind":"","correlation_id":"","trigger_event_ids":[],"time":"2026-01-01T00:00:00Z","hops":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow Action
		if !fast.decodeFast(b) {
			return
		}
		if err := slow.decodeSlow(b); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\nslow %+v\nfrom %q", fast, slow, b)
		}
	})
}

func TestActionDecodeInvalidUTF8(t *testing.T) {
	b := []byte(`{"id":"a` + "\xff" + `","action":"","target_capability":"","priority":0,"choreography":"","rule_id":"","rule_kind":"","correlation_id":"","trigger_event_ids":[],"time":"2026-01-01T00:00:00Z","hops":0}`)
	var fast, slow Action
	if err := fast.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if err := slow.decodeSlow(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast %+v slow %+v", fast, slow)
	}
}
