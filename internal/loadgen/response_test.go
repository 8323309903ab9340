package loadgen

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzReadResponse reads arbitrary bytes as a stream of responses, with
// line buffers small and large, bodies kept and discarded: the parser
// must neither panic nor hang, and must keep to its limits.
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 500 Oops\r\n\r\nto the end",
		"HTTP/1.0 201 Created\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
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
		for _, size := range []int{16, readBufSize} {
			for _, keep := range []bool{false, true} {
				br := bufio.NewReaderSize(bytes.NewReader(data), size)
				var resp response
				// Each response takes at least a status line, so there are
				// no more than len(data)/12 of them.
				for range len(data)/12 + 1 {
					if err := readHead(br, &resp); err != nil {
						break
					}
					if resp.status < 200 || resp.status > 999 {
						t.Fatalf("status %d read", resp.status)
					}
					body, err := readBody(br, &resp, nil, limit, keep)
					if len(body) > limit || !keep && len(body) > 0 {
						t.Fatalf("body of %d bytes kept (keep %v), limit %d", len(body), keep, limit)
					}
					if err != nil || resp.close {
						break
					}
				}
			}
		}
	})
}
