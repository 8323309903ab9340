package choreography_test

import (
	"fmt"

	"github.com/choreohq/choreo/choreography"
)

func Example() {
	doc := `
name: payments
patterns:
  - event_type: payment_failed
    condition: data.?retry_count.orValue(0) < 3
    action: retry_payment
    target_capability: payment_processing
    priority: 7
sequences:
  - events: [payment_requested, payment_successful]
    max_interval: 5m
    action: close_payment
    target_capability: payments
`
	c, err := choreography.Parse("", []byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range c.Patterns {
		fmt.Println(p.ID, p.Priority, p.Condition)
	}
	for _, s := range c.Sequences {
		fmt.Println(s.ID, s.MaxInterval)
	}

	_, err = choreography.Parse("broken", []byte(`
patterns:
  - event_type: payment_failed
    condition: data.retry_count <
    action: retry_payment
    target_capabilty: payment_processing
`))
	fmt.Println(err)
	// Output:
	// payment_failed->retry_payment 7 data.?retry_count.orValue(0) < 3
	// payment_requested..payment_successful->close_payment 5m0s
	// 3:5: patterns[0]: target_capability is required
	// 4:34: patterns[0]: condition: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}
	// 6:5: patterns[0]: unknown field target_capabilty in a pattern; did you mean target_capability?
}
