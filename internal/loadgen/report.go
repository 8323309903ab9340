package loadgen

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is the outcome of a run. Its JSON form is what choreo bench
// --output json prints; durations are in milliseconds or seconds, as the
// field names say.
type Report struct {
	Target      string  `json:"target"`                 // the API's base URL
	Label       string  `json:"label,omitempty"`        // Config.Label
	Mode        string  `json:"mode"`                   // "open" (at Rate) or "closed" (flat out)
	Rate        float64 `json:"offered_rate,omitempty"` // events/s offered, open loop only
	Batch       int     `json:"batch"`
	Connections int     `json:"connections"`
	DataSize    int     `json:"data_size"`

	// ElapsedSeconds is the time from the first request's (scheduled)
	// send to the end of the last response.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Requests is the number of requests sent; RequestsOK of them were
	// answered 201, RequestsFailed were not (see Errors).
	Requests       int64 `json:"requests"`
	RequestsOK     int64 `json:"requests_ok"`
	RequestsFailed int64 `json:"requests_failed"`
	// EventsSent is the number of events in the requests sent;
	// EventsAccepted of them were in requests answered 201, and so are in
	// the log, on disk unless the server was told not to wait for it.
	EventsSent     int64 `json:"events_sent"`
	EventsAccepted int64 `json:"events_accepted"`
	// EventsUnsent counts, in open loop, the events of requests that were
	// scheduled before the end but that no connection had started by
	// then: the offered rate was not kept up.
	EventsUnsent int64 `json:"events_unsent"`
	// EventsPerSecond is EventsAccepted per second of ElapsedSeconds;
	// RequestsPerSecond counts every request answered.
	EventsPerSecond   float64 `json:"events_per_second"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Publish is the latency of requests answered 201: from the send
	// (closed loop) or the scheduled send (open loop) to the end of the
	// response.
	Publish Latency `json:"publish_latency"`
	// Errors counts the requests that failed, by status and code, most
	// frequent first.
	Errors []ErrorCount `json:"errors"`

	// CPUSeconds is the user and system CPU time this process used from
	// the start of publishing to the end of the run (with Dispatch, to the
	// end of the wait for actions): the load generator's, and with an
	// embedded server the server's as well. CPUMicrosPerEvent divides it
	// by EventsAccepted. Both are 0 where the process's CPU time cannot be
	// read. On a machine that runs nothing else, they say what an event
	// costs more steadily than rates and latencies do.
	CPUSeconds        float64 `json:"cpu_seconds,omitempty"`
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event,omitempty"`
	// ServerInProcess is Config.ServerInProcess.
	ServerInProcess bool `json:"server_in_process,omitempty"`

	// Dispatch is set for a run with Config.Dispatch.
	Dispatch *DispatchReport `json:"dispatch,omitempty"`

	// Warnings say what may make the figures misleading.
	Warnings []string `json:"warnings,omitempty"`
}

// DispatchReport is what the bench's own agent received.
type DispatchReport struct {
	AgentID    string `json:"agent_id"`
	Capability string `json:"capability"`
	// Received counts the actions received for events of this run, each
	// trigger event once.
	Received int64 `json:"received"`
	// Missing counts the accepted events whose action had not arrived
	// GraceSeconds after publishing ended.
	Missing int64 `json:"missing"`
	// Duplicates counts repeated deliveries of an action already received
	// (delivery is at least once).
	Duplicates int64 `json:"duplicates"`
	// Unexpected counts actions for events whose request was not answered
	// 201 (the append may still have happened, e.g. after a client
	// timeout).
	Unexpected int64 `json:"unexpected"`
	// Foreign counts actions that were not for events of this run.
	Foreign int64 `json:"foreign"`
	// ActionsPerSecond is Received per second from the start of the run
	// to the last action received.
	ActionsPerSecond float64 `json:"actions_per_second"`
	GraceSeconds     float64 `json:"grace_seconds"`
	// Latency runs from the send of the trigger event (its scheduled send
	// in open loop) to the agent receiving the action, first deliveries
	// only.
	Latency Latency `json:"latency"`
}

// Latency sums up a Histogram, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// ms returns d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// LatencyOf sums up h.
func LatencyOf(h *Histogram) Latency {
	return Latency{
		Count: h.Count(), Min: ms(h.Min()), Mean: ms(h.Mean()),
		P50: ms(h.Quantile(0.50)), P95: ms(h.Quantile(0.95)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()),
	}
}

