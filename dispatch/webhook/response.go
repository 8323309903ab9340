package webhook

import (
	"encoding/json"
	"fmt"

	"github.com/choreohq/choreo/event"
)

// decodeEvents reads a 2xx response body: empty, one CloudEvent, an array
// of them, or {"events": [...]}. It returns at most maxEvents events, each
// checked by checkEvent; the error wraps ErrBadResponse.
func decodeEvents(b []byte, maxEvents int) ([]*event.Event, error) {
	b = trimJSONSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	switch b[0] {
	case '[':
		return decodeArray(b, maxEvents)
	case '{':
		// An event cannot have a member "events" holding an array, as
		// extension values are strings, numbers or booleans: when the
		// object is not an event, it may be {"events": [...]}.
		e, err := event.Decode(b)
		if err != nil {
			var w struct {
				Events json.RawMessage `json:"events"`
			}
			if json.Unmarshal(b, &w) == nil && len(w.Events) > 0 && w.Events[0] == '[' {
				return decodeArray(w.Events, maxEvents)
			}
		}
		if err == nil {
			err = checkEvent(e)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
		}
		return []*event.Event{e}, nil
	}
	return nil, fmt.Errorf(`%w: want an event, an array of events or {"events":[...]}, got %.40q`, ErrBadResponse, b)
}

// decodeArray decodes a JSON array of events. It splits the array
// itself and leaves each element to event.Decode, which checks its
// syntax in full.
func decodeArray(b []byte, maxEvents int) ([]*event.Event, error) {
	var evs []*event.Event
	i := 1 // past '['
	i = skipJSONSpace(b, i)
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '{' {
				return nil, fmt.Errorf("%w: event %d: want a JSON object at offset %d", ErrBadResponse, len(evs), i)
			}
			end := objectEnd(b, i)
			if end < 0 {
				return nil, fmt.Errorf("%w: event %d: unterminated object", ErrBadResponse, len(evs))
			}
			if len(evs) == maxEvents {
				return nil, fmt.Errorf("%w: more than %d events", ErrBadResponse, maxEvents)
			}
			e, err := event.Decode(b[i:end])
			if err == nil {
				err = checkEvent(e)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: event %d: %w", ErrBadResponse, len(evs), err)
			}
			evs = append(evs, e)
			i = skipJSONSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipJSONSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			return nil, fmt.Errorf("%w: want ',' or ']' at offset %d", ErrBadResponse, i)
		}
	}
	if i = skipJSONSpace(b, i); i != len(b) {
		return nil, fmt.Errorf("%w: unexpected data after the array at offset %d", ErrBadResponse, i)
	}
	return evs, nil
}

// objectEnd returns the offset just past the object that starts at
// b[start], matching braces outside strings, or -1 if it does not end. It
// does not check the object's syntax.
func objectEnd(b []byte, start int) int {
	depth := 0
	for i := start; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// checkEvent sets a missing specversion and validates e as the dispatcher
// will once it has filled the attributes an agent may leave out.
func checkEvent(e *event.Event) error {
	if e.SpecVersion == "" {
		e.SpecVersion = event.SpecVersion
	}
	probe := *e
	if probe.ID == "" {
		probe.ID = "id"
	}
	if probe.Source == "" {
		probe.Source = "source"
	}
	return probe.Validate(event.Limits{})
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipJSONSpace returns the offset of the first byte at or after i that
// is not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// trimJSONSpace cuts JSON white space from both ends of b.
func trimJSONSpace(b []byte) []byte {
	b = b[skipJSONSpace(b, 0):]
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// meantAsEvents reports whether a body that decodeEvents refused was meant
// to hold events: an array, or an object with a member "type",
// "specversion" or "events", or one that does not parse. Plain text such
// as "OK", a JSON scalar, or an object such as {"status":"ok"} is an
// acknowledgement with no events.
func meantAsEvents(b []byte) bool {
	b = trimJSONSpace(b)
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '[':
		return true
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return true
		}
		_, typ := m["type"]
		_, sv := m["specversion"]
		_, evs := m["events"]
		return typ || sv || evs
	}
	return false
}
