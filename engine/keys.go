package engine

import (
	"bytes"
	"encoding/json"
)

// rawValue is the JSON text of one value found in event data.
type rawValue []byte

// appendText appends the value as correlation key text: a string without
// its quotes (unescaped), anything else as its JSON text as written.
func (v rawValue) appendText(b []byte) []byte {
	if len(v) > 0 && v[0] == '"' {
		if bytes.IndexByte(v, '\\') < 0 {
			return append(b, v[1:len(v)-1]...)
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return append(b, s...)
		}
	}
	return append(b, v...)
}

// lookupKey returns the value of a top-level member of the JSON object
// data; when the member repeats, the last one counts, as with
// encoding/json. A member that is absent or null, or data that is not an
// object, gives false.
func lookupKey(data []byte, key string) (rawValue, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i++
	var found rawValue
	for {
		i = skipSpace(data, i)
		if i < len(data) && data[i] == '}' && found == nil {
			return nil, false
		}
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		end, ok := scanString(data, i)
		if !ok {
			return nil, false
		}
		name := data[i:end]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		vend, ok := scanValue(data, i)
		if !ok {
			return nil, false
		}
		if nameIs(name, key) {
			found = rawValue(data[i:vend])
		}
		i = skipSpace(data, vend)
		if i < len(data) && data[i] == '}' {
			if found == nil || string(found) == "null" {
				return nil, false
			}
			return found, true
		}
		if i >= len(data) || data[i] != ',' {
			return nil, false
		}
		i++
	}
}

// nameIs reports whether the quoted JSON string name equals key.
func nameIs(name []byte, key string) bool {
	inner := name[1 : len(name)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == key
	}
	var s string
	return json.Unmarshal(name, &s) == nil && s == key
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string starting at b[i].
func scanString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// scanValue returns the index just past the value starting at b[i].
func scanValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := scanString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j, j > i
	}
}
