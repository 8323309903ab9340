package dispatch

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/engine"
)

type ruleKey struct{ choreography, rule string }

type metrics struct {
	taken, attempts, failedAttempts, delivered, deadLettered atomic.Int64
	results, resultsRefused, recordErrors, breakerOpened     atomic.Int64
	waiting, attempting, queued, parked                      atomic.Int64
	tasksCanceled, taskCancelErrors                          atomic.Int64

	mu    sync.Mutex
	rules map[ruleKey]*RuleStats
}

// rule returns the stats of a's rule; d.m.mu must be held. A new rule's
// stats, and their key, hold copies of a's strings: those of a decoded
// action or record share memory with the whole of it (a delivery record
// of many actions, up to 256 KiB).
func (m *metrics) rule(a *engine.Action) *RuleStats {
	rs, ok := m.rules[ruleKey{a.Choreography, a.RuleID}]
	if !ok {
		rs = &RuleStats{Choreography: strings.Clone(a.Choreography), RuleID: strings.Clone(a.RuleID), Action: strings.Clone(a.Action)}
		m.rules[ruleKey{rs.Choreography, rs.RuleID}] = rs
	}
	return rs
}

// ruleAfter returns the stats of a's rule, rs if they are those; d.m.mu
// must be held.
func (m *metrics) ruleAfter(rs *RuleStats, a *engine.Action) *RuleStats {
	if rs != nil && rs.RuleID == a.RuleID && rs.Choreography == a.Choreography {
		return rs
	}
	return m.rule(a)
}

// RuleStats are the delivery figures of one rule, the course's
// per-pattern successes, failures and response time. They are rebuilt
// from the log when a Dispatcher starts.
type RuleStats struct {
	Choreography   string        `json:"choreography"`
	RuleID         string        `json:"rule_id"`
	Action         string        `json:"action"`
	Delivered      int64         `json:"delivered"`       // successes
	DeadLettered   int64         `json:"dead_lettered"`   // failures
	FailedAttempts int64         `json:"failed_attempts"` // attempts that failed, retried or not
	ResponseTime   time.Duration `json:"-"`               // total over Delivered
}

// AverageResponse returns the mean response time of the successful
// attempts.
func (r RuleStats) AverageResponse() time.Duration {
	if r.Delivered == 0 {
		return 0
	}
	return r.ResponseTime / time.Duration(r.Delivered)
}

// Metrics are a Dispatcher's counters since it was made.
type Metrics struct {
	Taken          int64 // actions started (from the outbox, recovery or a retry)
	InFlight       int64 // attempts in progress
	Waiting        int64 // actions waiting for a usable agent, in the workers or parked
	Parked         int64 // actions waiting outside the workers for an agent that can take them
	Attempts       int64
	FailedAttempts int64
	Delivered      int64
	DeadLettered   int64
	DeadLetters    int64 // in the queue now
	Results        int64 // events agents gave back, appended
	ResultsRefused int64 // events agents gave back that could not be taken (see Result.Refused) or that the store refused
	RecordErrors   int64 // failed appends of the dispatcher's records, retried
	BreakerOpened  int64 // times a breaker opened
	// TasksCanceled counts the work that actions left running at agents
	// and that the agents accepted to cancel, or no longer had, once the
	// action was dead-lettered or delivered by another agent (see
	// Canceler); TaskCancelErrors the cancels that failed.
	TasksCanceled    int64
	TaskCancelErrors int64
	// OutboxLag is how many records of the log the outbox has not read
	// yet: it grows while deliveries cannot keep up (backpressure), and
	// is 0 when the dispatcher is caught up.
	OutboxLag uint64
	// Queued counts the undone actions found in the log at start that
	// wait for a free worker.
	Queued int64
	Rules  []RuleStats
}

// Metrics returns the current counters.
func (d *Dispatcher) Metrics() Metrics {
	m := Metrics{
		Taken: d.m.taken.Load(), Waiting: d.m.waiting.Load(), Attempts: d.m.attempts.Load(),
		FailedAttempts: d.m.failedAttempts.Load(), Delivered: d.m.delivered.Load(),
		DeadLettered: d.m.deadLettered.Load(), Results: d.m.results.Load(),
		ResultsRefused: d.m.resultsRefused.Load(), RecordErrors: d.m.recordErrors.Load(),
		BreakerOpened: d.m.breakerOpened.Load(), TasksCanceled: d.m.tasksCanceled.Load(),
		TaskCancelErrors: d.m.taskCancelErrors.Load(),
	}
	m.InFlight = d.m.attempting.Load()
	m.Parked = d.m.parked.Load()
	m.Queued = d.m.queued.Load()
	read := d.readPos.Load()
	if o := d.outbox.Load(); o != nil {
		read = max(read, o.Read())
	}
	if head, err := d.st.Head(context.Background()); err == nil && head > read {
		m.OutboxLag = head - read
	}
	d.mu.Lock()
	m.DeadLetters = int64(len(d.mu.dead))
	d.mu.Unlock()
	d.m.mu.Lock()
	for _, r := range d.m.rules {
		m.Rules = append(m.Rules, *r)
	}
	d.m.mu.Unlock()
	return m
}