// ErrorCount is the number of failed requests with one status and code.
type ErrorCount struct {
	// Status is the HTTP status, or 0 when no response came.
	Status int `json:"status"`
	// Code is the error code of the response body, or for no response
	// the kind of failure: "timeout", "connection_refused",
	// "connection_reset", "eof" or "transport".
	Code  string `json:"code"`
	Count int64  `json:"count"`
	// Sample is the message of one of them.
	Sample string `json:"sample,omitempty"`
}

// OK reports whether the run went as it should: events were accepted,
// no request failed, none was left unsent, and with dispatch every
// accepted event's action arrived.
func (r *Report) OK() bool {
	ok := r.EventsAccepted > 0 && r.RequestsFailed == 0 && r.EventsUnsent == 0
	if r.Dispatch != nil {
		ok = ok && r.Dispatch.Missing == 0
	}
	return ok
}

// WriteText writes r for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := "closed loop, flat out"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %s events/s", num(r.Rate))
	}
	batch := "single events"
	if r.Batch > 1 {
		batch = fmt.Sprintf("batches of %d", r.Batch)
	}
	target := r.Target
	if r.Label != "" {
		target += " (" + r.Label + ")"
	}
	fmt.Fprintf(&b, "choreo bench: %s\n%s, %d connections, %s, %d bytes of data per event\n\n",
		target, mode, r.Connections, batch, r.DataSize)
	fmt.Fprintf(&b, "publish   %d of %d events accepted (201) in %d requests over %.2f s\n",
		r.EventsAccepted, r.EventsSent, r.Requests, r.ElapsedSeconds)
	fmt.Fprintf(&b, "          %s events/s accepted, %s requests/s\n", num(r.EventsPerSecond), num(r.RequestsPerSecond))
	from := "send"
	if r.Mode == "open" {
		from = "scheduled send"
	}
	fmt.Fprintf(&b, "          latency, %s to response: %s\n", from, r.Publish.text())
	if r.EventsUnsent > 0 {
		fmt.Fprintf(&b, "          %d events scheduled but not sent: the offered rate was not kept up\n", r.EventsUnsent)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintf(&b, "errors    none\n")
	} else {
		fmt.Fprintf(&b, "errors    %d requests failed\n", r.RequestsFailed)
		for _, e := range r.Errors {
			status := "no response"
			if e.Status != 0 {
				status = fmt.Sprint(e.Status)
			}
			fmt.Fprintf(&b, "          %8d  %s %s", e.Count, status, e.Code)
			if e.Sample != "" {
				fmt.Fprintf(&b, ": %s", e.Sample)
			}
			b.WriteByte('\n')
		}
	}
	if d := r.Dispatch; d != nil {
		fmt.Fprintf(&b, "dispatch  %d actions received by agent %s (capability %s), %d missing after %s s grace\n",
			d.Received, d.AgentID, d.Capability, d.Missing, num(d.GraceSeconds))
		fmt.Fprintf(&b, "          %s actions/s, %d duplicates, %d for events not accepted, %d not of this run\n",
			num(d.ActionsPerSecond), d.Duplicates, d.Unexpected, d.Foreign)
		fmt.Fprintf(&b, "          latency, %s of event to action received: %s\n", from, d.Latency.text())
	}
	if r.CPUSeconds > 0 {
		whose := "the load generator's"
		if r.ServerInProcess {
			whose = "the server's and the load generator's"
		}
		fmt.Fprintf(&b, "cpu       %s s of this process (user and system, %s), %s µs per event accepted\n",
			num(r.CPUSeconds), whose, num(r.CPUMicrosPerEvent))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning   %s\n", w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// text formats l on one line.
func (l Latency) text() string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s ms  p95 %s ms  p99 %s ms  max %s ms  (mean %s ms, %d samples)",
		num(l.P50), num(l.P95), num(l.P99), num(l.Max), num(l.Mean), l.Count)
}

// num formats a figure with three significant digits, or as a whole
// number when it is larger.
func num(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	case f >= 1:
		return fmt.Sprintf("%.2f", f)
	default:
		return fmt.Sprintf("%.3f", f)
	}
}
