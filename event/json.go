package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/internal/jsonw"
)

// maxDepth bounds the nesting of JSON values the decoder accepts.
const maxDepth = 1000

// Decode parses one CloudEvent in structured-mode JSON. It checks the JSON
// syntax, that every string in it is valid UTF-8 (an *Error with code
// CodeInvalidField names the attribute that holds one that is not), and
// the type of every attribute it knows; required attributes and
// size are checked by Validate, so that a missing id can still be filled in
// first. Data is kept as compact JSON text; unknown extension attributes are
// kept as the JSON text of their values.
func Decode(b []byte) (*Event, error) {
	e := new(Event)
	if err := e.decode(b); err != nil {
		return nil, err
	}
	return e, nil
}

// UnmarshalJSON implements json.Unmarshaler with the rules of Decode.
func (e *Event) UnmarshalJSON(b []byte) error {
	*e = Event{}
	return e.decode(b)
}

// MarshalJSON implements json.Marshaler; see AppendJSON.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

func (e *Event) decode(b []byte) error {
	d := decoder{b: b, s: string(b)} // string attributes are cut from one copy
	d.ws()
	if !d.eat('{') {
		return &Error{Code: CodeInvalidJSON, Msg: "want a JSON object"}
	}
	var seen uint32 // bit per known attribute
	d.ws()
	if d.eat('}') {
		return d.end()
	}
	for {
		d.ws()
		kstart := d.i
		d.badUTF8 = false
		if err := d.skipString(); err != nil {
			return err
		}
		kend := d.i
		kraw := d.b[kstart+1 : kend-1]
		if d.badUTF8 {
			return fieldError(CodeInvalidField, strings.ToValidUTF8(string(kraw), "\uFFFD"), "attribute name is not valid UTF-8")
		}
		d.ws()
		if !d.eat(':') {
			return d.syntax("want ':' after attribute name")
		}
		d.ws()
		vstart := d.i
		ws, err := d.skipValue(0)
		if err != nil {
			return err
		}
		if d.badUTF8 {
			name, err := unquote(d.b[kstart:kend])
			if err != nil {
				return err
			}
			return fieldError(CodeInvalidField, name, "not valid UTF-8")
		}
		raw := d.b[vstart:d.i]
		if bit := knownBit(kraw); bit != 0 {
			if seen&bit != 0 {
				return fieldError(CodeInvalidJSON, string(kraw), "attribute appears twice")
			}
			seen |= bit
			err = e.setKnown(&d, string(kraw), vstart, ws)
		} else {
			err = e.setExtension(d.b[kstart:vstart], raw)
		}
		if err != nil {
			return err
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			return d.end()
		}
		return d.syntax("want ',' or '}' after attribute value")
	}
}

// knownBit returns the bit of a known attribute name, or 0.
func knownBit(k []byte) uint32 {
	switch string(k) {
	case "specversion":
		return 1 << 0
	case "id":
		return 1 << 1
	case "source":
		return 1 << 2
	case "type":
		return 1 << 3
	case "subject":
		return 1 << 4
	case "datacontenttype":
		return 1 << 5
	case "dataschema":
		return 1 << 6
	case "correlationid":
		return 1 << 7
	case "causationid":
		return 1 << 8
	case "time":
		return 1 << 9
	case "hops":
		return 1 << 10
	case "data":
		return 1 << 11
	case "data_base64":
		return 1 << 12
	}
	return 0
}

// setExtension stores an unknown attribute; kq is its quoted name up to the
// value, raw its JSON value.
func (e *Event) setExtension(kq, raw []byte) error {
	kq = bytes.TrimRight(kq, " \t\r\n:")
	key, err := unquote(kq)
	if err != nil {
		return err
	}
	if knownBit([]byte(key)) != 0 { // an escaped spelling of a known name
		return fieldError(CodeInvalidField, key, "attribute names must not be escaped")
	}
	if !validExtensionName(key) {
		return fieldError(CodeInvalidField, key, "extension attribute names are lower-case letters and digits")
	}
	if _, dup := e.Extensions[key]; dup {
		return fieldError(CodeInvalidJSON, key, "attribute appears twice")
	}
	if string(raw) == "null" {
		return nil
	}
	if raw[0] == '{' || raw[0] == '[' {
		return fieldError(CodeInvalidField, key, "extension attribute values are strings, numbers or booleans")
	}
	if e.Extensions == nil {
		e.Extensions = make(map[string]json.RawMessage, 2)
	}
	e.Extensions[key] = slices.Clone(raw)
	return nil
}

