package event

import (
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/internal/jsonvalid"
)

// DefaultMaxSize is the largest event accepted when Limits.MaxSize is zero:
// 1 MiB of structured-mode JSON.
const DefaultMaxSize = 1 << 20

// MaxAttributeLen is the longest value, in bytes, of the attributes that
// name things: id, source, type, subject, datacontenttype, dataschema,
// correlationid and causationid. Ids end up in other records (an action
// lists the ids of its trigger events) and a correlation id names the
// stream of the events agents give back, whose names are as long at most.
const MaxAttributeLen = 512

// Limits bound what Validate accepts. The zero value applies the defaults.
type Limits struct {
	// MaxSize is the largest size of an event in bytes, measured as the
	// length of its structured-mode JSON encoding. Zero means DefaultMaxSize.
	MaxSize int
}

func (l Limits) maxSize() int {
	if l.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return l.MaxSize
}

// Fill gives the event what a publisher may leave out: an id (a new UUIDv7)
// and a correlation id (the event's own id, so that an event with no
// correlation is its own). An event that gets its id here and has no time
// also gets the current time, so that the engine, which goes by event
// time, places it when it was published; an event with an id of its own
// keeps its time as it is, so a retry of it stays byte-identical. It
// changes nothing else.
func (e *Event) Fill() {
	if e.ID == "" {
		e.ID = NewID()
		if e.Time.IsZero() {
			e.Time = time.Now().UTC()
		}
	}
	if e.CorrelationID == "" {
		e.CorrelationID = e.ID
	}
}

// Validate checks the event against the CloudEvents 1.0 rules and lim. The
// string attributes, the extension values and Data must be valid UTF-8
// (DataBase64 holds any bytes). The error, an *Error, names the first
// field at fault.
func (e *Event) Validate(lim Limits) error { return e.validate(lim, true, true) }

// DecodeValid is Decode followed by Validate, without repeating what
// Decode has checked already: the JSON syntax and UTF-8 of the data, and
// the size when the input is too short for the event to reach the limit
// (its canonical JSON is at most six times as long as any JSON input it
// came from: no character grows more than that when escaped).
func DecodeValid(b []byte, lim Limits) (*Event, error) {
	e, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if err := e.validate(lim, false, 6*len(b) > lim.maxSize()); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Event) validate(lim Limits, checkData, checkSize bool) error {
	switch {
	case e.SpecVersion == "":
		return fieldError(CodeMissingField, "specversion", "required")
	case e.SpecVersion != SpecVersion:
		return fieldError(CodeInvalidField, "specversion", "want %q, got %q", SpecVersion, e.SpecVersion)
	case e.ID == "":
		return fieldError(CodeMissingField, "id", "required")
	case e.Source == "":
		return fieldError(CodeMissingField, "source", "required")
	case e.Type == "":
		return fieldError(CodeMissingField, "type", "required")
	case e.Hops < 0:
		return fieldError(CodeInvalidField, "hops", "must not be negative")
	case e.Data != nil && e.DataBase64 != nil:
		return fieldError(CodeInvalidField, "data", "data and data_base64 are both set")
	}
	for _, a := range [...]struct {
		name, v string
		plain   bool // must also be valid UTF-8 without control characters
	}{
		{"id", e.ID, true}, {"source", e.Source, false}, {"type", e.Type, false}, {"subject", e.Subject, false},
		{"datacontenttype", e.DataContentType, false}, {"dataschema", e.DataSchema, false},
		{"correlationid", e.CorrelationID, true}, {"causationid", e.CausationID, true},
	} {
		if len(a.v) > MaxAttributeLen {
			return fieldError(CodeInvalidField, a.name, "%d bytes, over the limit of %d", len(a.v), MaxAttributeLen)
		}
		if a.plain {
			if !plainText(a.v) {
				return fieldError(CodeInvalidField, a.name, "holds a control character or invalid UTF-8")
			}
		} else if !utf8.ValidString(a.v) {
			return fieldError(CodeInvalidField, a.name, "not valid UTF-8")
		}
	}
	if checkData && e.Data != nil {
		// Data is JSON text whatever its content type says (other data
		// is DataBase64), and goes into JSON output as it is.
		if !utf8.Valid(e.Data) {
			return fieldError(CodeInvalidField, "data", "not valid UTF-8")
		}
		if e.DataIsJSON() && !jsonvalid.Valid(e.Data) {
			return fieldError(CodeInvalidField, "data", "not JSON, but datacontenttype %q says JSON", e.contentType())
		}
	}
	for k, v := range e.Extensions {
		if !validExtensionName(k) {
			return fieldError(CodeInvalidField, k, "extension attribute names are lower-case letters and digits")
		}
		if reserved[k] {
			return fieldError(CodeInvalidField, k, "a CloudEvents attribute, not an extension")
		}
		if !jsonvalid.Valid(v) || len(v) == 0 || v[0] == '{' || v[0] == '[' {
			return fieldError(CodeInvalidField, k, "extension attribute values are strings, numbers or booleans")
		}
		if !utf8.Valid(v) {
			return fieldError(CodeInvalidField, k, "not valid UTF-8")
		}
	}
	if !checkSize {
		return nil
	}
	n := e.jsonSize()
	if max := lim.maxSize(); n > max {
		return fieldError(CodeTooLarge, "", "%d bytes, over the limit of %d", n, max)
	}
	return nil
}

func (e *Event) contentType() string {
	if e.DataContentType == "" {
		return "application/json"
	}
	return e.DataContentType
}

var reserved = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "correlationid": true,
	"causationid": true, "hops": true,
}

// UsableID reports whether s may be an id, correlation id or causation id
// of a valid event: at most MaxAttributeLen bytes of valid UTF-8 without a
// control character. The empty string passes; whether it is allowed
// depends on the attribute.
func UsableID(s string) bool { return len(s) <= MaxAttributeLen && plainText(s) }

// plainText reports whether s is valid UTF-8 without a control
// character: the rule for stream names (store.CheckStream), which a
// correlation id becomes. U+FFFD counts as invalid, for decoders put it
// in place of invalid UTF-8.
func plainText(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
