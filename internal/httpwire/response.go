// Package httpwire reads HTTP/1.0 and HTTP/1.1 responses off a
// connection, for the project's lean HTTP clients: the load generator's
// publishing connections and the webhook transport's fast path. It reads
// a response's head into a small struct, without header maps, and its
// body, framed by Content-Length, chunked or running to the end of the
// connection, within limits the caller sets. It also holds the lexical
// helpers (tokens, optional white space, lengths, chunk sizes) that the
// project's lean HTTP server shares with it.
package httpwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Limits of the responses read.
const (
	// MaxHeadBytes bounds the status line and headers of a response, and
	// separately its trailers and the framing of a chunked body beyond
	// its data.
	MaxHeadBytes = 64 << 10
	// Max1xx is how many informational (1xx) responses may come before
	// the final one.
	Max1xx = 5
)

var (
	// ErrMalformed is wrapped by the errors of reading a response that is
	// not valid HTTP/1.0 or HTTP/1.1.
	ErrMalformed = errors.New("httpwire: malformed HTTP response")
	// ErrTooLarge is wrapped by the errors of reading a response whose
	// head, a line of it, or its body is over its limit.
	ErrTooLarge = errors.New("httpwire: HTTP response too large")
)

// Response is the head of an HTTP/1.x response: its status, how its body
// is framed, and whether the connection may carry another request.
type Response struct {
	Status  int
	Length  int64 // the body's length; -1 when chunked or up to the end of the connection
	Chunked bool
	Close   bool // the connection cannot be reused after this response
}

// ReadHead reads the head of the final response from br into resp,
// skipping informational (1xx) responses, 100 Continue included. A line of
// the head may be no longer than br's buffer. It returns io.EOF when br
// ends before the first byte, io.ErrUnexpectedEOF when it ends in the
// head, and an error wrapping ErrMalformed or ErrTooLarge for a head that
// is not valid HTTP/1.0 or HTTP/1.1 or is larger than MaxHeadBytes.
func ReadHead(br *bufio.Reader, resp *Response) error {
	for i := 0; ; i++ {
		if err := readHeadOnce(br, resp, i == 0); err != nil {
			return err
		}
		switch {
		case resp.Status >= 200:
			return nil
		case resp.Status == 101:
			return fmt.Errorf("%w: unexpected 101 Switching Protocols", ErrMalformed)
		case i == Max1xx:
			return fmt.Errorf("%w: more than %d informational responses", ErrMalformed, Max1xx)
		}
	}
}

