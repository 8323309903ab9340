package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/choreohq/choreo/internal/jsonscan"
	"github.com/choreohq/choreo/internal/jsonw"
)

// Rule kinds, as reported in Action.RuleKind and RuleMetrics.Kind. The
// complex kinds are the choreography package's Kind constants.
const (
	KindPattern  = "pattern"
	KindSequence = "sequence"
)

// Action is a decision to ask an agent with TargetCapability to perform
// Action. Its ID derives from the choreography, the rule and the trigger
// event ids only, so the same events in the same order give the same
// actions with the same ids, on any machine and on every replay: the id is
// the idempotency key of delivery.
type Action struct {
	ID               string   `json:"id"`                // deterministic: a UUID-shaped (version 8) digest of choreography, rule kind, rule id and trigger ids
	Action           string   `json:"action"`            // the rule's `action`
	TargetCapability string   `json:"target_capability"` // the capability an agent needs to perform it
	Priority         int      `json:"priority"`          // the rule's priority; higher runs first
	Choreography     string   `json:"choreography"`      // the name of the rule's choreography
	RuleID           string   `json:"rule_id"`           // the rule's id within its choreography
	RuleKind         string   `json:"rule_kind"`         // KindPattern, KindSequence or a choreography.Kind… constant
	CorrelationID    string   `json:"correlation_id"`    // the correlation (or correlation key) the action belongs to
	TriggerEventIDs  []string `json:"trigger_event_ids"` // the events that caused it, oldest first
	// Time is the event time that caused the action: the completing
	// event's time, or for an absence the moment its timeout ran out.
	Time    time.Time     `json:"time"`
	Timeout time.Duration `json:"timeout,omitempty"` // the rule's `timeout`, the action's deadline; zero means the dispatcher's default; JSON: a Go duration string
	Hops    int           `json:"hops"`              // the hops of the event that completed the match (for an absence, of the starting event); a dispatcher adds one for the events the action causes
}

// AppendJSON appends the action as one JSON object, with the fields in
// the order of the struct. It is what MarshalJSON returns, without
// reflection.
func (a *Action) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.StringHTML(b, a.ID)
	b = append(b, `,"action":`...)
	b = jsonw.StringHTML(b, a.Action)
	b = append(b, `,"target_capability":`...)
	b = jsonw.StringHTML(b, a.TargetCapability)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(a.Priority), 10)
	b = append(b, `,"choreography":`...)
	b = jsonw.StringHTML(b, a.Choreography)
	b = append(b, `,"rule_id":`...)
	b = jsonw.StringHTML(b, a.RuleID)
	b = append(b, `,"rule_kind":`...)
	b = jsonw.StringHTML(b, a.RuleKind)
	b = append(b, `,"correlation_id":`...)
	b = jsonw.StringHTML(b, a.CorrelationID)
	b = append(b, `,"trigger_event_ids":[`...)
	for i, id := range a.TriggerEventIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.StringHTML(b, id)
	}
	b = append(b, `],"time":"`...)
	b = a.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if a.Timeout != 0 {
		b = append(b, `,"timeout":"`...)
		b = append(b, a.Timeout.String()...)
		b = append(b, '"')
	}
	b = append(b, `,"hops":`...)
	b = strconv.AppendInt(b, int64(a.Hops), 10)
	return append(b, '}')
}

// MarshalJSON encodes the action; Timeout is a Go duration string such as
// "30s" and is left out when zero.
func (a Action) MarshalJSON() ([]byte, error) { return a.AppendJSON(nil), nil }

// UnmarshalJSON decodes what MarshalJSON encodes. Input in exactly the
// layout AppendJSON writes, with no escapes in its strings, takes a fast
// path without reflection; anything else goes through encoding/json.
func (a *Action) UnmarshalJSON(b []byte) error {
	if a.decodeFast(b) {
		return nil
	}
	return a.decodeSlow(b)
}

func (a *Action) decodeFast(b []byte) bool {
	s := jsonscan.New(b)
	var v Action
	if !scanFast(&s, &v, true) {
		return false
	}
	*a = v
	return true
}

// IDFromJSON returns the id of the action whose JSON is b, read in place
// without allocating when b is in the layout AppendJSON writes, which
// UnmarshalJSON's fast path takes whole; the id shares b's memory. For
// any other input ok is false, and the caller decodes the action.
func IDFromJSON(b []byte) (id string, ok bool) {
	id, _, ok = KeysFromJSON(b)
	return id, ok
}

// KeysFromJSON is IDFromJSON for the action's id and correlation id.
func KeysFromJSON(b []byte) (id, correlationID string, ok bool) {
	s := jsonscan.NewShared(b)
	var v Action
	if !scanFast(&s, &v, false) {
		return "", "", false
	}
	return v.ID, v.CorrelationID, true
}