// str returns the string value that starts at vstart and ends at d.i.
func (d *decoder) str(key string, vstart int) (string, error) {
	raw := d.b[vstart:d.i]
	if raw[0] != '"' {
		return "", fieldError(CodeInvalidField, key, "want a string")
	}
	if bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 { // and valid UTF-8, as skipString saw
		return d.s[vstart+1 : d.i-1], nil
	}
	if esc, ok := loneSurrogate(raw[1 : len(raw)-1]); ok {
		// Decoding would put U+FFFD in its place: the value would not be
		// the one sent.
		return "", fieldError(CodeInvalidField, key, "holds %s, a lone UTF-16 surrogate, which is no Unicode character", esc)
	}
	return unquote(raw)
}

// loneSurrogate returns the first \u escape in body, the inside of a JSON
// string, that is half of a UTF-16 surrogate pair without its other half.
func loneSurrogate(body []byte) (string, bool) {
	hex := func(i int) (rune, bool) {
		if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		r, ok := hex(i)
		if !ok {
			i++ // another escape: skip its character
			continue
		}
		switch {
		case 0xD800 <= r && r < 0xDC00:
			if lo, ok := hex(i + 6); ok && 0xDC00 <= lo && lo < 0xE000 {
				i += 11
				continue
			}
			return string(body[i : i+6]), true
		case 0xDC00 <= r && r < 0xE000:
			return string(body[i : i+6]), true
		}
		i += 5
	}
	return "", false
}

// setKnown stores a known attribute; raw is its JSON value, ws whether
// that value holds insignificant white space.
func (e *Event) setKnown(d *decoder, key string, vstart int, ws bool) error {
	raw := d.b[vstart:d.i]
	if string(raw) == "null" {
		return nil // null means absent
	}
	var err error
	switch key {
	case "specversion":
		e.SpecVersion, err = d.str(key, vstart)
	case "id":
		e.ID, err = d.str(key, vstart)
	case "source":
		e.Source, err = d.str(key, vstart)
	case "type":
		e.Type, err = d.str(key, vstart)
	case "subject":
		e.Subject, err = d.str(key, vstart)
	case "datacontenttype":
		e.DataContentType, err = d.str(key, vstart)
	case "dataschema":
		e.DataSchema, err = d.str(key, vstart)
	case "correlationid":
		e.CorrelationID, err = d.str(key, vstart)
	case "causationid":
		e.CausationID, err = d.str(key, vstart)
	case "time":
		var s string
		if s, err = d.str(key, vstart); err == nil {
			e.Time, err = parseTime(s)
		}
	case "hops":
		n, perr := strconv.ParseInt(string(raw), 10, 32)
		if perr != nil || n < 0 {
			return fieldError(CodeInvalidField, key, "want a non-negative integer, got %.40s", raw)
		}
		e.Hops = int(n)
	case "data":
		if ws {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return fieldError(CodeInvalidField, key, "%v", err)
			}
			raw = buf.Bytes()
		} else {
			raw = slices.Clone(raw)
		}
		e.Data = raw
	case "data_base64":
		var s string
		if s, err = d.str(key, vstart); err == nil {
			e.DataBase64, err = base64.StdEncoding.DecodeString(s)
			if err != nil {
				return fieldError(CodeInvalidField, key, "not base64: %v", err)
			}
			if e.DataBase64 == nil {
				e.DataBase64 = []byte{}
			}
		}
	}
	return err
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fieldError(CodeInvalidField, "time", "not an RFC 3339 timestamp: %q", s)
	}
	return t, nil
}

