// Package jsonscan reads JSON text laid out exactly as one of the
// project's own encoders writes it: the fast path of a decoder that falls
// back to encoding/json for anything else.
//
// A Scanner takes only what it is sure encoding/json would decode to the
// same value: literal layout text, strings of printable ASCII without
// escapes, integers without leading zeros, times as time.Time decodes
// them. At the first thing it is not sure of it stops, and OK reports
// false; the caller then decodes the whole input with encoding/json.
package jsonscan

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/choreohq/choreo/internal/jsonvalid"
)

// Scanner reads one input. The strings it returns share one copy of the
// input.
type Scanner struct {
	b  string
	ok bool
}

// New returns a Scanner over a copy of b.
func New(b []byte) Scanner { return Scanner{b: string(b), ok: true} }

// NewShared returns a Scanner over b itself, for a scan that checks the
// input and keeps nothing it read, or copies what it keeps: the strings it
// returns share b's memory, so they change if b does.
func NewShared(b []byte) Scanner {
	return Scanner{b: unsafe.String(unsafe.SliceData(b), len(b)), ok: true}
}

// OK reports whether everything read so far was as expected.
func (s *Scanner) OK() bool { return s.ok }

// Done reports whether everything was as expected and the input is read
// to its end.
func (s *Scanner) Done() bool { return s.ok && len(s.b) == 0 }

// Fail stops the scan: OK reports false from now on.
func (s *Scanner) Fail() { s.ok = false }

// Lit reads the literal text l.
func (s *Scanner) Lit(l string) {
	if s.Peek(l) {
		s.b = s.b[len(l):]
		return
	}
	s.ok = false
}

// Peek reports whether the input goes on with l, reading nothing.
func (s *Scanner) Peek(l string) bool { return s.ok && len(s.b) >= len(l) && s.b[:len(l)] == l }

// Str reads a JSON string of printable ASCII without escapes.
func (s *Scanner) Str() string {
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

// Strs reads a JSON array of strings as Str reads them: an empty array
// gives an empty slice, not nil. With orNull, null gives nil.
func (s *Scanner) Strs(orNull bool) []string {
	if orNull && s.Peek("null") {
		s.b = s.b[len("null"):]
		return nil
	}
	s.Lit("[")
	out := []string{}
	for s.ok && len(s.b) > 0 && s.b[0] != ']' {
		if len(out) > 0 {
			s.Lit(",")
		}
		out = append(out, s.Str())
	}
	s.Lit("]")
	return out
}

// SkipStrs reads what Strs(false) reads, keeping nothing: it allocates
// nothing.
func (s *Scanner) SkipStrs() {
	s.Lit("[")
	for first := true; s.ok && len(s.b) > 0 && s.b[0] != ']'; first = false {
		if !first {
			s.Lit(",")
		}
		s.Str()
	}
	s.Lit("]")
}

// Int reads a JSON integer that fits an int.
func (s *Scanner) Int() int {
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
	if i == start || (s.b[start] == '0' && i > start+1) { // no digit, or a leading zero
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

// Float reads a JSON number as encoding/json decodes it into a float64.
func (s *Scanner) Float() float64 {
	if !s.ok {
		return 0
	}
	n := numberLen(s.b)
	if n == 0 {
		s.ok = false
		return 0
	}
	f, err := strconv.ParseFloat(s.b[:n], 64)
	if err != nil { // out of range: encoding/json refuses it too
		s.ok = false
		return 0
	}
	s.b = s.b[n:]
	return f
}

// numberLen returns the length of the JSON number b starts with, 0 if it
// does not start with one.
func numberLen(b string) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0
		}
	}
	return i
}

// Time reads a JSON string as time.Time's UnmarshalJSON reads it.
func (s *Scanner) Time() time.Time {
	q := s.b
	v := s.Str()
	if !s.ok {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalJSON([]byte(q[:len(v)+2])); err != nil {
		s.ok = false
	}
	return t
}

// MaxObjectDepth bounds the nesting of an object Object takes: encoding/json
// refuses input nested over 10,000 levels, counting the levels around the
// object, and a deeper object is left to it.
const MaxObjectDepth = 1000

// Object reads a JSON object, valid as encoding/json.Valid judges it, and
// returns its text as it stands in the input.
func (s *Scanner) Object() string {
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
			if depth > MaxObjectDepth {
				s.ok = false
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
