package choreography

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// place maps a position inside the value of the scalar v (1-based line
// and column, columns in characters, as condition issues give them) to
// its position in the file. It is exact for single-line plain and quoted
// scalars and for literal block scalars (|), and close for folded ones.
func (c *checker) place(v *yaml.Node, line, col int) (int, int) {
	if line <= 0 || col <= 0 || c.src == nil {
		return v.Line, v.Column
	}
	off := valueOffset(v.Value, line, col)
	if off < 0 {
		return v.Line, v.Column
	}
	switch {
	case v.Style&yaml.LiteralStyle != 0:
		// Line k of the value is line k after the header line, less the
		// block's indentation: that of its first line that is not blank.
		ind := -1
		for l := v.Line + 1; ind < 0; l++ {
			text, ok := c.line(l)
			if !ok {
				return v.Line, v.Column
			}
			if len(bytes.TrimSpace(text)) > 0 {
				ind = indentOf(text)
			}
		}
		return v.Line + line, ind + col
	case v.Style&yaml.DoubleQuotedStyle != 0:
		return c.walkQuoted(v, off, '"')
	case v.Style&yaml.SingleQuotedStyle != 0:
		return c.walkQuoted(v, off, '\'')
	case v.Style&yaml.FoldedStyle != 0:
		return c.walkFolded(v.Line+1, 0, off)
	default:
		if !strings.Contains(v.Value, "\n") && off <= runeLen(c.rest(v.Line, v.Column)) {
			return v.Line, v.Column + off
		}
		return c.walkFolded(v.Line, v.Column, off)
	}
}

// valueOffset returns the offset in characters of line:col in s, or -1.
func valueOffset(s string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return -1
		}
		off += utf8.RuneCountInString(s[:i]) + 1
		s = s[i+1:]
	}
	return off + col - 1
}

func runeLen(b []byte) int { return utf8.RuneCount(b) }

// line returns line n (1-based) of the source, without its newline.
func (c *checker) line(n int) ([]byte, bool) {
	src := c.src
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return nil, false
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return bytes.TrimSuffix(src, []byte("\r")), true
}

// rest returns line n from column col (1-based, in characters).
func (c *checker) rest(n, col int) []byte {
	text, ok := c.line(n)
	if !ok {
		return nil
	}
	for i := 1; i < col && len(text) > 0; i++ {
		_, size := utf8.DecodeRune(text)
		text = text[size:]
	}
	return text
}

func indentOf(b []byte) int {
	n := 0
	for n < len(b) && b[n] == ' ' {
		n++
	}
	return n
}

// walkQuoted finds the file position of character off of a quoted
// scalar, stepping over escapes and doubled quotes.
func (c *checker) walkQuoted(v *yaml.Node, off int, quote byte) (int, int) {
	line, col := v.Line, v.Column+1
	text := c.rest(v.Line, v.Column)
	if len(text) == 0 || text[0] != quote {
		return v.Line, v.Column
	}
	text = text[1:]
	for k := 0; k < off; k++ {
		if len(text) == 0 {
			// The scalar goes on on the next line: folded into a space.
			line++
			next, ok := c.line(line)
			if !ok {
				return v.Line, v.Column
			}
			ind := indentOf(next)
			text, col = next[ind:], ind+1
			continue
		}
		n := 1
		switch {
		case quote == '"' && text[0] == '\\' && len(text) > 1:
			switch text[1] {
			case 'x':
				n = 4
			case 'u':
				n = 6
			case 'U':
				n = 10
			default:
				n = 2
			}
		case quote == '\'' && text[0] == '\'' && len(text) > 1 && text[1] == '\'':
			n = 2
		default:
			_, n = utf8.DecodeRune(text)
			text = text[n:]
			col++ // one character, whatever its size in bytes
			continue
		}
		if n > len(text) {
			n = len(text)
		}
		text = text[n:]
		col += n
	}
	return line, col
}

// walkFolded finds the file position of character off of a scalar whose
// lines are joined by spaces: plain scalars over several lines and
// folded block scalars. first is the line where the value starts; col is
// its column there, or 0 when the value starts on its own line.
func (c *checker) walkFolded(first, col, off int) (int, int) {
	line := first
	for {
		var seg []byte
		start := col
		if col > 0 {
			seg = c.rest(line, col)
		} else {
			text, ok := c.line(line)
			if !ok {
				return first, 1
			}
			ind := indentOf(text)
			seg, start = text[ind:], ind+1
		}
		seg = bytes.TrimRight(seg, " \t")
		n := runeLen(seg)
		if off <= n {
			return line, start + off
		}
		off -= n + 1
		line++
		col = 0
	}
}
