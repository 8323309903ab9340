package webhook

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/internal/httpwire"
)

// The fast path: requests to plain-http endpoints that no proxy applies
// to do not go through net/http's client, whose two goroutines per
// connection, channel hand-offs, header maps and per-request context cost
// several times the write and read the request needs. leanClient is a
// small HTTP/1.1 client instead: a pool of idle keep-alive connections
// per host, on which the delivering goroutine writes the request with one
// write and reads the response itself.

// Settings of the fast path, the same as newClient's.
const (
	leanMaxIdlePerHost = 256
	leanMaxIdle        = 4096
	leanIdleTimeout    = 90 * time.Second
	dialTimeout        = 10 * time.Second
	tcpKeepAlive       = 30 * time.Second
	// leanReadBufSize is the size of the read buffer of a connection in
	// use, and so the longest line of a response head it takes.
	leanReadBufSize = 16 << 10
	// idleCheckAfter is how long a connection must have been idle before
	// it is checked for a close by the agent before being reused.
	idleCheckAfter = time.Millisecond
	// maxEndpoints bounds the endpoints whose parsed form is kept.
	maxEndpoints = 1024
	// maxPooledBuf is the largest request buffer kept for reuse.
	maxPooledBuf = 256 << 10
)

// aLongTimeAgo is a deadline that has passed: setting it on a connection
// interrupts the read or write blocked on it.
var aLongTimeAgo = time.Unix(1, 0)

// leanEndpoint is an agent endpoint the fast path takes, parsed once.
type leanEndpoint struct {
	addr string // host:port to dial
	host string // the URL's host and port: the only part errors name
	// head is the start of every request: the request line and the Host,
	// User-Agent, Content-Type and, for a URL with user information,
	// Authorization headers.
	head []byte
}

// endpoint returns the parsed form of an agent endpoint the fast path
// takes, or nil when the request goes through net/http: the transport
// has no fast path, the URL is not plain http, a proxy applies to it, or
// it is one net/http would reject or write differently.
func (t *Transport) endpoint(raw string) *leanEndpoint {
	if t.lean == nil {
		return nil
	}
	if v, ok := t.endpoints.Load(raw); ok {
		return v.(*leanEndpoint)
	}
	ep := t.parseEndpoint(raw)
	if t.nEndpoints.Add(1) > maxEndpoints {
		// Endpoints are few and change rarely: start again rather than
		// track which are in use.
		t.endpoints.Clear()
		t.nEndpoints.Store(1)
	}
	t.endpoints.Store(raw, ep)
	return ep
}

// parseEndpoint is endpoint for an endpoint not seen yet.
func (t *Transport) parseEndpoint(raw string) *leanEndpoint {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Opaque != "" {
		return nil
	}
	host := strings.TrimSuffix(u.Host, ":") // an empty port, as net/http drops it
	uri := u.RequestURI()
	if host == "" || !plainHost(host) || strings.ContainsAny(uri, " \t") {
		return nil
	}
	if proxy := t.httpTransport.Proxy; proxy != nil {
		if p, err := proxy(&http.Request{Method: http.MethodPost, URL: u, Host: host, Header: http.Header{}}); err != nil || p != nil {
			return nil
		}
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	ep := &leanEndpoint{addr: net.JoinHostPort(u.Hostname(), port), host: host}
	b := make([]byte, 0, 128+len(uri)+len(host)+len(t.userAgent))
	b = append(b, "POST "...)
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, httpwire.HostHeader(host)...)
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, t.userAgent...)
	b = append(b, "\r\nContent-Type: application/json\r\n"...)
	if u.User != nil {
		// As net/http's client sends the URL's user information.
		pw, _ := u.User.Password()
		b = append(b, "Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(u.User.Username()+":"+pw))
		b = append(b, "\r\n"...)
	}
	ep.head = b
	return ep
}

// plainHost reports whether host, a URL's host and port, is made of
// ASCII letters, digits and the punctuation of names, IP addresses,
// ports and IPv6 zones only: a host that net/http would convert
// (internationalized names) or reject goes through net/http.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(".-_:[]%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s may be sent as a header value as it
// is: it holds no control character other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// leanBuf holds a delivery's message and request while it is sent.
type leanBuf struct{ body, req []byte }

var leanBufs = sync.Pool{New: func() any { return new(leanBuf) }}

// putLeanBuf returns b to the pool unless it has grown too large to keep.
func putLeanBuf(b *leanBuf) {
	if cap(b.body) > maxPooledBuf || cap(b.req) > maxPooledBuf {
		return
	}
	leanBufs.Put(b)
}

