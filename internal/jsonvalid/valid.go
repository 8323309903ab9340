package jsonvalid

import (
	"encoding/binary"
	"math/bits"
)

// MaxDepth is the deepest nesting of arrays and objects Valid accepts, the
// limit of encoding/json.
const MaxDepth = 10000

// Valid reports whether b is a valid JSON encoding, exactly as
// encoding/json.Valid does.
func Valid(b []byte) bool {
	// kinds holds one bit per open container, set for an object; depth is
	// the number of open containers and inObject the kind of the innermost.
	// The first 256 levels live in local, deeper ones on the heap.
	var local [4]uint64
	kinds := local[:]
	depth := 0
	inObject := false

	i := 0
	// key tells whether the name of an object member comes first; every way
	// back to the top of the loop sets it.
	key := false
	for {
		i = skipSpace(b, i)
		if key {
			if i >= len(b) || b[i] != '"' {
				return false
			}
			if i = str(b, i+1); i < 0 {
				return false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i = skipSpace(b, i+1)
		}

		// At the start of a value.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == MaxDepth {
				return false
			}
			w := depth >> 6
			if w == len(kinds) {
				kinds = append(kinds, 0)
			}
			inObject = c == '{'
			if inObject {
				kinds[w] |= 1 << (depth & 63)
			} else {
				kinds[w] &^= 1 << (depth & 63)
			}
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
				i++
				depth, inObject = pop(kinds, depth)
				break
			}
			key = inObject
			continue
		case '"':
			if i = str(b, i+1); i < 0 {
				return false
			}
		case 't':
			if !has(b, i, "true") {
				return false
			}
			i += 4
		case 'f':
			if !has(b, i, "false") {
				return false
			}
			i += 5
		case 'n':
			if !has(b, i, "null") {
				return false
			}
			i += 4
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if i = number(b, i); i < 0 {
				return false
			}
		default:
			return false
		}

		// After a value: close containers until a comma leads to the next
		// value, or the top-level value is complete.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			c := b[i]
			i++
			if c == ',' {
				key = inObject
				break
			}
			if inObject && c == '}' || !inObject && c == ']' {
				depth, inObject = pop(kinds, depth)
				continue
			}
			return false
		}
	}
}

// pop closes the innermost of depth open containers, returning the new
// depth and whether the container now innermost is an object.
func pop(kinds []uint64, depth int) (int, bool) {
	depth--
	if depth == 0 {
		return 0, false
	}
	d := depth - 1
	return depth, kinds[d>>6]&(1<<(d&63)) != 0
}

// has reports whether b[i:] starts with lit.
func has(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// skipSpace returns the index of the first byte at or after b[i] that is
// not JSON whitespace, or len(b).
func skipSpace(b []byte, i int) int {
	for ; i < len(b); i++ {
		if c := b[i]; c > ' ' || c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return i
		}
	}
	return i
}

// plain reports the bytes that stand for themselves in a string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < len(t); c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// isHex reports the hexadecimal digits.
var isHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// SWAR constants: a byte value repeated in every byte of a word.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// str reads the rest of a string whose opening quote is b[i-1]. It returns
// the index after the closing quote, or -1.
func str(b []byte, i int) int {
	for {
		if len(b)-i >= 8 {
			// Eight bytes at a time: m has the high bit of each byte of w
			// below 0x20 or equal to a quote or a backslash. The lowest such
			// bit is exact (a higher one may come from a borrow), so it
			// locates the first byte that does not stand for itself.
			w := binary.LittleEndian.Uint64(b[i:])
			q := w ^ ('"' * ones)
			s := w ^ ('\\' * ones)
			m := ((w - 0x20*ones) | (q - ones) | (s - ones)) &^ (w | q | s) & highs
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && plain[b[i]] {
				i++
			}
			if i >= len(b) {
				return -1
			}
		}
		if b[i] == '"' {
			return i + 1
		}
		if i = escape(b, i); i < 0 {
			return -1
		}
	}
}

// escape reads an escape starting at b[i], a byte of a string that does
// not stand for itself and is not a quote. It returns the index after the
// escape, or -1.
func escape(b []byte, i int) int {
	if b[i] != '\\' || i+1 >= len(b) {
		return -1 // a control character, or a backslash at the end
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		if len(b)-i >= 6 && isHex[b[i+2]] && isHex[b[i+3]] && isHex[b[i+4]] && isHex[b[i+5]] {
			return i + 6
		}
	}
	return -1
}

// number reads a number starting at b[i], which is '-' or a digit, per
// the grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. It returns
// the index after the number, or -1.
func number(b []byte, i int) int {
	if b[i] == '-' {
		i++
		if i >= len(b) {
			return -1
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		i = digits(b, i+1)
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		i = digits(b, i+1)
	}
	return i
}

// digits returns the index of the first byte at or after b[i] that is not
// a decimal digit, or len(b).
func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
