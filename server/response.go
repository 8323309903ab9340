package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/store"
)

// Content types of the responses.
const (
	contentTypeJSON = "application/json"
	contentTypeSSE  = "text/event-stream"
)

// jsonContentType is the Content-Type header value of JSON responses,
// shared: net/http only reads it.
var jsonContentType = []string{contentTypeJSON}

// smallResponse is the size up to which net/http buffers a response whole
// and sets its Content-Length (its chunking buffer is 2 KiB).
const smallResponse = 2000

// outPool holds response buffers; like body buffers, large ones are not
// kept.
var outPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBody)
	return &b
}}

func getOut() *[]byte { return outPool.Get().(*[]byte) }

func putOut(bp *[]byte) {
	if cap(*bp) > maxPooledBody {
		return
	}
	*bp = (*bp)[:0]
	outPool.Put(bp)
}

// writeRaw writes b, already JSON, with status.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if len(b) > smallResponse {
		// net/http sets the length of small responses itself.
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}

// writeJSON writes v with encoding/json, for small documents. A value
// that cannot be encoded is a programming error; it is answered with 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeAPIError(w, &apiError{Code: store.CodeInternal, Message: "internal error: encoding the response"})
		return
	}
	writeRaw(w, status, append(b, '\n'))
}

// writeAPIError writes e as {"error":{"code":…,"message":…,"field":…}}.
func writeAPIError(w http.ResponseWriter, e *apiError) {
	b := make([]byte, 0, 96+len(e.Message)+len(e.Field))
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, e.Code)
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	if e.Field != "" {
		b = append(b, `,"field":`...)
		b = appendString(b, e.Field)
	}
	b = append(b, "}}\n"...)
	if e.Allow != "" {
		w.Header().Set("Allow", e.Allow)
	}
	if e.status() == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeRaw(w, e.status(), b)
}

// appendRecord appends the JSON of a record: the record's own members
// first, in this order — stream, stream_position, global_position,
// partition, recorded — then the event's attributes as the CloudEvents
// JSON format has them. The output has no line breaks when the event's
// data has none.
func appendRecord(dst []byte, rec *store.Record) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendString(dst, rec.Stream)
	dst = append(dst, `,"stream_position":`...)
	dst = strconv.AppendUint(dst, rec.StreamPosition, 10)
	dst = append(dst, `,"global_position":`...)
	dst = strconv.AppendUint(dst, rec.GlobalPosition, 10)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendUint(dst, uint64(rec.Partition), 10)
	if !rec.Recorded.IsZero() {
		dst = append(dst, `,"recorded":"`...)
		dst = rec.Recorded.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	e := rec.Event
	if e == nil {
		return append(dst, '}')
	}
	if hasRecordMember(e.Extensions) {
		// An extension spelt like a record member would repeat the name;
		// the record's member wins. The API refuses such extensions, but
		// events written by other means may carry them.
		c := *e
		c.Extensions = make(map[string]json.RawMessage, len(e.Extensions))
		for k, v := range e.Extensions {
			if !recordMember[k] {
				c.Extensions[k] = v
			}
		}
		e = &c
	}
	dst = append(dst, ',')
	start := len(dst)
	dst = e.AppendJSON(dst)
	// Drop the event's opening brace: its attributes continue the record.
	copy(dst[start:], dst[start+1:])
	return dst[:len(dst)-1]
}

// recordMember holds the record's member names that an extension
// attribute could spell (extension names are lower-case letters and
// digits, so stream_position and global_position cannot clash).
var recordMember = map[string]bool{"stream": true, "partition": true, "recorded": true}

func hasRecordMember(ext map[string]json.RawMessage) bool {
	if len(ext) == 0 {
		return false
	}
	for k := range recordMember {
		if _, ok := ext[k]; ok {
			return true
		}
	}
	return false
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