// appendHeader appends the header line "name: value".
func appendHeader(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// readers holds the read buffers of connections not in use.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, leanReadBufSize) }}

// leanConn is a connection of the fast path. It is used by one delivery
// at a time; while idle in the pool it has no read buffer.
type leanConn struct {
	nc    net.Conn
	br    *bufio.Reader // nil while idle
	addr  string
	since time.Time          // when it went idle
	check httpwire.IdleCheck // of nc: whether the agent has closed it or sent out of turn
}

// close closes the connection and gives back its read buffer.
func (c *leanConn) close() {
	_ = c.nc.Close()
	c.release()
}

// release gives back the read buffer, if the connection has one.
func (c *leanConn) release() {
	if c.br != nil {
		c.br.Reset(nil)
		readers.Put(c.br)
		c.br = nil
	}
}

// leanClient is the fast path's HTTP/1.1 client: a dialer and a pool of
// idle keep-alive connections per host:port. It is safe for concurrent
// use.
type leanClient struct {
	dialer net.Dialer
	dials  atomic.Int64 // connections dialed, for tests
	mu     struct {
		sync.Mutex
		idle   map[string][]*leanConn // by address, most recently used last
		n      int                    // idle connections in all
		closed bool
		sweep  *time.Timer // closes connections idle too long; nil until needed
		armed  bool        // sweep is due to run
	}
}

func newLeanClient() *leanClient {
	c := &leanClient{dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}}
	c.mu.idle = make(map[string][]*leanConn)
	return c
}

// roundTrip sends req, a whole request, to ep and reads the response. For
// a 2xx status it returns the body, of at most maxBody bytes (else an
// error wrapping ErrResponseTooLarge); for another it returns the first
// excerptBytes of the body. Other errors are those of connecting,
// writing and reading, with ctx's error once ctx has ended, and
// context.DeadlineExceeded once deadline has passed.
//
// A request is sent once, with one exception: when a reused connection
// fails before the least part of a response has arrived, most likely
// because the agent closed it while idle, the request is sent again on a
// new connection. The Idempotency-Key every request carries makes this
// safe even when the agent did see the first.
func (c *leanClient) roundTrip(ctx context.Context, ep *leanEndpoint, req []byte, deadline time.Time, maxBody int64) (int, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	lc := c.get(ep.addr)
	for retried := false; ; retried = true {
		reused := lc != nil
		if !reused {
			var err error
			if lc, err = c.dial(ctx, ep.addr, deadline); err != nil {
				return 0, nil, c.roundTripError(ctx, err, deadline)
			}
		}
		status, body, got, err := c.exchange(ctx, lc, req, deadline, maxBody)
		if err == nil {
			return status, body, nil
		}
		err = c.roundTripError(ctx, err, deadline)
		if got || !reused || retried || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return status, body, err
		}
		lc = nil
	}
}

// roundTripError returns the error to report for err: ctx's once it has
// ended, context.DeadlineExceeded for a timeout past deadline, else err.
func (c *leanClient) roundTripError(ctx context.Context, err error, deadline time.Time) error {
	if errors.Is(err, ErrResponseTooLarge) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if isTimeout(err) && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return err
}

// exchange writes req on lc and reads the response, as roundTrip
// describes; got reports whether any of the response arrived. It puts lc
// back in the pool when the response was read in full and the connection
// may carry another request, and closes it otherwise.
func (c *leanClient) exchange(ctx context.Context, lc *leanConn, req []byte, deadline time.Time, maxBody int64) (status int, body []byte, got bool, err error) {
	if err := lc.nc.SetDeadline(deadline); err != nil {
		lc.close()
		return 0, nil, false, err
	}
	var stop func() bool
	if ctx.Done() != nil {
		nc := lc.nc
		stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	}
	if lc.br == nil {
		lc.br = readers.Get().(*bufio.Reader)
		lc.br.Reset(lc.nc)
	}
	status, body, got, reuse, err := c.exchangeOn(lc, req, maxBody)
	if stop != nil && !stop() {
		// ctx ended: its deadline is set, or about to be, on the
		// connection.
		reuse = false
	}
	if reuse {
		c.put(lc)
	} else {
		lc.close()
	}
	return status, body, got, err
}

// exchangeOn is exchange once the deadlines are set; reuse reports
// whether the connection can carry another request.
func (c *leanClient) exchangeOn(lc *leanConn, req []byte, maxBody int64) (status int, body []byte, got, reuse bool, err error) {
	br := lc.br
	n, werr := lc.nc.Write(req)
	if werr != nil && (n == 0 || isTimeout(werr)) {
		return 0, nil, false, false, werr
	}
	// After a write that failed in part, the agent may have answered
	// before it stopped reading (with a 413, say): read its answer if
	// there is one.
	if _, err := br.Peek(1); err != nil {
		if werr != nil {
			err = werr
		}
		return 0, nil, false, false, err
	}
	var resp httpwire.Response
	if err := httpwire.ReadHead(br, &resp); err != nil {
		return 0, nil, true, false, fmt.Errorf("reading the response: %w", err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		// As with the body of any status error: the first excerptBytes
		// are kept, and up to drainBytes read so that the connection can
		// be reused. What was read counts even if the rest fails.
		excerpt, err := httpwire.ReadBody(br, &resp, nil, drainBytes, excerptBytes)
		reuse = err == nil && werr == nil && !resp.Close && br.Buffered() == 0
		return resp.Status, excerpt, true, reuse, nil
	}
	if resp.Length > maxBody {
		return 0, nil, true, false, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrResponseTooLarge, resp.Length, maxBody)
	}
	limit := int(min(maxBody, math.MaxInt))
	body, err = httpwire.ReadBody(br, &resp, nil, limit, limit)
	switch {
	case errors.Is(err, httpwire.ErrTooLarge):
		return 0, nil, true, false, fmt.Errorf("%w: over the limit of %d bytes", ErrResponseTooLarge, maxBody)
	case err != nil:
		return 0, nil, true, false, fmt.Errorf("reading the response: %w", err)
	}
	reuse = werr == nil && !resp.Close && br.Buffered() == 0
	return resp.Status, body, true, reuse, nil
}

