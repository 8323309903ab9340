package condition

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// This file gives CEL a view of JSON text that decodes only what a
// condition reads. A condition such as `data.amount > 1000` looks up one
// key of the top-level object: scanning the text for it is several times
// cheaper than decoding the whole object. Objects stay undecoded until a
// key is read; strings, numbers, booleans and null are decoded when read;
// arrays, and objects that are iterated, compared or converted, are
// decoded in full with encoding/json.
//
// JSON numbers become CEL doubles, as in CEL's own JSON mapping. When an
// object holds a key more than once, the last one wins, as with
// encoding/json.

// jsonValue returns the CEL value of the JSON text b. An object is not
// scanned until a key is read.
func jsonValue(b []byte) ref.Val {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return types.NullValue
	}
	if b[0] == '{' && b[len(b)-1] == '}' {
		return &jsonObject{b}
	}
	end, err := skipValue(b, 0)
	if err != nil {
		return types.WrapErr(err)
	}
	if end != len(b) {
		return types.WrapErr(fmt.Errorf("%w: trailing text after value", ErrJSON))
	}
	return decodeJSON(b)
}

// decodeJSON decodes one JSON value whose extent is exactly v.
func decodeJSON(v []byte) ref.Val {
	switch c := v[0]; {
	case c == '{':
		return &jsonObject{v}
	case c == '"':
		if s, ok := plainString(v); ok {
			return types.String(s)
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return types.WrapErr(fmt.Errorf("%w: %v", ErrJSON, err))
		}
		return types.String(s)
	case c == 't' && string(v) == "true":
		return types.True
	case c == 'f' && string(v) == "false":
		return types.False
	case c == 'n' && string(v) == "null":
		return types.NullValue
	case c == '-' || (c >= '0' && c <= '9'):
		if !isNumber(v) {
			break
		}
		f, err := parseNumber(v)
		if err != nil {
			return types.WrapErr(fmt.Errorf("%w: number %q: %v", ErrJSON, v, err))
		}
		return types.Double(f)
	case c == '[':
		return decodeFull(v)
	}
	return types.WrapErr(fmt.Errorf("%w: unexpected %q", ErrJSON, truncate(v)))
}

// decodeFull decodes v with encoding/json and adapts the result.
func decodeFull(v []byte) ref.Val {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return types.WrapErr(fmt.Errorf("%w: %v", ErrJSON, err))
	}
	return theProvider.NativeToValue(x)
}

// plainString returns the contents of a JSON string without escapes or
// control characters. The string shares the bytes of v, which must not
// change while it is in use: values live only during one evaluation, over
// data that does not change during it.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	for _, c := range in {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	if len(in) == 0 {
		return "", true
	}
	return unsafe.String(&in[0], len(in)), true
}

// parseNumber parses number text as strconv.ParseFloat does, integers of
// up to 15 digits without it: they convert to float64 exactly.
func parseNumber(v []byte) (float64, error) {
	if len(v) == 0 {
		return strconv.ParseFloat("", 64) // its syntax error
	}
	d := v
	neg := len(d) > 0 && d[0] == '-'
	if neg {
		d = d[1:]
	}
	if len(d) > 0 && len(d) <= 15 {
		n := int64(0)
		for _, c := range d {
			if c < '0' || c > '9' {
				return strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
			}
			n = n*10 + int64(c-'0')
		}
		switch {
		case !neg:
			return float64(n), nil
		case n != 0: // -0 is negative zero: ParseFloat's
			return float64(-n), nil
		}
	}
	return strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
}

func isNumber(v []byte) bool {
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

func truncate(v []byte) string {
	if len(v) > 20 {
		return string(v[:20]) + "…"
	}
	return string(v)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

var errTruncated = fmt.Errorf("%w: unexpected end of text", ErrJSON)

// skipString returns the index after the string starting at b[i] and
// whether the string holds an escape (any backslash), in which case its
// text must be decoded before it is compared.
func skipString(b []byte, i int) (int, bool, error) {
	esc := false
	j := i + 1
	for {
		// Find the next quote or backslash, eight bytes at a time.
		for j+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[j:])
			if m := hasByte(x, '"') | hasByte(x, '\\'); m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return 0, false, errTruncated
		}
		if b[j] == '"' {
			return j + 1, esc, nil
		}
		// A backslash escapes the byte after it.
		esc = true
		j += 2
	}
}

// hasByte returns a word whose lowest set bit, if any, is the top bit of
// the first byte of x (in little-endian order) equal to c. Bits above it
// may be set spuriously.
func hasByte(x uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	y := x ^ (lo * uint64(c))
	return (y - lo) &^ y & hi
}

// skipValue returns the index after the value starting at b[i]. It checks
// only what it must to find the end; decoding checks the rest.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errTruncated
	}
	switch b[i] {
	case '"':
		end, _, err := skipString(b, i)
		return end, err
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errTruncated
	case '}', ']', ',', ':':
		return 0, fmt.Errorf("%w: unexpected %q", ErrJSON, b[i])
	}
	j := i
	for j < len(b) {
		c := b[j]
		if c == ',' || c == '}' || c == ']' || c == ':' || c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	return j, nil
}

// jsonObject is a JSON object, undecoded. b spans exactly the object, from
// '{' to '}'.
type jsonObject struct{ b []byte }

var (
	_ traits.Mapper = (*jsonObject)(nil)
	_ ref.Val       = (*jsonObject)(nil)
)

// memberScanner reads the members of the JSON object b, in order. It is
// what both the CEL view and the native evaluation of conditions read
// objects with, so that they agree on what malformed text means.
type memberScanner struct {
	b    []byte // the object, from '{' to '}'
	i    int    // where the next member starts; 0 before the first
	done bool
	err  error
}

