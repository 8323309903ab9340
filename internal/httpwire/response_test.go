package httpwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadResponse reads arbitrary bytes as a stream of responses, with
// line buffers small and large, bodies kept in full, in part and not at
// all: the parser must neither panic nor hang, and must keep to its
// limits.
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 500 Oops\r\n\r\nto the end",
		"HTTP/1.0 201 Created\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
		"HTTP/1.1 201 Created\nConnection: close\nContent-Length: 1\n\nx",
		"HTTP/1.1 201 Created\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		"HTTP/1.1 2O1 Created\r\n\r\n",
		"HTTP/1.1 201 Created\r\nContent-Length: 18446744073709551616\r\n\r\n",
		"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc",
		"HTTP/1.1 201 Created\r\n X: folded\r\n\r\n",
		"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nab",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 201 Created\r\nX: " + strings.Repeat("y", 100) + "\r\n\r\n",
		"",
		"HTTP/1.1",
	} {
		f.Add([]byte(seed))
	}
	const limit = 64
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int{16, 16 << 10} {
			for _, keep := range []int{0, limit / 4, limit} {
				br := bufio.NewReaderSize(bytes.NewReader(data), size)
				var resp Response
				// Each response takes at least a status line, so there are
				// no more than len(data)/12 of them.
				for range len(data)/12 + 1 {
					if err := ReadHead(br, &resp); err != nil {
						break
					}
					if resp.Status < 200 || resp.Status > 999 {
						t.Fatalf("status %d read", resp.Status)
					}
					body, err := ReadBody(br, &resp, nil, limit, keep)
					if len(body) > keep {
						t.Fatalf("body of %d bytes kept, keep %d, limit %d", len(body), keep, limit)
					}
					if err != nil || resp.Close {
						break
					}
				}
			}
		}
	})
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		limit    int
		keep     int
		status   int
		close    bool
		body     string
		err      error // of ReadHead, else of ReadBody
		headErr  bool
		leftover string // what is left unread after the body
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", limit: 10, keep: 10,
			status: 200, body: "hello", leftover: "NEXT"},
		{name: "no reason phrase", in: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", limit: 10, keep: 10, status: 200},
		{name: "kept in part", in: "HTTP/1.1 503 Busy\r\nContent-Length: 8\r\n\r\n12345678NEXT", limit: 10, keep: 3,
			status: 503, body: "123", leftover: "NEXT"},
		{name: "over the limit, kept in part", in: "HTTP/1.1 503 Busy\r\nContent-Length: 20\r\n\r\n12345678901234567890", limit: 10, keep: 3,
			status: 503, body: "123", err: ErrTooLarge, leftover: "45678901234567890"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\nNEXT", limit: 10, keep: 10,
			status: 200, body: "abcde", leftover: "NEXT"},
		{name: "chunked kept in part", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT", limit: 10, keep: 4,
			status: 200, body: "abcd", leftover: "NEXT"},
		{name: "chunked over the limit", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n9\r\n123456789\r\n0\r\n\r\n", limit: 10, keep: 10,
			status: 200, body: "abc1234567", err: ErrTooLarge, leftover: "89\r\n0\r\n\r\n"},
		{name: "to the end", in: "HTTP/1.1 200 OK\r\n\r\nall of it", limit: 10, keep: 10, status: 200, close: true, body: "all of it"},
		{name: "to the end, over the limit", in: "HTTP/1.1 200 OK\r\n\r\nall of it and more", limit: 10, keep: 4, status: 200, close: true,
			body: "all ", err: ErrTooLarge, leftover: "of it and more"},
		{name: "HTTP/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]", limit: 10, keep: 10, status: 200, close: true, body: "[]"},
		{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n[]", limit: 10, keep: 10,
			status: 200, body: "[]"},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 2\r\n\r\n[]", limit: 10, keep: 10,
			status: 200, close: true, body: "[]"},
		{name: "informational first", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nNEXT",
			limit: 10, keep: 10, status: 204, leftover: "NEXT"},
		{name: "length and chunked", in: "HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", limit: 10, keep: 10,
			status: 200, close: true, body: "x"},
		{name: "long head", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", limit: 10, keep: 10,
			err: ErrTooLarge, headErr: true},
		{name: "long line", in: "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", limit: 10, keep: 10,
			err: ErrTooLarge, headErr: true},
		{name: "garbage", in: "SSH-2.0-OpenSSH_9.6\r\n", err: ErrMalformed, headErr: true},
		{name: "empty", in: "", err: io.EOF, headErr: true},
		{name: "cut in the head", in: "HTTP/1.1 200 OK\r\nContent-Le", err: io.ErrUnexpectedEOF, headErr: true},
		{name: "cut in the body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", limit: 10, keep: 10, status: 200, body: "ab",
			err: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.in)
			br := bufio.NewReaderSize(r, 16<<10)
			var resp Response
			err := ReadHead(br, &resp)
			if tt.headErr {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ReadHead: got %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadHead: %v", err)
			}
			if resp.Status != tt.status || resp.Close != tt.close {
				t.Errorf("head %+v, want status %d, close %v", resp, tt.status, tt.close)
			}
			body, err := ReadBody(br, &resp, nil, tt.limit, tt.keep)
			if !errors.Is(err, tt.err) || tt.err == nil && err != nil {
				t.Errorf("ReadBody: got %v, want %v", err, tt.err)
			}
			if string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.leftover {
				t.Errorf("left unread %q, want %q", rest, tt.leftover)
			}
		})
	}
}

func TestHostHeader(t *testing.T) {
	for in, want := range map[string]string{
		"h:80": "h:80", "[::1]:7070": "[::1]:7070", "[fe80::1%eth0]:7070": "[fe80::1]:7070", "[fe80::1%eth0]": "[fe80::1]",
	} {
		if got := HostHeader(in); got != want {
			t.Errorf("HostHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
