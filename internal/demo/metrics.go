package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/choreohq/choreo/client"
)

// serverMetrics reads GET /v1/metrics into the figures the demo reports.
func serverMetrics(ctx context.Context, cl *client.Client) (*ServerMetrics, error) {
	raw, err := cl.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var m ServerMetrics
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: decoding the metrics: %v", client.ErrProtocol, err)
	}
	return &m, nil
}

// ServerMetrics are the figures of GET /v1/metrics the demo reports.
type ServerMetrics struct {
	Engine struct {
		EventsProcessed    int64 `json:"events_processed"`    // user events and clock events given to the engine
		ActionsDecided     int64 `json:"actions_decided"`     // actions the engines decided
		ActionsAppended    int64 `json:"actions_appended"`    // of those, put in the outbox
		CompletedSequences int64 `json:"completed_sequences"` // sequences that ran to their end
	} `json:"engine"`
	Rules    []RuleMetrics `json:"rules"`
	Dispatch struct {
		Attempts       int64 `json:"attempts"`
		FailedAttempts int64 `json:"failed_attempts"`
		Delivered      int64 `json:"delivered"`
		DeadLettered   int64 `json:"dead_lettered"`
		DeadLetters    int64 `json:"dead_letters"` // in the queue now
		Results        int64 `json:"results"`      // events agents gave back
		BreakerOpened  int64 `json:"breaker_opened"`
		InFlight       int64 `json:"in_flight"`
		Waiting        int64 `json:"waiting_for_agent"`
	} `json:"dispatch"`
	Agents struct {
		Registered int `json:"registered"`
	} `json:"agents"`
}

// RuleMetrics are one rule's figures in GET /v1/metrics.
type RuleMetrics struct {
	Choreography      string  `json:"choreography"`
	RuleID            string  `json:"rule_id"`
	Action            string  `json:"action"`
	Triggers          int64   `json:"triggers"`        // times the rule matched
	Successes         int64   `json:"successes"`       // actions delivered
	Failures          int64   `json:"failures"`        // actions dead-lettered
	FailedAttempts    int64   `json:"failed_attempts"` // attempts that failed, retried or not
	AverageResponseMS float64 `json:"average_response_ms"`
}

// idle reports whether the server has delivered or given up on every
// action it decided.
func (m *ServerMetrics) idle() bool {
	d := &m.Dispatch
	return d.InFlight == 0 && d.Waiting == 0 && d.Delivered+d.DeadLettered >= m.Engine.ActionsAppended
}
