package a2a

import (
	"fmt"
	"io"
	"net/http"
)

// limitTransport is an http.RoundTripper whose response bodies fail with
// ErrTooLarge once they pass max bytes, so that neither the SDK's JSON
// decoder nor its card reader can be made to read without end.
type limitTransport struct {
	rt  http.RoundTripper
	max int64
}

func (l *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > l.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d, limit %d", ErrTooLarge, resp.ContentLength, l.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: l.max, max: l.max}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the wrapped
// RoundTripper, if it keeps any.
func (l *limitTransport) CloseIdleConnections() {
	if c, ok := l.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// limitedBody reads at most max bytes of rc and fails with ErrTooLarge if
// rc has more.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// The limit is reached: one more byte means the body is too large.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, b.max)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
