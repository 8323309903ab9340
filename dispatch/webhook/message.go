package webhook

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/choreohq/choreo/dispatch"
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
func decodeMessage(b []byte, m *dispatch.Message) error {
	if decodeFast(b, m) {
		return nil
	}
	*m = dispatch.Message{}
	return json.Unmarshal(b, m)
}

// scanner reads the fixed layout of appendMessage; ok turns false at the
// first thing it does not expect.
type scanner struct {
	b  string // one copy of the input: the decoded strings share it
	ok bool
}

func (s *scanner) lit(l string) {
	if s.ok && len(s.b) >= len(l) && s.b[:len(l)] == l {
		s.b = s.b[len(l):]
		return
	}
	s.ok = false
}

// peek reports whether the input goes on with l.
func (s *scanner) peek(l string) bool { return s.ok && len(s.b) >= len(l) && s.b[:len(l)] == l }

// str reads a JSON string of printable ASCII without escapes.
func (s *scanner) str() string {
	if !s.ok || len(s.b) == 0 || s.b[0] != '"' {
		s.ok = false
		return ""
	}
	for i := 1; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			v := s.b[1:i]
			s.b = s.b[i+1:]
			return v
		case c == '\\' || c < 0x20 || c >= 0x7f: // escapes, or UTF-8 to check
			s.ok = false
			return ""
		}
	}
	s.ok = false
	return ""
}

// strs reads a JSON array of strings as str reads them, or null.
func (s *scanner) strs() []string {
	if s.peek("null") {
		s.lit("null")
		return nil
	}
	s.lit("[")
	out := []string{}
	for s.ok && len(s.b) > 0 && s.b[0] != ']' {
		if len(out) > 0 {
			s.lit(",")
		}
		out = append(out, s.str())
	}
	s.lit("]")
	return out
}

// int reads a JSON integer that fits an int.
func (s *scanner) int() int {
	if !s.ok {
		return 0
	}
	i := 0
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	start := i
	for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
		i++
	}
	if i == start || (s.b[start] == '0' && i > start+1) { // none, or a leading zero
		s.ok = false
		return 0
	}
	n, err := strconv.Atoi(s.b[:i])
	if err != nil {
		s.ok = false
		return 0
	}
	s.b = s.b[i:]
	return n
}

// time reads a JSON string as time.Time.UnmarshalJSON does.
func (s *scanner) time() time.Time {
	q := s.b
	v := s.str()
	if !s.ok {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalJSON([]byte(q[:len(v)+2])); err != nil {
		s.ok = false
	}
	return t
}

// maxFastDepth bounds the nesting of a trigger event the fast path takes.
// encoding/json refuses input nested over 10,000 levels, counting the
// message's own; deeper trigger events go its way and get its answer.
const maxFastDepth = 1000

// object reads a JSON object and returns it as it stands in the input.
func (s *scanner) object() string {
	if !s.ok || len(s.b) == 0 || s.b[0] != '{' {
		s.ok = false
		return ""
	}
	depth, inStr := 0, false
	for i := 0; i < len(s.b); i++ {
		c := s.b[i]
		switch {
		case inStr:
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > maxFastDepth {
				s.ok = false // encoding/json counts the message's own levels too
				return ""
			}
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				v := s.b[:i+1]
				if !jsonvalid.Valid([]byte(v)) {
					s.ok = false
					return ""
				}
				s.b = s.b[i+1:]
				return v
			}
		}
	}
	s.ok = false
	return ""
}

func decodeFast(b []byte, m *dispatch.Message) bool {
	s := scanner{b: string(b), ok: true}
	var v dispatch.Message
	s.lit(`{"message_id":`)
	v.MessageID = s.str()
	s.lit(`,"sender_id":`)
	v.SenderID = s.str()
	s.lit(`,"recipient_id":`)
	v.RecipientID = s.str()
	s.lit(`,"action":`)
	v.Action = s.str()
	s.lit(`,"payload":{`)
	if s.peek(`"trigger_event":`) {
		s.lit(`"trigger_event":`)
		v.Payload.TriggerEvent = json.RawMessage(s.object())
		s.lit(",")
	}
	s.lit(`"pattern":`)
	v.Payload.Pattern = s.str()
	c := &v.Payload.ChoreographyContext
	s.lit(`,"choreography_context":{"choreography":`)
	c.Choreography = s.str()
	s.lit(`,"pattern_id":`)
	c.PatternID = s.str()
	s.lit(`,"rule_kind":`)
	c.RuleKind = s.str()
	s.lit(`,"triggered_at":`)
	c.TriggeredAt = s.time()
	s.lit(`,"trigger_event_ids":`)
	c.TriggerEventIDs = s.strs()
	s.lit(`}},"capabilities_required":`)
	v.CapabilitiesRequired = s.strs()
	s.lit(`,"priority":`)
	v.Priority = s.str()
	s.lit(`,"correlation_id":`)
	v.CorrelationID = s.str()
	s.lit(`,"timestamp":`)
	v.Timestamp = s.time()
	s.lit(`,"hops":`)
	v.Hops = s.int()
	s.lit(`,"attempt":`)
	v.Attempt = s.int()
	s.lit("}")
	if !s.ok || len(s.b) != 0 {
		return false
	}
	*m = v
	return true
}
