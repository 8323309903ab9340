package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Limits of the responses the publishing connections read.
const (
	// readBufSize is the size of a connection's read buffer, and so the
	// longest status line, header line or chunk-size line it takes.
	readBufSize = 16 << 10
	// maxHeaderBytes bounds the status line and headers of a response,
	// and separately its trailers.
	maxHeaderBytes = 64 << 10
	// maxBody bounds the body of a response that is read in full.
	maxBody = 1 << 20
	// max1xx is how many informational (1xx) responses may come before
	// the final one.
	max1xx = 5
)

// response is the head of an HTTP/1.x response: its status, how its body
// is framed, and whether the connection may carry another request.
type response struct {
	status  int
	length  int64 // the body's length; -1 when chunked or up to the end of the connection
	chunked bool
	close   bool // the connection cannot be reused after this response
}

// readHead reads the head of the final response from br into resp,
// skipping informational (1xx) responses. It returns io.EOF when br ends
// before the first byte, io.ErrUnexpectedEOF when it ends in the head,
// and an error wrapping errBadResponse or errTooLarge for a head that is
// not valid HTTP/1.0 or HTTP/1.1 or larger than maxHeaderBytes.
func readHead(br *bufio.Reader, resp *response) error {
	for i := 0; ; i++ {
		if err := readHeadOnce(br, resp, i == 0); err != nil {
			return err
		}
		switch {
		case resp.status >= 200:
			return nil
		case resp.status == 101:
			return fmt.Errorf("%w: unexpected 101 Switching Protocols", errBadResponse)
		case i == max1xx:
			return fmt.Errorf("%w: more than %d informational responses", errBadResponse, max1xx)
		}
	}
}

