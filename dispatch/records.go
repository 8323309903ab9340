package dispatch

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/jsonscan"
	"github.com/choreohq/choreo/internal/jsonw"
)

// The records the dispatcher appends. Attempts and deliveries go to the
// outbox stream itself (live.ActionsStream), after the action they are
// about; dead letters and what is done with them go to DeadLetterStream.
// Replaying both streams in log order rebuilds which actions are done,
// which wait in the dead-letter queue and which must be delivered again.
const (
	// DeadLetterStream holds DeadLetterType, RetryType and DiscardType
	// records.
	DeadLetterStream = "$dlq"

	// AttemptType records a failed attempt (an Attempt).
	AttemptType = "choreo.action.attempt_failed"
	// DeliveredType records actions delivered (a Deliveries): they are
	// done. One record carries the deliveries the dispatcher recorded
	// together.
	DeliveredType = "choreo.actions.delivered"
	// DeadLetterType records an action given up on (a DeadLetter).
	DeadLetterType = "choreo.action.dead_lettered"
	// RetryType records a dead letter sent back for delivery (a Ref).
	RetryType = "choreo.dlq.retried"
	// DiscardType records a dead letter removed for good (a Ref).
	DiscardType = "choreo.dlq.discarded"

	// Source is the source of the dispatcher's records.
	Source = "choreo/dispatcher"
)

// Attempt is the data of an AttemptType record.
type Attempt struct {
	ActionID     string  `json:"action_id"`
	Action       string  `json:"action"`
	Choreography string  `json:"choreography"`
	RuleID       string  `json:"rule_id"`
	Attempt      int     `json:"attempt"`
	Agent        string  `json:"agent"`
	Error        string  `json:"error"`
	DurationMS   float64 `json:"duration_ms"`
	// Task names the work the attempt left running at the agent (see
	// InProgress); empty when none.
	Task string `json:"task,omitempty"`
}

// Deliveries is the data of a DeliveredType record.
type Deliveries struct {
	Deliveries []Delivered `json:"deliveries"`
}

// The JSON of a Deliveries around its list.
const (
	deliveriesOpen  = `{"deliveries":[`
	deliveriesClose = "]}"
)

func (ds *Deliveries) appendJSON(b []byte) []byte {
	b = append(b, deliveriesOpen...)
	for i := range ds.Deliveries {
		if i > 0 {
			b = append(b, ',')
		}
		b = ds.Deliveries[i].appendJSON(b)
	}
	return append(b, deliveriesClose...)
}

// UnmarshalJSON decodes what appendJSON encodes. Input in exactly that
// layout, with strings of printable ASCII and no escapes, takes a fast
// path without reflection; anything else goes through encoding/json.
func (ds *Deliveries) UnmarshalJSON(b []byte) error {
	if ds.decodeFast(b) {
		return nil
	}
	type plain Deliveries
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*ds = Deliveries(v)
	return nil
}

func (ds *Deliveries) decodeFast(b []byte) bool {
	s := jsonscan.New(b)
	var out []Delivered
	s.Lit(`{"deliveries":[`)
	for s.OK() && !s.Peek("]") {
		if len(out) > 0 {
			s.Lit(",")
		}
		var dl Delivered
		s.Lit(`{"action_id":`)
		dl.ActionID = s.Str()
		s.Lit(`,"action":`)
		dl.Action = s.Str()
		s.Lit(`,"choreography":`)
		dl.Choreography = s.Str()
		s.Lit(`,"rule_id":`)
		dl.RuleID = s.Str()
		s.Lit(`,"agent":`)
		dl.Agent = s.Str()
		s.Lit(`,"attempts":`)
		dl.Attempts = s.Int()
		s.Lit(`,"duration_ms":`)
		dl.DurationMS = s.Float()
		if s.Peek(`,"results":`) {
			s.Lit(`,"results":`)
			dl.Results = s.Strs(false)
		}
		if s.Peek(`,"results_omitted":`) {
			s.Lit(`,"results_omitted":`)
			dl.ResultsOmitted = s.Int()
		}
		s.Lit("}")
		out = append(out, dl)
	}
	s.Lit("]}")
	if !s.Done() {
		return false
	}
	if out == nil {
		out = []Delivered{}
	}
	ds.Deliveries = out
	return true
}

// size bounds the length of d's JSON.
func (dl *Delivered) size() int {
	n := 190 + jsonLen(dl.ActionID) + jsonLen(dl.Action) + jsonLen(dl.Choreography) + jsonLen(dl.RuleID) + jsonLen(dl.Agent)
	for _, r := range dl.Results {
		n += jsonLen(r) + 1
	}
	return n
}

// jsonLen bounds the length of s written as a JSON string by
// jsonw.StringHTML: a byte it may escape counts six.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			n += 6
		default:
			n++
		}
	}
	return n
}

// maxErrorBytes bounds the error text kept in a record.
const maxErrorBytes = 2048

// clip shortens s to at most maxErrorBytes bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxErrorBytes {
		return s
	}
	cut := maxErrorBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Delivered is one action delivered, in a Deliveries.
