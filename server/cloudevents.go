package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/jsonw"
	"github.com/choreohq/choreo/store"
)

// Media types of the CloudEvents HTTP binding.
const (
	mediaCloudEvent  = "application/cloudevents+json"
	mediaCloudEvents = "application/cloudevents-batch+json"
	mediaJSON        = "application/json"
)

// structured says how a structured-mode body is read.
type structured int

const (
	structuredAuto   structured = iota // application/json: an object or an array
	structuredSingle                   // application/cloudevents+json: one object
	structuredBatch                    // application/cloudevents-batch+json: an array
)

// batchPrefix names the elements of a batch in error fields:
// "events[3].time".
const batchPrefix = "events"

// decodeStructured reads a structured-mode body: one CloudEvent object, or
// an array of them. batch reports which it was. Errors are *apiError with
// the field at fault, "events[i].…" for batches. The events share no
// memory with body.
func decodeStructured(body []byte, mode structured, maxBatch int) (events []*event.Event, batch bool, err error) {
	i := skipWS(body, 0)
	if i == len(body) {
		return nil, false, errorf(event.CodeInvalidJSON, "", "empty body")
	}
	switch mode {
	case structuredBatch:
		batch = true
	case structuredAuto:
		batch = body[i] == '['
	}
	if !batch {
		e, err := event.Decode(body)
		if err != nil {
			ae, _ := errorOf(err, "")
			return nil, false, ae
		}
		return []*event.Event{e}, false, nil
	}
	events, err = decodeBatch(body, i, maxBatch)
	return events, true, err
}