// scanFast reads from s into v an action in the layout AppendJSON writes,
// reporting whether the whole input was that; with triggers false it
// checks the trigger ids without keeping them.
func scanFast(s *jsonscan.Scanner, v *Action, triggers bool) bool {
	s.Lit(`{"id":`)
	v.ID = s.Str()
	s.Lit(`,"action":`)
	v.Action = s.Str()
	s.Lit(`,"target_capability":`)
	v.TargetCapability = s.Str()
	s.Lit(`,"priority":`)
	v.Priority = s.Int()
	s.Lit(`,"choreography":`)
	v.Choreography = s.Str()
	s.Lit(`,"rule_id":`)
	v.RuleID = s.Str()
	s.Lit(`,"rule_kind":`)
	v.RuleKind = s.Str()
	s.Lit(`,"correlation_id":`)
	v.CorrelationID = s.Str()
	s.Lit(`,"trigger_event_ids":`)
	if triggers {
		v.TriggerEventIDs = s.Strs(false)
	} else {
		s.SkipStrs()
	}
	s.Lit(`,"time":`)
	v.Time = s.Time()
	if s.Peek(`,"timeout":`) {
		s.Lit(`,"timeout":`)
		d, err := time.ParseDuration(s.Str())
		if err != nil {
			return false
		}
		v.Timeout = d
	}
	s.Lit(`,"hops":`)
	v.Hops = s.Int()
	s.Lit("}")
	return s.Done()
}

func (a *Action) decodeSlow(b []byte) error {
	type plain Action
	var v struct {
		plain
		Timeout string `json:"timeout"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Action(v.plain)
	a.Timeout = 0
	if v.Timeout != "" {
		d, err := time.ParseDuration(v.Timeout)
		if err != nil {
			return fmt.Errorf("engine: action timeout: %w", err)
		}
		a.Timeout = d
	}
	return nil
}

// ActionID returns the id of the action a rule takes on the given trigger
// events: the first 16 bytes of SHA-256 over the length-prefixed
// choreography name, rule kind, rule id and trigger ids, shaped as a
// version 8 UUID. Engine uses it for every action; other components may
// use it to recompute an id.
func ActionID(choreography, kind, ruleID string, triggers []string) string {
	var a [36]byte
	b := appendTriggers(appendIDPrefix(nil, choreography, kind, ruleID), triggers)
	return string(appendDigestID(a[:0], b))
}

func appendIDPrefix(b []byte, choreography, kind, ruleID string) []byte {
	b = appendLenString(b, choreography)
	b = appendLenString(b, kind)
	return appendLenString(b, ruleID)
}

func appendLenString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTriggers(b []byte, triggers []string) []byte {
	for _, id := range triggers {
		b = appendLenString(b, id)
	}
	return b
}

// appendDigestID appends to dst the UUID-shaped digest of input.
func appendDigestID(dst, input []byte) []byte {
	sum := sha256.Sum256(input)
	return appendShapedID(dst, &sum)
}

// appendShapedID appends to dst the first 16 bytes of a SHA-256 sum
// shaped as a version 8 UUID, in the text form of event.AppendUUID.
func appendShapedID(dst []byte, sum *[sha256.Size]byte) []byte {
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8: custom
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	s[0], s[1] = hexDigits[u[0]>>4], hexDigits[u[0]&0x0f]
	s[2], s[3] = hexDigits[u[1]>>4], hexDigits[u[1]&0x0f]
	s[4], s[5] = hexDigits[u[2]>>4], hexDigits[u[2]&0x0f]
	s[6], s[7] = hexDigits[u[3]>>4], hexDigits[u[3]&0x0f]
	s[9], s[10] = hexDigits[u[4]>>4], hexDigits[u[4]&0x0f]
	s[11], s[12] = hexDigits[u[5]>>4], hexDigits[u[5]&0x0f]
	s[14], s[15] = hexDigits[u[6]>>4], hexDigits[u[6]&0x0f]
	s[16], s[17] = hexDigits[u[7]>>4], hexDigits[u[7]&0x0f]
	s[19], s[20] = hexDigits[u[8]>>4], hexDigits[u[8]&0x0f]
	s[21], s[22] = hexDigits[u[9]>>4], hexDigits[u[9]&0x0f]
	s[24], s[25] = hexDigits[u[10]>>4], hexDigits[u[10]&0x0f]
	s[26], s[27] = hexDigits[u[11]>>4], hexDigits[u[11]&0x0f]
	s[28], s[29] = hexDigits[u[12]>>4], hexDigits[u[12]&0x0f]
	s[30], s[31] = hexDigits[u[13]>>4], hexDigits[u[13]&0x0f]
	s[32], s[33] = hexDigits[u[14]>>4], hexDigits[u[14]&0x0f]
	s[34], s[35] = hexDigits[u[15]>>4], hexDigits[u[15]&0x0f]
	return append(dst, s[:]...)
}

const hexDigits = "0123456789abcdef"