// next returns the next member, with its key still quoted and the escape
// flag skipString reports for the key. It returns ok false at the end of
// the object or on malformed text, which s.err then reports.
func (s *memberScanner) next() (key []byte, esc bool, val []byte, ok bool) {
	if s.done {
		return nil, false, nil, false
	}
	b := s.b
	i := s.i
	if i == 0 {
		i = skipWS(b, 1)
		if i < len(b) && b[i] == '}' {
			s.done = true
			return nil, false, nil, false
		}
	}
	if i >= len(b) || b[i] != '"' {
		return s.fail(fmt.Errorf("%w: object key expected", ErrJSON))
	}
	kend, esc, err := skipString(b, i)
	if err != nil {
		return s.fail(err)
	}
	key = b[i:kend]
	i = skipWS(b, kend)
	if i >= len(b) || b[i] != ':' {
		return s.fail(fmt.Errorf("%w: ':' expected after object key", ErrJSON))
	}
	i = skipWS(b, i+1)
	vend, err := skipValue(b, i)
	if err != nil {
		return s.fail(err)
	}
	if vend == i {
		return s.fail(fmt.Errorf("%w: object value expected", ErrJSON))
	}
	val = b[i:vend]
	i = skipWS(b, vend)
	switch {
	case i >= len(b):
		// The member is returned; the error comes with the next call.
		s.err = errTruncated
		s.done = true
	case b[i] == ',':
		s.i = skipWS(b, i+1)
	case b[i] == '}':
		s.done = true
	default:
		s.err = fmt.Errorf("%w: ',' or '}' expected in object", ErrJSON)
		s.done = true
	}
	return key, esc, val, true
}

func (s *memberScanner) fail(err error) ([]byte, bool, []byte, bool) {
	s.err = err
	s.done = true
	return nil, false, nil, false
}

// lookup returns the text of the value of key; the last one when the key
// occurs more than once.
func (o *jsonObject) lookup(key string) ([]byte, bool, error) {
	var val []byte
	found := false
	m := newKeyMatcher(key)
	s := memberScanner{b: o.b}
	for {
		k, esc, v, ok := s.next()
		if !ok {
			return val, found, s.err
		}
		if m.is(k, esc) {
			val, found = v, true
		}
	}
}

// keyMatcher tells whether object keys decode to one key.
type keyMatcher struct {
	key string
	// valid is whether key is valid UTF-8, so that text equal to it is.
	valid bool
	// fffd is whether key holds U+FFFD, what encoding/json decodes a bad
	// UTF-8 byte to: only then can a key with bad UTF-8 match it.
	fffd bool
}

func newKeyMatcher(key string) keyMatcher {
	return keyMatcher{key: key, valid: utf8.ValidString(key), fffd: strings.ContainsRune(key, utf8.RuneError)}
}

// is reports whether the quoted JSON object key k, which holds escapes
// when esc is set (see skipString), decodes to the key. Text without
// escapes is compared as written when it is valid UTF-8; otherwise it
// decodes as encoding/json decodes it, with U+FFFD for each bad byte.
func (m keyMatcher) is(k []byte, esc bool) bool {
	if !esc {
		raw := k[1 : len(k)-1]
		if string(raw) == m.key {
			if m.valid {
				return true
			}
		} else if !m.fffd {
			// Valid UTF-8 is compared as written; bad UTF-8 decodes with
			// a U+FFFD that m.key does not hold.
			return false
		} else if utf8.Valid(raw) {
			return false
		}
	}
	var s string
	return json.Unmarshal(k, &s) == nil && s == m.key
}

// Find implements traits.Mapper.
func (o *jsonObject) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		// Only string keys can be present in a JSON object.
		return nil, false
	}
	v, found, err := o.lookup(string(k))
	if err != nil {
		return types.WrapErr(err), false
	}
	if !found {
		return nil, false
	}
	return decodeJSON(v), true
}

// Get implements traits.Indexer.
func (o *jsonObject) Get(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found && v == nil {
		return types.NewErr("no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container.
func (o *jsonObject) Contains(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if v != nil && types.IsError(v) {
		return v
	}
	return types.Bool(found)
}

// Size implements traits.Sizer. It decodes the object in full, so that a
// key that occurs twice counts once.
func (o *jsonObject) Size() ref.Val {
	if m, ok := o.full().(traits.Sizer); ok {
		return m.Size()
	}
	return o.full()
}

// full returns the object decoded in full.
func (o *jsonObject) full() ref.Val { return decodeFull(o.b) }

// Iterator implements traits.Iterable.
func (o *jsonObject) Iterator() traits.Iterator {
	if m, ok := o.full().(traits.Mapper); ok {
		return m.Iterator()
	}
	return types.NewStringInterfaceMap(theProvider, nil).Iterator()
}

// ConvertToNative implements ref.Val.
func (o *jsonObject) ConvertToNative(t reflect.Type) (any, error) {
	return o.full().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (o *jsonObject) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return types.MapType
	case types.MapType:
		return o
	}
	return o.full().ConvertToType(t)
}

// Equal implements ref.Val.
func (o *jsonObject) Equal(other ref.Val) ref.Val { return o.full().Equal(other) }

// Type implements ref.Val.
func (o *jsonObject) Type() ref.Type { return types.MapType }

// Value implements ref.Val: the object decoded by encoding/json, or nil
// when the text is malformed.
func (o *jsonObject) Value() any {
	var x map[string]any
	if json.Unmarshal(o.b, &x) != nil {
		return nil
	}
	return x
}
