package webhook

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/internal/jsonscan"
	"github.com/choreohq/choreo/internal/jsonvalid"
	"github.com/choreohq/choreo/internal/jsonw"
)

// appendMessage appends m as JSON to dst: what json.Marshal writes, with
// the same field names and order, but without escaping HTML characters
// and without reflection. It fails for a trigger event that is not JSON
// and for a time json.Marshal cannot write either.
func appendMessage(dst []byte, m *dispatch.Message) ([]byte, error) {
	var err error
	dst = append(dst, `{"message_id":`...)
	dst = jsonw.String(dst, m.MessageID)
	dst = append(dst, `,"sender_id":`...)
	dst = jsonw.String(dst, m.SenderID)
	dst = append(dst, `,"recipient_id":`...)
	dst = jsonw.String(dst, m.RecipientID)
	dst = append(dst, `,"action":`...)
	dst = jsonw.String(dst, m.Action)

	p := &m.Payload
	dst = append(dst, `,"payload":{`...)
	if len(p.TriggerEvent) > 0 {
		if !jsonvalid.Valid(p.TriggerEvent) {
			return nil, errors.New("payload.trigger_event is not JSON")
		}
		dst = append(dst, `"trigger_event":`...)
		dst = append(dst, p.TriggerEvent...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"pattern":`...)
	dst = jsonw.String(dst, p.Pattern)
	c := &p.ChoreographyContext
	dst = append(dst, `,"choreography_context":{"choreography":`...)
	dst = jsonw.String(dst, c.Choreography)
	dst = append(dst, `,"pattern_id":`...)
	dst = jsonw.String(dst, c.PatternID)
	dst = append(dst, `,"rule_kind":`...)
	dst = jsonw.String(dst, c.RuleKind)
	dst = append(dst, `,"triggered_at":`...)
	if dst, err = appendTime(dst, c.TriggeredAt); err != nil {
		return nil, err
	}
	dst = append(dst, `,"trigger_event_ids":`...)
	dst = appendStrings(dst, c.TriggerEventIDs)
	dst = append(dst, `}}`...)

	dst = append(dst, `,"capabilities_required":`...)
	dst = appendStrings(dst, m.CapabilitiesRequired)
	dst = append(dst, `,"priority":`...)
	dst = jsonw.String(dst, m.Priority)
	dst = append(dst, `,"correlation_id":`...)
	dst = jsonw.String(dst, m.CorrelationID)
	dst = append(dst, `,"timestamp":`...)
	if dst, err = appendTime(dst, m.Timestamp); err != nil {
		return nil, err
	}
	dst = append(dst, `,"hops":`...)
	dst = strconv.AppendInt(dst, int64(m.Hops), 10)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(m.Attempt), 10)
	return append(dst, '}'), nil
}

// appendTime appends t as time.Time.MarshalJSON does, failing as it does
// for a time RFC 3339 cannot represent.
func appendTime(dst []byte, t time.Time) ([]byte, error) {
	dst = append(dst, '"')
	dst, err := t.AppendText(dst)
	if err != nil {
		return nil, err
	}
	return append(dst, '"'), nil
}

// appendStrings appends ss as a JSON array, or null when it is nil.
func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonw.String(dst, s)
	}
	return append(dst, ']')
}

// decodeMessage decodes a message as json.Unmarshal does into a zero
// Message (m's fields are all replaced). Input in exactly
// the layout appendMessage writes, with strings of printable ASCII and no
// escapes, takes a fast path without reflection; anything else, and
// anything the fast path is not sure of, goes through encoding/json.
//
// m's strings may be pieces of b, which must not change afterwards: the
// handler reads each body into a buffer of its own, so the message's
// strings share it instead of a copy of it.
func decodeMessage(b []byte, m *dispatch.Message) error {
	if decodeFast(b, m) {
		return nil
	}
	*m = dispatch.Message{}
	return json.Unmarshal(b, m)
}

// decodeFast is decodeMessage's fast path; m's strings are pieces of b.
func decodeFast(b []byte, m *dispatch.Message) bool {
	s := jsonscan.NewShared(b)
	var v dispatch.Message
	s.Lit(`{"message_id":`)
	v.MessageID = s.Str()
	s.Lit(`,"sender_id":`)
	v.SenderID = s.Str()
	s.Lit(`,"recipient_id":`)
	v.RecipientID = s.Str()
	s.Lit(`,"action":`)
	v.Action = s.Str()
	s.Lit(`,"payload":{`)
	if s.Peek(`"trigger_event":`) {
		s.Lit(`"trigger_event":`)
		v.Payload.TriggerEvent = json.RawMessage(s.Object())
		s.Lit(",")
	}
	s.Lit(`"pattern":`)
	v.Payload.Pattern = s.Str()
	c := &v.Payload.ChoreographyContext
	s.Lit(`,"choreography_context":{"choreography":`)
	c.Choreography = s.Str()
	s.Lit(`,"pattern_id":`)
	c.PatternID = s.Str()
	s.Lit(`,"rule_kind":`)
	c.RuleKind = s.Str()
	s.Lit(`,"triggered_at":`)
	c.TriggeredAt = s.Time()
	s.Lit(`,"trigger_event_ids":`)
	c.TriggerEventIDs = s.Strs(true)
	s.Lit(`}},"capabilities_required":`)
	v.CapabilitiesRequired = s.Strs(true)
	s.Lit(`,"priority":`)
	v.Priority = s.Str()
	s.Lit(`,"correlation_id":`)
	v.CorrelationID = s.Str()
	s.Lit(`,"timestamp":`)
	v.Timestamp = s.Time()
	s.Lit(`,"hops":`)
	v.Hops = s.Int()
	s.Lit(`,"attempt":`)
	v.Attempt = s.Int()
	s.Lit("}")
	if !s.Done() {
		return false
	}
	*m = v
	return true
}
