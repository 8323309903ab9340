package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/choreohq/choreo/event"
)

// Body buffers are pooled; one that grew past maxPooledBody is left to
// the garbage collector so the pool does not pin large buffers.
const (
	initialBody   = 16 << 10
	maxPooledBody = 1 << 20
)

var bodyPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBody)
	return &b
}}

// readBody reads the whole request body, at most Config.MaxBodyBytes of
// it, into a pooled buffer. Give the buffer back with putBody once nothing
// points into it.
func (s *Server) readBody(r *http.Request) (*[]byte, error) {
	max := s.cfg.MaxBodyBytes
	if r.ContentLength > max {
		return nil, errorf(CodeBodyTooLarge, "", "the body is %d bytes, over the limit of %d", r.ContentLength, max)
	}
	bp := bodyPool.Get().(*[]byte)
	b := (*bp)[:0]
	if r.ContentLength > 0 && int64(cap(b)) <= r.ContentLength {
		// Room for the body and the read that sees its end.
		b = make([]byte, 0, r.ContentLength+1)
	}
	limit := max + 1 // read one byte past the limit to see a body over it
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		end := cap(b)
		if int64(end) > limit {
			end = int(limit)
		}
		n, err := r.Body.Read(b[len(b):end])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b
			putBody(bp)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errorf(CodeBodyTooLarge, "", "the body is over the limit of %d bytes", max)
			}
			return nil, errorf(event.CodeInvalidJSON, "", "reading the body: %v", err)
		}
	}
	*bp = b
	if int64(len(b)) > max {
		putBody(bp)
		return nil, errorf(CodeBodyTooLarge, "", "the body is over the limit of %d bytes", max)
	}
	return bp, nil
}

// putBody returns a body buffer to the pool.
func putBody(bp *[]byte) {
	if cap(*bp) > maxPooledBody {
		return
	}
	*bp = (*bp)[:0]
	bodyPool.Put(bp)
}

// mediaType returns the media type of a Content-Type value, without
// parameters, in lower case.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for i := 0; i < len(ct); i++ {
		if c := ct[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

// isJSONMediaType reports whether a media type (from mediaType) is JSON:
// application/json or any +json type.
func isJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// decodeJSON reads a JSON request body into v with encoding/json, for
// endpoints whose bodies are small documents rather than events. It wants
// a JSON Content-Type, refuses unknown fields and trailing data, and maps
// every failure to an *apiError naming the field at fault.
func (s *Server) decodeJSON(r *http.Request, v any) error {
	if mt := mediaType(r.Header.Get("Content-Type")); !isJSONMediaType(mt) {
		return errorf(CodeUnsupportedMediaType, "", "want Content-Type application/json, got %q", r.Header.Get("Content-Type"))
	}
	bp, err := s.readBody(r)
	if err != nil {
		return err
	}
	defer putBody(bp)
	dec := json.NewDecoder(bytes.NewReader(*bp))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errorf(event.CodeInvalidJSON, "", "unexpected data after the JSON value")
	}
	return nil
}

// jsonError maps an encoding/json error to an *apiError.
func jsonError(err error) *apiError {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return errorf(event.CodeInvalidJSON, "", "%s at offset %d", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	case errors.As(err, &te):
		return errorf(event.CodeInvalidField, te.Field, "want %s, got JSON %s", te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return errorf(event.CodeInvalidJSON, "", "empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(event.CodeInvalidJSON, "", "unexpected end of the JSON input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return errorf(event.CodeInvalidField, name, "unknown field")
	}
	return errorf(event.CodeInvalidJSON, "", "%s", strings.TrimPrefix(msg, "json: "))
}

// parseQuery returns the request's query parameters, refusing names not
// in allowed and repeats of those not in repeatable, so a misspelt
// parameter is an error rather than silently ignored.
func parseQuery(r *http.Request, allowed []string, repeatable ...string) (url.Values, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(CodeInvalidQuery, "", "malformed query: %v", err)
	}
	for name, vs := range q {
		switch {
		case !contains(allowed, name):
			return nil, errorf(CodeInvalidQuery, name, "unknown parameter; this endpoint takes %s", strings.Join(allowed, ", "))
		case len(vs) > 1 && !contains(repeatable, name):
			return nil, errorf(CodeInvalidQuery, name, "given %d times", len(vs))
		}
	}
	return q, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// queryUint returns the unsigned integer parameter name, or def when it
// is absent.
func queryUint(q url.Values, name string, def uint64) (uint64, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, errorf(CodeInvalidQuery, name, "want a non-negative integer, got %q", v[0])
	}
	return n, nil
}

// queryLimit returns the page size parameter "limit": def when absent,
// max when above max, and an error when not a positive integer.
func queryLimit(q url.Values, def, max int) (int, error) {
	v, ok := q["limit"]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil || n == 0 {
		return 0, errorf(CodeInvalidQuery, "limit", "want a positive integer, got %q", v[0])
	}
	if n > uint64(max) {
		return max, nil
	}
	return int(n), nil
}
