package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/choreohq/choreo/internal/jsonw"
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
	b = jsonw.String(b, e.Code)
	b = append(b, `,"message":`...)
	b = jsonw.String(b, e.Message)
	if e.Field != "" {
		b = append(b, `,"field":`...)
		b = jsonw.String(b, e.Field)
	}
	b = append(b, "}}\n"...)
	if e.Allow != "" {
		w.Header().Set("Allow", e.Allow)
	}
	if e.Code == CodeUnsupportedEncoding {
		// RFC 7694: the codings a request body may have.
		w.Header().Set("Accept-Encoding", "identity")
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
	dst = jsonw.String(dst, rec.Stream)
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
