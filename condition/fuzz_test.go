package condition

import (
	"testing"
)

// FuzzCompile checks that no text makes Compile or Eval panic, and that
// every issue has a plausible position.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"", "true", "data.order_value > 0", "data.?retry_count.orValue(0) < 3",
		"recent_events.exists(e, e.type == 'x')", "event.time < timestamp", "a +",
		"data.items.map(i, i.qty).exists(q, q > 2)", "'\\u00e9'.size() == 1", "[1,2,3].all(x, x > 0)",
		"correlated_events.all(a, correlated_events.all(b, a.id == b.id))", "size(data) / 0 == 1",
		"dyn(event)['type'] == 'x'", "event == recent_events[0]", "type(data) == map",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		p, issues := Compile(expr, Options{})
		if p == nil && len(issues) == 0 {
			t.Fatalf("Compile(%q) returned neither a program nor issues", expr)
		}
		for _, is := range issues {
			if is.Line < 0 || is.Col < 0 || is.Msg == "" {
				t.Fatalf("Compile(%q): bad issue %+v", expr, is)
			}
		}
		if p != nil {
			for _, raw := range []bool{false, true} {
				_, _ = p.Eval(newFake(raw))
			}
		}
	})
}