// decodeBatch reads a JSON array of CloudEvent objects that starts at
// body[i]. It finds each element's end with a light scan and leaves the
// full check of the element to event.Decode, so the array is checked
// exactly once.
func decodeBatch(body []byte, i, maxBatch int) ([]*event.Event, error) {
	if body[i] != '[' {
		return nil, errorf(event.CodeInvalidJSON, "", "want a JSON array of events")
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == ']' {
		if j := skipWS(body, i+1); j != len(body) {
			return nil, errorf(event.CodeInvalidJSON, "", "unexpected data after the array at offset %d", j)
		}
		return nil, errorf(store.CodeEmptyBatch, "", "the batch has no events")
	}
	events := make([]*event.Event, 0, min(maxBatch, 16))
	for {
		n := len(events)
		if n == maxBatch {
			return nil, errorf(store.CodeBatchTooLarge, "", "more than %d events in one request", maxBatch)
		}
		end, err := skipValue(body, i)
		if err != nil {
			return nil, errorf(event.CodeInvalidJSON, batchField(batchPrefix, n), "%s", err.Message)
		}
		e, derr := event.Decode(body[i:end])
		if derr != nil {
			ae, _ := errorOf(&store.EventError{Index: n, Err: derr}, batchPrefix)
			return nil, ae
		}
		events = append(events, e)
		i = skipWS(body, end)
		if i == len(body) {
			return nil, errorf(event.CodeInvalidJSON, "", "unexpected end of the array after %s", batchField(batchPrefix, n))
		}
		switch body[i] {
		case ',':
			i = skipWS(body, i+1)
			continue
		case ']':
			if j := skipWS(body, i+1); j != len(body) {
				return nil, errorf(event.CodeInvalidJSON, "", "unexpected data after the array at offset %d", j)
			}
			return events, nil
		}
		return nil, errorf(event.CodeInvalidJSON, "", "want ',' or ']' after %s at offset %d", batchField(batchPrefix, n), i)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the end of the JSON value that starts at b[i]. It
// tracks strings and nesting only; the value's own syntax is checked by
// whoever decodes it.
func skipValue(b []byte, i int) (int, *apiError) {
	depth := 0
	start := i
	for i < len(b) {
		switch b[i] {
		case '"':
			j, ok := skipString(b, i)
			if !ok {
				return 0, errorf(event.CodeInvalidJSON, "", "unterminated string at offset %d", i)
			}
			i = j
			if depth == 0 {
				return i, nil
			}
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, nil
			}
			depth--
			i++
			if depth == 0 {
				return i, nil
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i, nil
			}
			i++
		default:
			i++
		}
	}
	if depth > 0 {
		return 0, errorf(event.CodeInvalidJSON, "", "unexpected end of input in the value at offset %d", start)
	}
	return i, nil
}

// skipString returns the end of the JSON string that starts at b[i].
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// decodeBinaryMode reads an event in the binary mode of the CloudEvents
// HTTP binding: attributes in ce-* headers (values percent-decoded),
// Content-Type as datacontenttype and the body as data.
func decodeBinaryMode(h http.Header, body []byte) (*event.Event, error) {
	e := new(event.Event)
	for k, vs := range h {
		if len(k) <= 3 || !strings.EqualFold(k[:3], "ce-") || len(vs) == 0 {
			continue
		}
		name := strings.ToLower(k[3:])
		if len(vs) > 1 {
			return nil, errorf(event.CodeInvalidField, name, "header %s given %d times", k, len(vs))
		}
		v, err := headerValue(name, vs[0])
		if err != nil {
			return nil, err
		}
		switch name {
		case "specversion":
			e.SpecVersion = v
		case "id":
			e.ID = v
		case "source":
			e.Source = v
		case "type":
			e.Type = v
		case "subject":
			e.Subject = v
		case "dataschema":
			e.DataSchema = v
		case "correlationid":
			e.CorrelationID = v
		case "causationid":
			e.CausationID = v
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, errorf(event.CodeInvalidField, "time", "not an RFC 3339 timestamp: %q", v)
			}
			e.Time = t
		case "hops":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return nil, errorf(event.CodeInvalidField, "hops", "want a non-negative integer, got %q", v)
			}
			e.Hops = int(n)
		case "datacontenttype":
			return nil, errorf(event.CodeInvalidField, name, "in binary mode the Content-Type header carries datacontenttype")
		case "data", "data_base64":
			return nil, errorf(event.CodeInvalidField, name, "in binary mode the body carries the data")
		default:
			if !validExtensionName(name) {
				return nil, errorf(event.CodeInvalidField, name, "extension attribute names are lower-case letters and digits")
			}
			if e.Extensions == nil {
				e.Extensions = make(map[string]json.RawMessage, 2)
			}
			e.Extensions[name] = jsonw.String(nil, v)
		}
	}
	if ct := h.Get("Content-Type"); ct != "" {
		e.DataContentType = ct
	}
	if len(body) > 0 {
		if event.IsJSONContentType(e.DataContentType) {
			var buf bytes.Buffer
			buf.Grow(len(body))
			if err := json.Compact(&buf, body); err != nil {
				if e.DataContentType == "" {
					return nil, errorf(event.CodeInvalidField, "data",
						"the body is not JSON (%v): without a Content-Type header the data is taken to be JSON; send the data's Content-Type", err)
				}
				return nil, errorf(event.CodeInvalidField, "data", "the body is not JSON, but Content-Type %q says JSON: %v", e.DataContentType, err)
			}
			e.Data = buf.Bytes()
		} else {
			e.DataBase64 = slices.Clone(body)
		}
	}
	return e, nil
}

// ceHeader returns the name of a ce-* header of h, the lowest in order,
// or "" when it has none.
func ceHeader(h http.Header) string {
	name := ""
	for k := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") && (name == "" || k < name) {
			name = k
		}
	}
	return strings.ToLower(name)
}

// headerValue percent-decodes the value of header ce-name.
func headerValue(name, v string) (string, error) {
	if strings.IndexByte(v, '%') >= 0 {
		d, err := url.PathUnescape(v)
		if err != nil {
			return "", errorf(event.CodeInvalidField, name, "bad percent-encoding in header ce-%s: %v", name, err)
		}
		v = d
	}
	if !utf8.ValidString(v) {
		return "", errorf(event.CodeInvalidField, name, "header ce-%s is not UTF-8 once percent-decoded", name)
	}
	return v, nil
}

func validExtensionName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
