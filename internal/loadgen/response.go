package loadgen

import (
	"bufio"

	"github.com/choreohq/choreo/internal/httpwire"
)

// Limits of the responses the publishing connections read.
const (
	// readBufSize is the size of a connection's read buffer, and so the
	// longest status line, header line or chunk-size line it takes.
	readBufSize = 16 << 10
	// maxBody bounds the body of a response that is read in full.
	maxBody = 1 << 20
)

// response is the head of an HTTP/1.x response.
type response = httpwire.Response

// readHead reads the head of the final response from br into resp; see
// httpwire.ReadHead.
func readHead(br *bufio.Reader, resp *response) error { return httpwire.ReadHead(br, resp) }

// readBody reads the body of the response whose head is resp from br, at
// most limit bytes of it, appending it to dst when keep is set and
// discarding it otherwise; see httpwire.ReadBody.
func readBody(br *bufio.Reader, resp *response, dst []byte, limit int, keep bool) ([]byte, error) {
	k := 0
	if keep {
		k = limit
	}
	return httpwire.ReadBody(br, resp, dst, limit, k)
}

// The lexical helpers of HTTP/1.x the package's server and config share
// with the response reader.

func isToken(b []byte) bool                  { return httpwire.IsToken(b) }
func isTokenByte(c byte) bool                { return httpwire.IsTokenByte(c) }
func isDigit(c byte) bool                    { return httpwire.IsDigit(c) }
func trimOWS(b []byte) []byte                { return httpwire.TrimOWS(b) }
func asciiEqualFold(b []byte, s string) bool { return httpwire.EqualFold(b, s) }
func parseLength(b []byte) (int64, bool)     { return httpwire.ParseLength(b) }
func parseChunkSize(b []byte) (int64, bool)  { return httpwire.ParseChunkSize(b) }
func hostHeader(host string) string          { return httpwire.HostHeader(host) }
