package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/view"
)

// collector exposes the server's figures to Prometheus. It reads the same
// snapshots as GET /v1/metrics when scraped; nothing is counted twice.
type collector struct {
	deps    *deploy.Manager
	disp    *dispatch.Dispatcher
	actions *view.Actions
	reg     *agent.Registry
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("choreo_"+name, help, labels, nil)
}

var (
	versionLabels = []string{"choreography", "version"}
	ruleLabels    = []string{"choreography", "rule"}

	descEvents      = desc("engine_events_processed_total", "Records given to the engine of a deployed version.", versionLabels...)
	descActions     = desc("engine_actions_appended_total", "Action records a deployed version appended to the outbox.", versionLabels...)
	descLag         = desc("engine_lag_records", "Records in the log a deployed version has not processed yet.", versionLabels...)
	descSequences   = desc("engine_active_sequences", "Partial sequences a deployed version holds.", versionLabels...)
	descCorrs       = desc("engine_active_correlations", "Correlations holding state in a deployed version.", versionLabels...)
	descTimers      = desc("engine_pending_timers", "Absence timers waiting in a deployed version.", versionLabels...)
	descTriggers    = desc("rule_triggers_total", "Actions a rule decided.", ruleLabels...)
	descCondErrors  = desc("rule_condition_errors_total", "Condition evaluations of a rule that failed (counted as no match).", ruleLabels...)
	descRuleOK      = desc("rule_deliveries_total", "Actions of a rule delivered to an agent.", ruleLabels...)
	descRuleDead    = desc("rule_dead_letters_total", "Actions of a rule dead-lettered.", ruleLabels...)
	descRuleFailed  = desc("rule_failed_attempts_total", "Failed delivery attempts of a rule's actions.", ruleLabels...)
	descRuleLatency = desc("rule_response_seconds_total", "Total response time of a rule's delivered actions; divide by rule_deliveries_total for the mean.", ruleLabels...)
	descAttempts    = desc("dispatch_attempts_total", "Delivery attempts.")
	descFailed      = desc("dispatch_failed_attempts_total", "Delivery attempts that failed.")
	descDelivered   = desc("dispatch_delivered_total", "Actions delivered.")
	descDeadLetterd = desc("dispatch_dead_lettered_total", "Actions dead-lettered.")
	descResults     = desc("dispatch_results_total", "Events agents gave back, appended to the log.")
	descBreakers    = desc("dispatch_breaker_opened_total", "Times an agent's circuit breaker opened.")
	descCanceled    = desc("dispatch_tasks_canceled_total", "Work that actions left running at agents, canceled (or no longer there) once the action was dead-lettered or delivered by another agent.")
	descCancelErrs  = desc("dispatch_task_cancel_errors_total", "Work that actions left running at agents, which could not be canceled once the action was dead-lettered or delivered by another agent.")
	descInFlight    = desc("dispatch_in_flight", "Attempts in progress.")
	descWaiting     = desc("dispatch_waiting_for_agent", "Actions waiting for a usable agent.")
	descParked      = desc("dispatch_parked", "Actions waiting outside the workers for an agent that can take them (none live with the capability, or all busy).")
	descDLQ         = desc("dispatch_dead_letters", "Actions in the dead-letter queue.")
	descOutboxLag   = desc("dispatch_outbox_lag_records", "Records of the log the dispatcher's outbox has not read yet; grows while agents cannot keep up.")
	descByStatus    = desc("actions", "Recent actions by delivery status.", "status")
	descAgents      = desc("agents_registered", "Agents in the registry.")
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descActions, descLag, descSequences, descCorrs, descTimers,
		descTriggers, descCondErrors, descRuleOK, descRuleDead, descRuleFailed, descRuleLatency,
		descAttempts, descFailed, descDelivered, descDeadLetterd, descResults, descBreakers,
		descCanceled, descCancelErrs, descInFlight, descWaiting, descParked, descDLQ, descOutboxLag, descByStatus, descAgents} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
	triggers := map[[2]string][2]int64{}
	for _, d := range c.deps.Metrics() {
		v := []string{d.Name, strconv.Itoa(d.Version)}
		metric(descEvents, counter, float64(d.Runner.EventsProcessed), v...)
		metric(descActions, counter, float64(d.Runner.ActionsAppended), v...)
		metric(descLag, gauge, float64(d.Runner.Lag), v...)
		metric(descSequences, gauge, float64(d.Engine.ActiveSequences), v...)
		metric(descCorrs, gauge, float64(d.Engine.ActiveCorrelations), v...)
		metric(descTimers, gauge, float64(d.Engine.PendingTimers), v...)
		for _, r := range d.Engine.Rules { // summed over the versions of a choreography
			k := [2]string{d.Name, r.RuleID}
			t := triggers[k]
			triggers[k] = [2]int64{t[0] + r.Triggers, t[1] + r.ConditionErrors}
		}
	}
	for k, t := range triggers {
		metric(descTriggers, counter, float64(t[0]), k[0], k[1])
		metric(descCondErrors, counter, float64(t[1]), k[0], k[1])
	}
	m := c.disp.Metrics()
	for _, r := range m.Rules {
		metric(descRuleOK, counter, float64(r.Delivered), r.Choreography, r.RuleID)
		metric(descRuleDead, counter, float64(r.DeadLettered), r.Choreography, r.RuleID)
		metric(descRuleFailed, counter, float64(r.FailedAttempts), r.Choreography, r.RuleID)
		metric(descRuleLatency, counter, r.ResponseTime.Seconds(), r.Choreography, r.RuleID)
	}
	metric(descAttempts, counter, float64(m.Attempts))
	metric(descFailed, counter, float64(m.FailedAttempts))
	metric(descDelivered, counter, float64(m.Delivered))
	metric(descDeadLetterd, counter, float64(m.DeadLettered))
	metric(descResults, counter, float64(m.Results))
	metric(descBreakers, counter, float64(m.BreakerOpened))
	metric(descCanceled, counter, float64(m.TasksCanceled))
	metric(descCancelErrs, counter, float64(m.TaskCancelErrors))
	metric(descInFlight, gauge, float64(m.InFlight))
	metric(descWaiting, gauge, float64(m.Waiting))
	metric(descParked, gauge, float64(m.Parked))
	metric(descDLQ, gauge, float64(m.DeadLetters))
	metric(descOutboxLag, gauge, float64(m.OutboxLag))
	for status, n := range c.actions.Counts() {
		metric(descByStatus, gauge, float64(n), status)
	}
	metric(descAgents, gauge, float64(c.reg.Len()))
}

// newPrometheus returns the registry GET /metrics serves: choreo's figures
// and the Go runtime's and the process's.
func newPrometheus(c *collector) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}