// readHeadOnce reads one response head, informational or final.
func readHeadOnce(br *bufio.Reader, resp *response, first bool) error {
	*resp = response{length: -1}
	budget := maxHeaderBytes
	line, err := readLine(br, &budget)
	if err != nil {
		if err == io.EOF && !first {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	// HTTP-version SP 3DIGIT [SP reason-phrase]
	if len(line) < 12 || !(bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || bytes.HasPrefix(line, []byte("HTTP/1.0 "))) ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || len(line) > 12 && line[12] != ' ' || line[9] == '0' {
		return fmt.Errorf("%w: status line %q", errBadResponse, clip(line))
	}
	http10 := line[7] == '0'
	resp.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')

	var sawLength, keepAlive bool
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return fmt.Errorf("%w: header line %q", errBadResponse, clip(line))
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, ok := parseLength(value)
			if !ok || sawLength && n != resp.length {
				return fmt.Errorf("%w: Content-Length %q", errBadResponse, clip(value))
			}
			resp.length, sawLength = n, true
		case asciiEqualFold(name, "Transfer-Encoding"):
			if resp.chunked || !asciiEqualFold(value, "chunked") || http10 {
				return fmt.Errorf("%w: Transfer-Encoding %q", errBadResponse, clip(value))
			}
			resp.chunked = true
		case asciiEqualFold(name, "Connection"):
			for len(value) > 0 {
				var opt []byte
				opt, value, _ = bytes.Cut(value, []byte(","))
				opt = trimOWS(opt)
				switch {
				case asciiEqualFold(opt, "close"):
					resp.close = true
				case asciiEqualFold(opt, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if http10 && !keepAlive {
		resp.close = true
	}
	switch {
	case resp.status < 200 || resp.status == 204 || resp.status == 304:
		resp.length, resp.chunked = 0, false
	case resp.chunked:
		// Transfer-Encoding overrides Content-Length; a response with
		// both may be an attempt at smuggling: do not reuse the
		// connection (RFC 9112, section 6.3).
		if sawLength {
			resp.close = true
		}
		resp.length = -1
	case !sawLength:
		// The body runs to the end of the connection.
		resp.close = true
	}
	return nil
}

// readBody reads the body of the response whose head is resp from br. It
// appends the body to dst when keep is set and discards it otherwise, and
// returns dst. It reads at most limit bytes of body: when the body is
// longer, it returns an error wrapping errTooLarge, with the first limit
// bytes in dst when keep is set, and leaves the rest unread. It returns io.ErrUnexpectedEOF
// when br ends before the body does, and an error wrapping errBadResponse
// for a chunked body that is not well formed.
func readBody(br *bufio.Reader, resp *response, dst []byte, limit int, keep bool) ([]byte, error) {
	switch {
	case resp.chunked:
		return readChunked(br, dst, limit, keep)
	case resp.length >= 0:
		if resp.length > int64(limit) {
			if keep {
				var err error
				if dst, err = take(br, dst, limit, keep); err != nil {
					return dst, err
				}
			}
			return dst, fmt.Errorf("%w: body of %d bytes, over %d", errTooLarge, resp.length, limit)
		}
		return take(br, dst, int(resp.length), keep)
	}
	// Up to the end of the connection.
	total := 0
	for {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				return dst, nil
			}
			return dst, err
		}
		n := br.Buffered()
		if total+n > limit {
			dst, err := take(br, dst, limit-total, keep)
			if err != nil {
				return dst, err
			}
			return dst, fmt.Errorf("%w: body over %d bytes", errTooLarge, limit)
		}
		dst, _ = take(br, dst, n, keep) // buffered: cannot fail
		total += n
	}
}

// readChunked reads a chunked body for readBody.
func readChunked(br *bufio.Reader, dst []byte, limit int, keep bool) ([]byte, error) {
	total := 0
	// Chunk framing (size lines, extensions, CRLFs) may not outweigh the
	// data by more than maxHeaderBytes: a stream of tiny chunks with long
	// extensions would otherwise go on far beyond limit.
	framing := maxHeaderBytes
	for {
		budget := readBufSize
		line, err := readLine(br, &budget)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		framing -= readBufSize - budget
		size, ok := parseChunkSize(line)
		if !ok {
			return dst, fmt.Errorf("%w: chunk size line %q", errBadResponse, clip(line))
		}
		if size == 0 {
			break
		}
		if size > int64(limit-total) {
			if keep {
				if dst, err = take(br, dst, limit-total, keep); err != nil {
					return dst, err
				}
			}
			return dst, fmt.Errorf("%w: body over %d bytes", errTooLarge, limit)
		}
		if dst, err = take(br, dst, int(size), keep); err != nil {
			return dst, err
		}
		total += int(size)
		framing += int(size)
		crlf, err := br.Peek(2)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return dst, fmt.Errorf("%w: chunk data not followed by CRLF", errBadResponse)
		}
		br.Discard(2)
		framing -= 2
		if framing < 0 {
			return dst, fmt.Errorf("%w: chunk framing outweighs the data by over %d bytes", errTooLarge, maxHeaderBytes)
		}
	}
	// Trailers, ignored, up to an empty line.
	budget := maxHeaderBytes
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		if len(line) == 0 {
			return dst, nil
		}
	}
}

// take reads n bytes from br, appending them to dst when keep is set.
func take(br *bufio.Reader, dst []byte, n int, keep bool) ([]byte, error) {
	var err error
	if keep {
		old := len(dst)
		dst = slices.Grow(dst, n)[:old+n]
		var got int
		got, err = io.ReadFull(br, dst[old:])
		dst = dst[:old+got]
	} else {
		_, err = br.Discard(n)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return dst, err
}

// readLine reads a line ending in LF (CRLF or bare LF) and returns it
// without its end; the line is valid until the next read from br. It
// takes the line's length from *budget and fails when that goes below
// zero or the line does not fit in br's buffer. At the end of br, it
// returns io.EOF when nothing was read and io.ErrUnexpectedEOF otherwise.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*budget -= len(line)
	switch {
	case err == bufio.ErrBufferFull:
		return nil, fmt.Errorf("%w: line over %d bytes", errTooLarge, br.Size())
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case *budget < 0:
		return nil, fmt.Errorf("%w: header over %d bytes", errTooLarge, maxHeaderBytes)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseLength parses a Content-Length value: decimal digits only, at most
// 18 of them.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses a chunk-size line: hexadecimal digits, at most 15
// of them, then optional whitespace and chunk extensions.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		if i == 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, true
}

// isToken reports whether b is a non-empty HTTP token (RFC 9110, section
// 5.6.2), as header names are.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenByte(c) {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c may be part of an HTTP token.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// trimOWS trims spaces and tabs from both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold reports whether b and s are equal, ASCII letters
// compared without case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// clip returns the start of b, for error messages.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
