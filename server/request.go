package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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
	if err := checkContentEncoding(r.Header); err != nil {
		return nil, err
	}
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

// checkContentEncoding refuses a body with a content coding (gzip and the
// like): the API reads bodies as they are, and would take a compressed
// one for malformed.
func checkContentEncoding(h http.Header) *apiError {
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return errorf(CodeUnsupportedEncoding, "Content-Encoding",
					"Content-Encoding %q: bodies are read as sent, without a content coding; send the body uncompressed", c)
			}
		}
	}
	return nil
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
// a JSON Content-Type, refuses unknown fields, trailing data and invalid
// UTF-8 (which encoding/json would silently replace with U+FFFD), and maps
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
	if !utf8.Valid(*bp) {
		if field := invalidUTF8Field(*bp); field != "" {
			return errorf(event.CodeInvalidField, field, "not valid UTF-8")
		}
		return errorf(event.CodeInvalidJSON, "", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(*bp))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, reflect.TypeOf(v))
	}
	if dec.More() {
		return errorf(event.CodeInvalidJSON, "", "unexpected data after the JSON value")
	}
	return nil
}

// invalidUTF8Field names the value of the JSON text b that holds the first
// string that is not valid UTF-8, as the agent package names fields:
// "name", "capabilities[2]", "metadata.region". A member name that is not
// UTF-8 is blamed on the object that has it. It returns "" when the
// string is not in a value with a name (a member name of the top-level
// object, say) or b is not JSON.
func invalidUTF8Field(b []byte) string {
	// A frame is an open container with the name or index of its current
	// member: the path to a value is the names of all the open frames.
	type frame struct {
		obj   bool
		name  string // object: the current member's name
		index int    // array: the current element's index
		atKey bool   // object: the next token is a member name
	}
	var stack []frame
	path := func(frames []frame) string {
		var sb strings.Builder
		for _, f := range frames {
			if !f.obj {
				sb.WriteString("[" + strconv.Itoa(f.index) + "]")
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(f.name)
		}
		return sb.String()
	}
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].obj {
				stack[n-1].atKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	prev := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		off := int(dec.InputOffset())
		bad := !utf8.Valid(b[prev:off]) // the token, and separators, which are ASCII
		prev = off
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				stack = append(stack, frame{obj: tok == '{', atKey: tok == '{'})
				continue
			}
			stack = stack[:len(stack)-1]
		case string:
			if n := len(stack); n > 0 && stack[n-1].atKey {
				if bad {
					return path(stack[:n-1])
				}
				stack[n-1].name, stack[n-1].atKey = tok, false
				continue
			}
			if bad {
				return path(stack)
			}
		}
		valueDone()
	}
}

// jsonError maps an error of encoding/json decoding into a value of type
// t to an *apiError, in the terms of the JSON document: members by their
// JSON names, types as JSON has them.
func jsonError(err error, t reflect.Type) *apiError {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return errorf(event.CodeInvalidJSON, "", "%s at offset %d", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	case errors.As(err, &te):
		return errorf(event.CodeInvalidField, jsonPath(t, te.Field), "%s", typeMismatch(te))
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

// typeMismatch says what a json.UnmarshalTypeError is about: "want a
// number, got a string".
func typeMismatch(te *json.UnmarshalTypeError) string {
	want := jsonTypeName(te.Type)
	if num, ok := strings.CutPrefix(te.Value, "number "); ok {
		// A number that does not fit: a fraction for an integer, or
		// out of range.
		if want == "an integer" && strings.ContainsAny(num, ".eE") {
			return "want an integer, got " + num
		}
		return num + " is out of range"
	}
	got := map[string]string{"string": "a string", "number": "a number", "bool": "a boolean",
		"array": "an array", "object": "an object"}[te.Value]
	if got == "" {
		got = te.Value
	}
	return "want " + want + ", got " + got
}

// jsonTypeName names the JSON type a Go type is decoded from.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string" // base64
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value"
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// jsonPath turns the Field of a json.UnmarshalTypeError for a value of
// type t into the path of JSON member names: encoding/json puts the Go
// names of embedded structs in it too ("Profile.load" for "load").
func jsonPath(t reflect.Type, field string) string {
	if field == "" || t == nil {
		return field
	}
	var out []string
	for _, name := range strings.Split(field, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out = append(out, name)
			t = nil
			continue
		}
		if sf, ok := t.FieldByName(name); ok && sf.Anonymous {
			t = sf.Type // an embedded struct: its members are the outer one's
			continue
		}
		out = append(out, name)
		t = memberType(t, name)
	}
	return strings.Join(out, ".")
}

// memberType returns the type of the member of struct t with JSON name
// name, nil when there is none.
func memberType(t reflect.Type, name string) reflect.Type {
	for _, sf := range reflect.VisibleFields(t) {
		if sf.Anonymous || !sf.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == "" {
			tag = sf.Name
		}
		if tag == name {
			return sf.Type
		}
	}
	return nil
}

// parseQuery returns the request's query parameters, refusing names the
// route does not take and repeats of those not repeatable, so a misspelt
// parameter is an error rather than silently ignored. A route whose
// parameters are unchecked gets nil.
func parseQuery(r *http.Request, p params) (url.Values, error) {
	if r.URL.RawQuery == "" || p.unchecked {
		return nil, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(CodeInvalidQuery, "", "malformed query: %v", err)
	}
	for name, vs := range q {
		switch {
		case !contains(p.names, name) && len(p.names) == 0:
			return nil, errorf(CodeInvalidQuery, name, "unknown parameter; this endpoint takes none")
		case !contains(p.names, name):
			return nil, errorf(CodeInvalidQuery, name, "unknown parameter; this endpoint takes %s", strings.Join(p.names, ", "))
		case len(vs) > 1 && !contains(p.repeatable, name):
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
	if errors.Is(err, strconv.ErrRange) {
		return 0, errorf(CodeInvalidQuery, name, "%s is over the largest value, %d", v[0], uint64(math.MaxUint64))
	}
	if err != nil {
		return 0, errorf(CodeInvalidQuery, name, "want a non-negative integer, got %q", v[0])
	}
	return n, nil
}

// queryLimit returns the page size parameter "limit": def when absent,
// max when above max (however large), and an error when not a positive
// integer.
func queryLimit(q url.Values, def, max int) (int, error) {
	v, ok := q["limit"]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return max, nil // digits only, too many for a uint64
	}
	if err != nil || n == 0 {
		return 0, errorf(CodeInvalidQuery, "limit", "want a positive integer, got %q", v[0])
	}
	if n > uint64(max) {
		return max, nil
	}
	return int(n), nil
}
