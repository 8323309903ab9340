package event

import (
	"encoding/json"
	"strings"
	"time"
	"unsafe"
)

// SpecVersion is the CloudEvents version this package speaks.
const SpecVersion = "1.0"

// Event is one immutable fact in the CloudEvents 1.0 shape.
//
// The zero value of an optional field means the attribute is absent.
// Data holds the "data" member exactly as JSON text; DataBase64 holds binary
// data (the "data_base64" member). At most one of them is set.
type Event struct {
	SpecVersion     string    // "specversion", required; always "1.0"
	ID              string    // "id", required; generated (UUIDv7) when left out
	Source          string    // "source", required: the publishing agent, a URI-reference
	Type            string    // "type", required
	Time            time.Time // "time", optional (RFC 3339)
	DataContentType string    // "datacontenttype", optional; empty means application/json
	DataSchema      string    // "dataschema", optional URI
	Subject         string    // "subject", optional

	Data       json.RawMessage // "data": JSON text, or nil when absent
	DataBase64 []byte          // "data_base64": binary data, or nil when absent

	CorrelationID string // "correlationid" extension: the conversation this event belongs to
	CausationID   string // "causationid" extension: the id of the event or action that caused it
	Hops          int    // "hops" extension: how many actions lie between this event and its origin

	// Extensions holds every other extension attribute, by name, as the
	// JSON text of its value, so unknown attributes survive a round trip.
	Extensions map[string]json.RawMessage
}

// Correlation returns the event's correlation id. An event without one is
// its own correlation: the result is then its id.
func (e *Event) Correlation() string {
	if e.CorrelationID != "" {
		return e.CorrelationID
	}
	return e.ID
}

// DataIsJSON reports whether the event's data is JSON text, which is so when
// the content type is absent, application/json, text/json or ends in +json.
func (e *Event) DataIsJSON() bool { return IsJSONContentType(e.DataContentType) }

// IsJSONContentType reports whether a datacontenttype value denotes JSON.
// An empty content type counts as JSON, as the CloudEvents JSON format says.
func IsJSONContentType(ct string) bool {
	if ct == "" {
		return true
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "application/json" || ct == "text/json" || strings.HasSuffix(ct, "+json")
}

// Partition returns the partition of a correlation id among n partitions:
// FNV-1a 32 of the id, modulo n. Stores stamp it on every event so a
// distributed backend can own partitions.
func Partition(correlationID string, n int) uint32 {
	if n <= 1 {
		return 0
	}
	h := uint32(2166136261) // FNV-1a 32 offset basis
	for i := 0; i < len(correlationID); i++ {
		h ^= uint32(correlationID[i])
		h *= 16777619 // FNV-1a 32 prime
	}
	return h % uint32(n)
}

// Clone returns a deep copy of e that shares no memory with it: its
// strings, data and extensions in one allocation of their own. An event
// decoded from a record shares memory with the record (and a reader may
// put many records in one buffer), so a component that keeps an event
// past its processing keeps a clone, which holds only the event.
func (e *Event) Clone() *Event {
	c := *e
	strs := [...]*string{&c.SpecVersion, &c.ID, &c.Source, &c.Type, &c.DataContentType,
		&c.DataSchema, &c.Subject, &c.CorrelationID, &c.CausationID}
	n := len(e.Data) + len(e.DataBase64)
	for _, p := range strs {
		n += len(*p)
	}
	for k, v := range e.Extensions {
		n += len(k) + len(v)
	}
	// The buffer is never grown, so what is cut from it stays put.
	buf := make([]byte, 0, n)
	str := func(s string) string {
		if s == "" {
			return ""
		}
		i := len(buf)
		buf = append(buf, s...)
		return unsafe.String(&buf[i], len(s))
	}
	bytes := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		i := len(buf)
		buf = append(buf, b...)
		return buf[i:len(buf):len(buf)]
	}
	for _, p := range strs {
		*p = str(*p)
	}
	c.Data = bytes(e.Data)
	c.DataBase64 = bytes(e.DataBase64)
	if e.Extensions != nil {
		c.Extensions = make(map[string]json.RawMessage, len(e.Extensions))
		for k, v := range e.Extensions {
			c.Extensions[str(k)] = bytes(v)
		}
	}
	return &c
}