// readHeadOnce reads one response head, informational or final.
func readHeadOnce(br *bufio.Reader, resp *Response, first bool) error {
	*resp = Response{Length: -1}
	budget := MaxHeadBytes
	line, err := readLine(br, &budget)
	if err != nil {
		if err == io.EOF && !first {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	// HTTP-version SP 3DIGIT [SP reason-phrase]
	if len(line) < 12 || !(bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || bytes.HasPrefix(line, []byte("HTTP/1.0 "))) ||
		!IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11]) || len(line) > 12 && line[12] != ' ' || line[9] == '0' {
		return fmt.Errorf("%w: status line %q", ErrMalformed, clip(line))
	}
	http10 := line[7] == '0'
	resp.Status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')

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
		if colon <= 0 || !IsToken(line[:colon]) {
			return fmt.Errorf("%w: header line %q", ErrMalformed, clip(line))
		}
		name, value := line[:colon], TrimOWS(line[colon+1:])
		switch {
		case EqualFold(name, "Content-Length"):
			n, ok := ParseLength(value)
			if !ok || sawLength && n != resp.Length {
				return fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip(value))
			}
			resp.Length, sawLength = n, true
		case EqualFold(name, "Transfer-Encoding"):
			if resp.Chunked || !EqualFold(value, "chunked") || http10 {
				return fmt.Errorf("%w: Transfer-Encoding %q", ErrMalformed, clip(value))
			}
			resp.Chunked = true
		case EqualFold(name, "Connection"):
			for len(value) > 0 {
				var opt []byte
				opt, value, _ = bytes.Cut(value, []byte(","))
				opt = TrimOWS(opt)
				switch {
				case EqualFold(opt, "close"):
					resp.Close = true
				case EqualFold(opt, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if http10 && !keepAlive {
		resp.Close = true
	}
	switch {
	case resp.Status < 200 || resp.Status == 204 || resp.Status == 304:
		resp.Length, resp.Chunked = 0, false
	case resp.Chunked:
		// Transfer-Encoding overrides Content-Length; a response with
		// both may be an attempt at smuggling: do not reuse the
		// connection (RFC 9112, section 6.3).
		if sawLength {
			resp.Close = true
		}
		resp.Length = -1
	case !sawLength:
		// The body runs to the end of the connection.
		resp.Close = true
	}
	return nil
}

// ReadBody reads the body of the response whose head is resp from br,
// appends its first keep bytes to dst, discards the rest, and returns
// dst. It reads at most limit bytes of body (keep is at most limit): when
// the body is longer, it returns an error wrapping ErrTooLarge, having
// read no more of the body than it keeps, and leaves the rest unread. It
// returns io.ErrUnexpectedEOF when br ends before the body does, and an
// error wrapping ErrMalformed for a chunked body that is not well formed.
// A line of chunk framing may be no longer than br's buffer.
func ReadBody(br *bufio.Reader, resp *Response, dst []byte, limit, keep int) ([]byte, error) {
	keep = max(min(keep, limit), 0)
	switch {
	case resp.Chunked:
		return readChunked(br, dst, limit, keep)
	case resp.Length >= 0:
		if resp.Length > int64(limit) {
			if keep > 0 {
				var err error
				if dst, err = take(br, dst, keep, &keep); err != nil {
					return dst, err
				}
			}
			return dst, fmt.Errorf("%w: body of %d bytes, over %d", ErrTooLarge, resp.Length, limit)
		}
		return take(br, dst, int(resp.Length), &keep)
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
			if keep > 0 {
				var err error
				if dst, err = take(br, dst, min(keep, limit-total), &keep); err != nil {
					return dst, err
				}
			}
			return dst, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
		}
		dst, _ = take(br, dst, n, &keep) // buffered: cannot fail
		total += n
	}
}

// readChunked reads a chunked body for ReadBody.
func readChunked(br *bufio.Reader, dst []byte, limit, keep int) ([]byte, error) {
	total := 0
	// Chunk framing (size lines, extensions, CRLFs) may not outweigh the
	// data by more than MaxHeadBytes: a stream of tiny chunks with long
	// extensions would otherwise go on far beyond limit.
	framing := MaxHeadBytes
	for {
		budget := br.Size()
		line, err := readLine(br, &budget)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		framing -= br.Size() - budget
		size, ok := ParseChunkSize(line)
		if !ok {
			return dst, fmt.Errorf("%w: chunk size line %q", ErrMalformed, clip(line))
		}
		if size == 0 {
			break
		}
		if size > int64(limit-total) {
			if keep > 0 {
				if dst, err = take(br, dst, min(keep, limit-total), &keep); err != nil {
					return dst, err
				}
			}
			return dst, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
		}
		if dst, err = take(br, dst, int(size), &keep); err != nil {
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
			return dst, fmt.Errorf("%w: chunk data not followed by CRLF", ErrMalformed)
		}
		br.Discard(2)
		framing -= 2
		if framing < 0 {
			return dst, fmt.Errorf("%w: chunk framing outweighs the data by over %d bytes", ErrTooLarge, MaxHeadBytes)
		}
	}
	// Trailers, ignored, up to an empty line.
	budget := MaxHeadBytes
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

// take reads n bytes from br, appends the first *keep of them to dst,
// takes their number from *keep, and discards the others.
func take(br *bufio.Reader, dst []byte, n int, keep *int) ([]byte, error) {
	var err error
	if k := min(n, *keep); k > 0 {
		old := len(dst)
		dst = slices.Grow(dst, k)[:old+k]
		var got int
		got, err = io.ReadFull(br, dst[old:])
		dst = dst[:old+got]
		*keep -= got
		n -= got
	}
	if err == nil && n > 0 {
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
		return nil, fmt.Errorf("%w: line over %d bytes", ErrTooLarge, br.Size())
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case *budget < 0:
		return nil, fmt.Errorf("%w: header over %d bytes", ErrTooLarge, MaxHeadBytes)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// clip returns the start of b, for error messages.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