func validExtensionName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// AppendJSON appends the event in structured-mode JSON to dst: known
// attributes in a fixed order, then extensions sorted by name, then data.
// The output is compact, has no line breaks and is valid UTF-8.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"specversion":`...)
	dst = jsonw.String(dst, e.SpecVersion)
	dst = append(dst, `,"id":`...)
	dst = jsonw.String(dst, e.ID)
	dst = append(dst, `,"source":`...)
	dst = jsonw.String(dst, e.Source)
	dst = append(dst, `,"type":`...)
	dst = jsonw.String(dst, e.Type)
	attr := func(name, v string) {
		if v != "" {
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = jsonw.String(dst, v)
		}
	}
	attr("subject", e.Subject)
	if !e.Time.IsZero() {
		dst = append(dst, `,"time":"`...)
		dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	attr("datacontenttype", e.DataContentType)
	attr("dataschema", e.DataSchema)
	attr("correlationid", e.CorrelationID)
	attr("causationid", e.CausationID)
	if e.Hops != 0 {
		dst = append(dst, `,"hops":`...)
		dst = strconv.AppendInt(dst, int64(e.Hops), 10)
	}
	if len(e.Extensions) > 0 {
		names := make([]string, 0, len(e.Extensions))
		for k := range e.Extensions {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			dst = append(dst, ',')
			dst = jsonw.String(dst, k)
			dst = append(dst, ':')
			dst = appendText(dst, e.Extensions[k])
		}
	}
	if e.Data != nil {
		dst = append(dst, `,"data":`...)
		dst = appendText(dst, e.Data)
	} else if e.DataBase64 != nil {
		dst = append(dst, `,"data_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, e.DataBase64)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendText appends the JSON text b to dst. Events validated now hold
// only valid UTF-8, but one recorded before invalid UTF-8 was refused may
// hold some in its data or extensions. JSON syntax allows such bytes only
// inside strings, so each invalid byte becomes the escape \ufffd there, as
// jsonw.String writes it, and the JSON comes out as valid JSON text.
func appendText(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// unquote decodes the JSON string literal q (quotes included), which
// skipString has found to be valid UTF-8.
func unquote(q []byte) (string, error) {
	body := q[1 : len(q)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", &Error{Code: CodeInvalidJSON, Msg: err.Error()}
	}
	return s, nil
}

// decoder is a small validating JSON scanner over one buffer.
type decoder struct {
	b []byte
	s string // b as a string
	i int
	// badUTF8 is set by skipString when a string holds invalid UTF-8, so
	// that the caller can name the attribute at fault.
	badUTF8 bool
}

func (d *decoder) syntax(msg string) error {
	return &Error{Code: CodeInvalidJSON, Msg: msg + " at offset " + strconv.Itoa(d.i)}
}

func (d *decoder) end() error {
	d.ws()
	if d.i != len(d.b) {
		return d.syntax("unexpected data after the object")
	}
	return nil
}

func (d *decoder) ws() bool {
	start := d.i
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return d.i > start
		}
	}
	return d.i > start
}

func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// skipValue moves past one JSON value, checking its syntax, and reports
// whether the value holds insignificant white space.
func (d *decoder) skipValue(depth int) (ws bool, err error) {
	if depth > maxDepth {
		return false, d.syntax("nesting too deep")
	}
	if d.i >= len(d.b) {
		return false, d.syntax("unexpected end of input")
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return false, d.skipString()
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.i++
		ws = d.ws()
		if d.eat(closing) {
			return ws, nil
		}
		for {
			if c == '{' {
				if d.i >= len(d.b) || d.b[d.i] != '"' {
					return false, d.syntax("want an object key")
				}
				if err := d.skipString(); err != nil {
					return false, err
				}
				ws = d.ws() || ws
				if !d.eat(':') {
					return false, d.syntax("want ':' after object key")
				}
				ws = d.ws() || ws
			}
			w, err := d.skipValue(depth + 1)
			if err != nil {
				return false, err
			}
			ws = d.ws() || w || ws
			if d.eat(',') {
				ws = d.ws() || ws
				continue
			}
			if d.eat(closing) {
				return ws, nil
			}
			return false, d.syntax("want ',' or '" + string(closing) + "'")
		}
	case c == '-' || '0' <= c && c <= '9':
		return false, d.skipNumber()
	case c == 't':
		return false, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return false, d.literal("null")
	default:
		return false, d.syntax("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}

func (d *decoder) literal(lit string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		return d.syntax("invalid literal")
	}
	d.i += len(lit)
	return nil
}

func (d *decoder) skipString() error {
	if !d.eat('"') {
		return d.syntax("want a string")
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return nil
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return d.syntax("unexpected end of input in string")
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if d.i+5 > len(d.b) {
					return d.syntax("short \\u escape")
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return d.syntax("bad \\u escape")
					}
				}
				d.i += 5
			default:
				return d.syntax("bad escape in string")
			}
		case c < 0x20:
			return d.syntax("control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				d.badUTF8 = true
			}
			d.i += size
		default:
			d.i++
		}
	}
	return d.syntax("unterminated string")
}

func (d *decoder) skipNumber() error {
	start := d.i
	d.eat('-')
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.eat('0') {
		// a leading zero stands alone
	} else if digits() == 0 {
		return d.syntax("bad number")
	}
	if d.eat('.') && digits() == 0 {
		return d.syntax("bad number")
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if !d.eat('+') {
			d.eat('-')
		}
		if digits() == 0 {
			return d.syntax("bad number")
		}
	}
	if d.i == start {
		return d.syntax("bad number")
	}
	return nil
}
