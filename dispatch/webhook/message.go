package webhook

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/dispatch"
)

// appendMessage appends m as JSON to dst: what json.Marshal writes, with
// the same field names and order, but without escaping HTML characters
// and without reflection. It fails for a trigger event that is not JSON
// and for a time json.Marshal cannot write either.
func appendMessage(dst []byte, m *dispatch.Message) ([]byte, error) {
	var err error
	dst = append(dst, `{"message_id":`...)
	dst = appendString(dst, m.MessageID)
	dst = append(dst, `,"sender_id":`...)
	dst = appendString(dst, m.SenderID)
	dst = append(dst, `,"recipient_id":`...)
	dst = appendString(dst, m.RecipientID)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, m.Action)

	p := &m.Payload
	dst = append(dst, `,"payload":{`...)
	if len(p.TriggerEvent) > 0 {
		if !json.Valid(p.TriggerEvent) {
			return nil, errors.New("payload.trigger_event is not JSON")
		}
		dst = append(dst, `"trigger_event":`...)
		dst = append(dst, p.TriggerEvent...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"pattern":`...)
	dst = appendString(dst, p.Pattern)
	c := &p.ChoreographyContext
	dst = append(dst, `,"choreography_context":{"choreography":`...)
	dst = appendString(dst, c.Choreography)
	dst = append(dst, `,"pattern_id":`...)
	dst = appendString(dst, c.PatternID)
	dst = append(dst, `,"rule_kind":`...)
	dst = appendString(dst, c.RuleKind)
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
	dst = appendString(dst, m.Priority)
	dst = append(dst, `,"correlation_id":`...)
	dst = appendString(dst, m.CorrelationID)
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
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// without HTML escaping; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
