package condition_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/choreohq/choreo/condition"
	"github.com/choreohq/choreo/event"
)

// single is a Context holding one event and no history.
type single struct{ e *event.Event }

func (s single) Event() *event.Event              { return s.e }
func (s single) Data() any                        { return s.e.Data }
func (s single) Timestamp() time.Time             { return s.e.Time }
func (s single) RecentEvents() []*event.Event     { return []*event.Event{s.e} }
func (s single) CorrelatedEvents() []*event.Event { return []*event.Event{s.e} }
func (s single) EventCount() int64                { return 1 }
func (s single) SourceEventCount() int64          { return 1 }

func Example() {
	p, issues := condition.Compile("data.?retry_count.orValue(0) < 3 && source == 'payments'", condition.Options{})
	if issues != nil {
		fmt.Println(issues)
		return
	}
	for _, data := range []string{`{"retry_count": 1}`, `{"retry_count": 3}`, `{}`} {
		e := &event.Event{ID: "e1", Type: "payment_failed", Source: "payments", Data: json.RawMessage(data)}
		ok, err := p.Eval(single{e})
		fmt.Println(data, ok, err)
	}

	_, issues = condition.Compile("data.amount >", condition.Options{})
	for _, is := range issues {
		fmt.Println(is)
	}
	// Output:
	// {"retry_count": 1} true <nil>
	// {"retry_count": 3} false <nil>
	// {} true <nil>
	// 1:14: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}
}