// dial connects to addr, by deadline.
func (c *leanClient) dial(ctx context.Context, addr string, deadline time.Time) (*leanConn, error) {
	d := c.dialer
	d.Deadline = deadline
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.dials.Add(1)
	lc := &leanConn{nc: nc, addr: addr}
	lc.check.Reset(nc)
	return lc, nil
}

// get takes an idle connection to addr from the pool, the most recently
// used first, or returns nil. A connection idle for long is checked
// first, and closed if the agent has closed its end or sent something
// out of turn.
func (c *leanClient) get(addr string) *leanConn {
	for {
		c.mu.Lock()
		s := c.mu.idle[addr]
		if len(s) == 0 {
			c.mu.Unlock()
			return nil
		}
		lc := s[len(s)-1]
		s[len(s)-1] = nil
		c.mu.idle[addr] = s[:len(s)-1]
		c.mu.n--
		c.mu.Unlock()
		idle := time.Since(lc.since)
		if idle < leanIdleTimeout && (idle < idleCheckAfter || lc.check.Usable()) {
			return lc
		}
		lc.close()
	}
}

// put returns a connection whose response was read in full to the pool,
// or closes it when the pool is full or closed.
func (c *leanClient) put(lc *leanConn) {
	lc.release()
	lc.since = time.Now()
	c.mu.Lock()
	if c.mu.closed || len(c.mu.idle[lc.addr]) >= leanMaxIdlePerHost || c.mu.n >= leanMaxIdle {
		c.mu.Unlock()
		lc.close()
		return
	}
	c.mu.idle[lc.addr] = append(c.mu.idle[lc.addr], lc)
	c.mu.n++
	if !c.mu.armed {
		c.mu.armed = true
		if c.mu.sweep == nil {
			c.mu.sweep = time.AfterFunc(leanIdleTimeout, c.sweep)
		} else {
			c.mu.sweep.Reset(leanIdleTimeout)
		}
	}
	c.mu.Unlock()
}

// sweep closes the connections idle for leanIdleTimeout or longer, and
// arms itself again for the oldest of the others.
func (c *leanClient) sweep() {
	now := time.Now()
	var stale []*leanConn
	c.mu.Lock()
	next := now.Add(leanIdleTimeout)
	for addr, s := range c.mu.idle {
		// Oldest first: connections are pushed and popped at the end.
		i := 0
		for i < len(s) && now.Sub(s[i].since) >= leanIdleTimeout {
			i++
		}
		stale = append(stale, s[:i]...)
		if i == len(s) {
			delete(c.mu.idle, addr)
			continue
		}
		n := copy(s, s[i:])
		clear(s[n:])
		c.mu.idle[addr] = s[:n]
		if exp := s[0].since.Add(leanIdleTimeout); exp.Before(next) {
			next = exp
		}
	}
	c.mu.n -= len(stale)
	c.mu.armed = c.mu.n > 0 && !c.mu.closed
	if c.mu.armed {
		c.mu.sweep.Reset(max(next.Sub(now), time.Second))
	}
	c.mu.Unlock()
	for _, lc := range stale {
		lc.close()
	}
}

// closeIdle closes the idle connections and makes put close the
// connections given back from then on.
func (c *leanClient) closeIdle() {
	c.mu.Lock()
	c.mu.closed = true
	if c.mu.sweep != nil {
		c.mu.sweep.Stop()
	}
	idle := c.mu.idle
	c.mu.idle, c.mu.n = nil, 0
	c.mu.Unlock()
	for _, s := range idle {
		for _, lc := range s {
			lc.close()
		}
	}
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// appendRequest appends to b the request for ep carrying body, with the
// message's headers and, when sig is not empty, the signature's.
func (ep *leanEndpoint) appendRequest(b []byte, body []byte, key, action string, attempt int, correlation string, ts int64, sig []byte) []byte {
	b = append(b, ep.head...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	b = appendHeader(b, HeaderIdempotencyKey, headerValue(key))
	b = appendHeader(b, HeaderAction, headerValue(action))
	b = append(b, HeaderAttempt+": "...)
	b = strconv.AppendInt(b, int64(attempt), 10)
	b = append(b, "\r\n"...)
	b = appendHeader(b, HeaderCorrelation, headerValue(correlation))
	if len(sig) > 0 {
		b = append(b, HeaderTimestamp+": "...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, "\r\n"+HeaderSignature+": "...)
		b = append(b, sig...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}
