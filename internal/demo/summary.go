package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/choreohq/choreo/agent"
)

// Report is what a demo run did: each order's fate, what each agent
// received, the latencies the demo measured and the server's own figures.
type Report struct {
	Seed       uint64
	Orders     []OrderReport // in the order they were published
	Delivered  int           // orders delivered, reviewed and closed
	Cancelled  int           // orders cancelled
	Unfinished int           // orders that had not ended when the wait ran out
	// Elapsed runs from the first order published to the end of the last
	// order, or to the end of the wait when some did not end.
	Elapsed time.Duration
	Agents  []AgentReport
	// Decide is the time from an event's commit to the commit of an action
	// it triggered; Receive, to the agent receiving the first attempt of
	// that action. Both are measured on the log's commit times and the
	// agents' clocks, which are the same machine's.
	Decide, Receive Latency
	Metrics         *ServerMetrics // GET /v1/metrics once the server was idle
}

// OrderReport is what became of one order.
type OrderReport struct {
	ID       string
	Kind     Kind
	Expected string // the outcome the plan leads to: OutcomeDelivered or OutcomeCancelled
	Outcome  string // the outcome seen in the log; "" when the order did not end
	Events   int    // events of its correlation in the log
	Last     string // the type of its latest event
	Pending  int    // its actions not yet delivered or dead-lettered
}

// AgentReport is one simulated agent and how many action requests reached
// it, retries included.
type AgentReport struct {
	Label        string // the demo's short name, e.g. "payments"
	ID           string // its id in the registry
	Name         string
	Protocol     string // agent.ProtocolWebhook or agent.ProtocolA2A
	Capabilities []string
	Received     int64
}

// Latency summarises a set of durations.
type Latency struct {
	N             int           // how many
	P50, P90, Max time.Duration // the median, the 90th percentile and the largest
}

func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1)+0.5)] }
	return Latency{N: len(ds), P50: q(0.5), P90: q(0.9), Max: ds[len(ds)-1]}
}

// String writes the figures for people, e.g. "p50 1.2 ms · p90 3.4 ms ·
// max 5.6 ms  (80 actions)".
func (l Latency) String() string {
	if l.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s · p90 %s · max %s  (%d actions)", millis(l.P50), millis(l.P90), millis(l.Max), l.N)
}

// report gathers the Report.
func (d *Demo) report(first time.Time, m *ServerMetrics, timedOut bool) *Report {
	orders, last := d.tracker.orders()
	rep := &Report{Seed: d.plan.Seed, Orders: orders, Metrics: m}
	for _, o := range orders {
		switch o.Outcome {
		case OutcomeDelivered:
			rep.Delivered++
		case OutcomeCancelled:
			rep.Cancelled++
		default:
			rep.Unfinished++
		}
	}
	if timedOut || last.IsZero() {
		rep.Elapsed = time.Since(first)
	} else {
		rep.Elapsed = max(last.Sub(first), 0)
	}
	for _, a := range d.agents {
		rep.Agents = append(rep.Agents, AgentReport{
			Label: a.id, ID: a.registeredID(), Name: a.name, Protocol: a.protocol,
			Capabilities: a.caps, Received: a.received.Load(),
		})
	}
	decide, receive := d.tracker.latencies(d.world.receipts.all())
	rep.Decide, rep.Receive = latencyOf(decide), latencyOf(receive)
	return rep
}

// writeSummary writes rep as a few readable tables.
func (d *Demo) writeSummary(rep *Report) {
	p := d.out
	m := rep.Metrics
	var b strings.Builder
	head := func(s string) { b.WriteString("\n  " + p.style(ansiBold, s) + "\n") }
	row := func(k, v string) { fmt.Fprintf(&b, "  %-12s %s\n", k, v) }

	head("summary")
	row("orders", fmt.Sprintf("%d published at %g/s (seed %d): %d delivered, %d cancelled, %d unfinished, in %.1f s",
		len(rep.Orders), d.cfg.Rate, rep.Seed, rep.Delivered, rep.Cancelled, rep.Unfinished, rep.Elapsed.Seconds()))
	row("engine", fmt.Sprintf("%d events processed, %d actions decided, %d sequences completed",
		m.Engine.EventsProcessed, m.Engine.ActionsDecided, m.Engine.CompletedSequences))
	row("dispatch", fmt.Sprintf("%d actions delivered in %s, %s, %d dead-lettered (%d in the queue), %s opened",
		m.Dispatch.Delivered, plural(int(m.Dispatch.Attempts), "attempt"), plural(int(m.Dispatch.FailedAttempts), "failed attempt"),
		m.Dispatch.DeadLettered, m.Dispatch.DeadLetters, plural(int(m.Dispatch.BreakerOpened), "circuit breaker")))
	row("agents", fmt.Sprintf("%d registered; they gave back %s", m.Agents.Registered, plural(int(m.Dispatch.Results), "event")))
	row("latency", "event committed → action decided   "+rep.Decide.String())
	row("", "event committed → agent received   "+rep.Receive.String())

	rules := slices.Clone(m.Rules)
	slices.SortStableFunc(rules, func(a, b RuleMetrics) int { return strings.Compare(a.RuleID, b.RuleID) })
	head(fmt.Sprintf("%-26s %-28s %8s %9s %8s %5s %12s", "rule", "action", "triggers", "delivered", "retried", "dead", "avg response"))
	for _, r := range rules {
		if r.Action == "" {
			r.Action = "(never dispatched)"
		}
		resp := "-"
		if r.Successes > 0 {
			resp = fmt.Sprintf("%.1f ms", r.AverageResponseMS)
		}
		fmt.Fprintf(&b, "  %-26s %-28s %8d %9d %8d %5d %12s\n", r.RuleID, r.Action, r.Triggers, r.Successes, r.FailedAttempts, r.Failures, resp)
	}

	head(fmt.Sprintf("%-14s %-8s %-40s %8s", "agent", "protocol", "capabilities", "requests"))
	for _, a := range rep.Agents {
		fmt.Fprintf(&b, "  %-14s %-8s %-40s %8d\n", a.Label, protocolName(a.Protocol), strings.Join(a.Capabilities, ", "), a.Received)
	}

	if rep.Unfinished > 0 {
		head("unfinished orders")
		for _, o := range rep.Orders {
			if o.Outcome == "" {
				fmt.Fprintf(&b, "  %-12s %-10s last event %q, %d actions pending\n", o.ID, o.Kind, o.Last, o.Pending)
			}
		}
	}
	var wrong []string
	for _, o := range rep.Orders {
		if o.Outcome != "" && o.Outcome != o.Expected {
			wrong = append(wrong, fmt.Sprintf("%s ended %s, planned %s", o.ID, o.Outcome, o.Expected))
		}
	}
	if len(wrong) > 0 {
		head("orders that ended otherwise than planned")
		for _, w := range wrong {
			b.WriteString("  " + w + "\n")
		}
	}
	b.WriteString("\n")
	p.printf("%s", b.String())
}

// protocolName is how the summary names a protocol.
func protocolName(p string) string {
	if p == agent.ProtocolA2A {
		return "A2A"
	}
	return p
}