type Delivered struct {
	ActionID     string   `json:"action_id"`
	Action       string   `json:"action"`
	Choreography string   `json:"choreography"`
	RuleID       string   `json:"rule_id"`
	Agent        string   `json:"agent"`
	Attempts     int      `json:"attempts"`
	DurationMS   float64  `json:"duration_ms"` // the response time of the successful attempt
	Results      []string `json:"results,omitempty"`
	// ResultsOmitted counts the ids of events the agent gave back that
	// are not listed in Results, which lists at most maxListedResults
	// bytes of ids so that the record stays well under the log's event
	// size limit however many events an agent gives back.
	ResultsOmitted int `json:"results_omitted,omitempty"`
}

// maxListedResults bounds the bytes of result ids a Delivered lists, as
// JSON (jsonLen).
const maxListedResults = 64 << 10

// DeadLetter is an action the dispatcher gave up on: the data of a
// DeadLetterType record, and an entry of the dead-letter queue.
type DeadLetter struct {
	ActionID  string        `json:"action_id"`
	Action    engine.Action `json:"action"`
	Reason    string        `json:"reason"` // one of the Reason constants
	Attempts  int           `json:"attempts"`
	LastError string        `json:"last_error,omitempty"`
	Agent     string        `json:"agent,omitempty"` // the agent of the last attempt
	// Tasks is the work the attempts left running at agents (see
	// InProgress), which the dispatcher asked them to cancel.
	Tasks []LeftTask `json:"tasks,omitempty"`
	Time  time.Time  `json:"time"`
}

// LeftTask is work an action's attempts left running at an agent, which
// the dispatcher asked the agent to cancel when it gave up on the action.
type LeftTask struct {
	Agent string `json:"agent"`
	Task  string `json:"task"`
	// CancelError says why the cancel failed; empty when the agent
	// accepted it, or no longer had the work.
	CancelError string `json:"cancel_error,omitempty"`
}

// Ref names an action: the data of RetryType and DiscardType records.
type Ref struct {
	ActionID string `json:"action_id"`
}

// appendJSON appends at as JSON, as encoding/json would write it.
func (at *Attempt) appendJSON(b []byte) []byte {
	b = appendCommon(b, at.ActionID, at.Action, at.Choreography, at.RuleID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(at.Attempt), 10)
	b = append(b, `,"agent":`...)
	b = jsonw.StringHTML(b, at.Agent)
	b = append(b, `,"error":`...)
	b = jsonw.StringHTML(b, at.Error)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, at.DurationMS)
	if at.Task != "" {
		b = append(b, `,"task":`...)
		b = jsonw.StringHTML(b, at.Task)
	}
	return append(b, '}')
}

// appendJSON appends dl as JSON, as encoding/json would write it.
func (dl *Delivered) appendJSON(b []byte) []byte {
	b = appendCommon(b, dl.ActionID, dl.Action, dl.Choreography, dl.RuleID)
	b = append(b, `,"agent":`...)
	b = jsonw.StringHTML(b, dl.Agent)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(dl.Attempts), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, dl.DurationMS)
	if len(dl.Results) > 0 {
		b = append(b, `,"results":[`...)
		for i, r := range dl.Results {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.StringHTML(b, r)
		}
		b = append(b, ']')
	}
	if dl.ResultsOmitted != 0 {
		b = append(b, `,"results_omitted":`...)
		b = strconv.AppendInt(b, int64(dl.ResultsOmitted), 10)
	}
	return append(b, '}')
}

func appendCommon(b []byte, id, action, choreography, rule string) []byte {
	b = append(b, `{"action_id":`...)
	b = jsonw.StringHTML(b, id)
	b = append(b, `,"action":`...)
	b = jsonw.StringHTML(b, action)
	b = append(b, `,"choreography":`...)
	b = jsonw.StringHTML(b, choreography)
	b = append(b, `,"rule_id":`...)
	return jsonw.StringHTML(b, rule)
}

// appendMillis appends a number of milliseconds with three decimals.
func appendMillis(b []byte, ms float64) []byte {
	us := int64(ms*1000 + 0.5)
	if us < 0 {
		us = 0
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// marshal encodes one of the record types.
func marshal(v any) []byte {
	switch v := v.(type) {
	case *Attempt:
		return v.appendJSON(nil)
	case *Delivered:
		return v.appendJSON(nil)
	case *Deliveries:
		return v.appendJSON(nil)
	}
	b, err := json.Marshal(v)
	if err != nil { // the record types above always encode
		panic("dispatch: encoding a record: " + err.Error())
	}
	return b
}

// record makes a dispatcher record about action a.
func record(typ string, a *engine.Action, data any, now time.Time) *event.Event {
	b := marshal(data)
	return &event.Event{
		SpecVersion:     event.SpecVersion,
		ID:              event.NewID(),
		Source:          Source,
		Type:            typ,
		Time:            now,
		DataContentType: "application/json",
		Data:            b,
		CorrelationID:   recordCorrelation(a),
		CausationID:     a.ID,
	}
}

// recordCorrelation is the correlation id of a record about a, or of an
// event its agent gave back without one: a's, unless
// a comes from an event logged before correlation ids were bounded and
// its correlation would make the record invalid; the record is then its
// own correlation.
func recordCorrelation(a *engine.Action) string {
	if event.UsableID(a.CorrelationID) {
		return a.CorrelationID
	}
	return ""
}
