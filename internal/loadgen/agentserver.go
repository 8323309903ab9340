package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The bench's webhook agent does not go through net/http's server either:
// for one small POST per action, its per-request machinery (response
// state, a context and header maps allocated for every request, a
// background read watching the connection, buffered writes) costs the
// bench process about as much CPU as the handler it runs. agentServer is a
// lean HTTP/1.1 server of the package's own instead: one goroutine per
// connection reads requests in place with a bufio.Reader and reused
// buffers, calls an http.Handler with a minimal *http.Request, and writes
// each buffered response with one write.
//
// It differs from net/http's server where the webhook handler does not
// care: the response writer is neither an http.Flusher nor an
// http.Hijacker, informational (1xx) statuses from the handler are not
// sent, the response headers are those the handler left when it returned,
// and a request's context ends when its connection closes, not when the
// handler returns.

// Defaults of agentServerConfig.
const (
	// agentHeaderTimeout bounds reading a request's head, from its first
	// byte.
	agentHeaderTimeout = 10 * time.Second
	// agentRequestTimeout bounds the rest of a request: reading its body,
	// running the handler and writing the response.
	agentRequestTimeout = time.Minute
	// agentIdleTimeout is how long a connection may wait for its next
	// request before it is closed.
	agentIdleTimeout = 2 * time.Minute
	// agentMaxHeaderBytes bounds a request's line and headers, and
	// separately the trailers of a chunked body.
	agentMaxHeaderBytes = 64 << 10
	// agentMaxBodyBytes bounds a request's body.
	agentMaxBodyBytes = 4 << 20
)

const (
	// agentReadBufSize is the size of a connection's read buffer, and so
	// the longest chunk-size line it takes. Header lines may be longer,
	// up to the head's limit.
	agentReadBufSize = 4 << 10
	// agentDiscardLimit is how much of a body the handler left unread is
	// read and dropped to keep the connection; with more left, the
	// connection is closed after the response.
	agentDiscardLimit = 256 << 10
	// agentLinger bounds the wait, when a connection is closed after a
	// response, for the client to stop sending: closing a socket with
	// unread input resets the connection, which may destroy the response
	// before the client has read it.
	agentLinger = 500 * time.Millisecond
	// agentCloseWait bounds the wait for the connections' goroutines once
	// shutdown has given up on them and closed their connections.
	agentCloseWait = time.Second
)

// agentServerConfig configures an agentServer. Zero limits and timeouts
// mean the defaults above.
type agentServerConfig struct {
	Handler        http.Handler
	HeaderTimeout  time.Duration
	RequestTimeout time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	MaxBodyBytes   int64
}

// agentServer serves HTTP/1.0 and HTTP/1.1 requests to one handler. The
// handler must not use the request or response writer after it returns:
// both are reused for the connection's next request.
type agentServer struct {
	cfg     agentServerConfig
	ctx     context.Context // the requests' contexts derive from it
	cancel  context.CancelFunc
	closing atomic.Bool // set by shutdown
	wg      sync.WaitGroup
	mu      struct {
		sync.Mutex
		ln    net.Listener
		conns map[*agentConn]struct{}
	}
}

// Connection states, for shutdown.
const (
	connIdle   int32 = iota // waiting for a request (or for its first one)
	connActive              // reading, handling or answering a request
	connClosed              // closed by shutdown while idle
)

// newAgentServer returns a server for cfg that serves nothing yet.
func newAgentServer(cfg agentServerConfig) *agentServer {
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = agentHeaderTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = agentRequestTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = agentIdleTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = agentMaxHeaderBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = agentMaxBodyBytes
	}
	s := &agentServer{cfg: cfg}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[*agentConn]struct{})
	return s
}

// startAgentServer serves cfg on ln until shutdown.
func startAgentServer(ln net.Listener, cfg agentServerConfig) *agentServer {
	s := newAgentServer(cfg)
	s.mu.ln = ln
	s.wg.Add(1)
	go s.accept(ln)
	return s
}

// accept accepts connections on ln until it is closed, serving each in
// its own goroutine.
func (s *agentServer) accept(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait a little and go on, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := s.newConn(nc)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.mu.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// shutdown stops accepting connections, closes the idle ones at once, and
// waits up to timeout for the requests in progress to be answered; then
// it closes the remaining connections and cancels their requests'
// contexts, and returns context.DeadlineExceeded.
func (s *agentServer) shutdown(timeout time.Duration) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.mu.ln != nil {
		s.mu.ln.Close()
	}
	for c := range s.mu.conns {
		// A connection that goes idle from now on sees closing set, and
		// closes itself.
		c.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-t.C:
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.mu.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	// The goroutines end as soon as their reads and writes fail, unless a
	// handler ignores its context.
	t.Reset(agentCloseWait)
	select {
	case <-done:
	case <-t.C:
	}
	return context.DeadlineExceeded
}

// agentConn is one connection of an agentServer, served by one goroutine;
// its buffers and request state are reused from one request to the next.
type agentConn struct {
	srv    *agentServer
	nc     net.Conn
	br     *bufio.Reader
	state  atomic.Int32
	ctx    context.Context
	cancel context.CancelFunc
	remote string

	// The request being served.
	http11 bool
	head   []byte       // the request line and header lines as read
	spans  []headerSpan // where the header lines' names and values are in head
	values []string     // backing array of the header map's values
	header http.Header
	tmpl   http.Request // a request with only the context set
	req    http.Request
	url    url.URL
	body   agentBody

	// The last request target parsed, and its URL.
	lastTarget string
	lastURL    url.URL

	// The response.
	w       agentResponse
	out     []byte
	keys    []string
	dateSec int64
	date    []byte
}

// headerSpan locates a header line's name and value in agentConn.head.
type headerSpan struct {
	nameStart, nameEnd, valueStart, valueEnd int
}

// newConn returns the state of a connection to serve.
func (s *agentServer) newConn(nc net.Conn) *agentConn {
	c := &agentConn{
		srv:    s,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, agentReadBufSize),
		header: make(http.Header, 16),
	}
	if a := nc.RemoteAddr(); a != nil {
		c.remote = a.String()
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.tmpl = *(&http.Request{}).WithContext(c.ctx)
	c.body.c = c
	c.w.header = make(http.Header, 8)
	return c
}

// closeIfIdle closes the connection if it waits for a request.
func (c *agentConn) closeIfIdle() {
	if c.state.CompareAndSwap(connIdle, connClosed) {
		c.nc.Close()
	}
}

// serve serves the connection's requests until it closes, fails, times
// out, or asks to be closed, or the server shuts down.
func (c *agentConn) serve() {
	defer func() {
		c.nc.Close()
		c.cancel()
		c.srv.mu.Lock()
		delete(c.srv.mu.conns, c)
		c.srv.mu.Unlock()
		c.srv.wg.Done()
	}()
	for {
		if c.br.Buffered() == 0 {
			if c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout)) != nil {
				return
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !c.state.CompareAndSwap(connIdle, connActive) {
			return // closed by shutdown
		}
		if !c.serveRequest() {
			return
		}
		c.state.Store(connIdle)
		if c.srv.closing.Load() {
			return
		}
	}
}

// serveRequest reads a request, calls the handler and writes its
// response. It reports whether the connection may carry another request.
func (c *agentConn) serveRequest() bool {
	cfg := &c.srv.cfg
	if c.nc.SetReadDeadline(time.Now().Add(cfg.HeaderTimeout)) != nil {
		return false
	}
	if err := c.readRequest(); err != nil {
		if re, ok := errors.AsType[*requestError](err); ok {
			c.writeError(re)
			c.lingerClose()
		}
		// Otherwise the client went away or was too slow: there is no
		// one to answer.
		return false
	}
	if c.nc.SetDeadline(time.Now().Add(cfg.RequestTimeout)) != nil {
		return false
	}
	c.w.reset()
	if !c.callHandler() {
		return false
	}
	closeAfter := c.req.Close || c.srv.closing.Load() || hasToken(c.w.header["Connection"], "close")
	if !c.body.complete() {
		// The body must be read to its end before the next request.
		if c.body.expect && !c.body.continued || c.body.err != nil || closeAfter {
			// The client may not send a body it was not asked for, and
			// one that failed cannot be skipped.
			closeAfter = true
		} else if n, err := io.CopyN(io.Discard, bodyDiscarder{&c.body}, agentDiscardLimit+1); err != io.EOF || n > agentDiscardLimit {
			closeAfter = true
		}
	}
	if c.writeResponse(closeAfter) != nil {
		return false
	}
	if closeAfter {
		c.lingerClose()
		return false
	}
	return true
}

// callHandler runs the handler for the request read, and reports whether
// it returned; a handler that panics gets its connection closed without
// a response, as with net/http.
func (c *agentConn) callHandler() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	c.srv.cfg.Handler.ServeHTTP(&c.w, &c.req)
	return true
}

// lingerClose ends a connection after its last response: it closes the
// sending side, then reads and drops what the client still sends, for a
// short while, so that the response is not lost to a reset.
func (c *agentConn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.nc.SetReadDeadline(time.Now().Add(agentLinger)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c.nc, agentDiscardLimit)
}

// requestError is a request the server answers itself, with status and
// a message, before closing the connection.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return "loadgen: bad request: " + e.msg }

func badRequest(msg string) error { return &requestError{http.StatusBadRequest, msg} }

// readRequest reads the head of a request into c.req, and prepares its
// body. It returns a *requestError for a request to answer with an
// error, io.ErrUnexpectedEOF when the connection ends within the head, and
// the read's error when it fails.
func (c *agentConn) readRequest() error {
	c.head = c.head[:0]
	c.spans = c.spans[:0]
	budget := c.srv.cfg.MaxHeaderBytes
	var ls, le int
	for {
		var err error
		if ls, le, err = c.readHeadLine(&budget); err != nil {
			return err
		}
		if le > ls {
			break
		}
		// Empty lines before the request line are ignored (RFC 9112,
		// section 2.2).
		c.head = c.head[:0]
	}

	// method SP request-target SP HTTP-version
	line := c.head[ls:le]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return badRequest("malformed request line")
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return badRequest("malformed request line")
	}
	ts, te := sp1+1, sp1+1+sp2
	if !isToken(line[:sp1]) {
		return badRequest("malformed method")
	}
	for _, b := range line[ts:te] {
		if b < ' ' || b == 0x7f {
			return badRequest("malformed request target")
		}
	}
	switch version := line[te+1:]; string(version) {
	case "HTTP/1.1":
		c.http11 = true
	case "HTTP/1.0":
		c.http11 = false
	default:
		if len(version) == 8 && bytes.HasPrefix(version, []byte("HTTP/")) &&
			isDigit(version[5]) && version[6] == '.' && isDigit(version[7]) {
			return &requestError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
		}
		return badRequest("malformed HTTP version")
	}

	var (
		sawLength, chunked, closeOpt, keepAliveOpt, expect bool
		length                                             int64
		hosts                                              int
	)
	for {
		s, e, err := c.readHeadLine(&budget)
		if err != nil {
			return err
		}
		if s == e {
			break
		}
		line := c.head[s:e]
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete line folding")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return badRequest("malformed header line")
		}
		vs, ve := s+colon+1, e
		for vs < ve && (c.head[vs] == ' ' || c.head[vs] == '\t') {
			vs++
		}
		for ve > vs && (c.head[ve-1] == ' ' || c.head[ve-1] == '\t') {
			ve--
		}
		name, value := line[:colon], c.head[vs:ve]
		for _, b := range value {
			if b < ' ' && b != '\t' || b == 0x7f {
				return badRequest("malformed header value")
			}
		}
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, ok := parseLength(value)
			if !ok || sawLength && n != length {
				return badRequest("bad Content-Length")
			}
			length, sawLength = n, true
		case asciiEqualFold(name, "Transfer-Encoding"):
			switch {
			case !c.http11:
				// RFC 9112, section 6.1: the framing of such a
				// message is faulty.
				return badRequest("Transfer-Encoding in an HTTP/1.0 request")
			case chunked:
				return badRequest("chunked more than once")
			case !asciiEqualFold(value, "chunked"):
				return &requestError{http.StatusNotImplemented, "unsupported transfer encoding"}
			}
			chunked = true
		case asciiEqualFold(name, "Connection"):
			for opts := value; len(opts) > 0; {
				var opt []byte
				opt, opts, _ = bytes.Cut(opts, []byte(","))
				opt = trimOWS(opt)
				switch {
				case asciiEqualFold(opt, "close"):
					closeOpt = true
				case asciiEqualFold(opt, "keep-alive"):
					keepAliveOpt = true
				}
			}
		case asciiEqualFold(name, "Expect"):
			switch {
			case asciiEqualFold(value, "100-continue"):
				// Ignored in HTTP/1.0 (RFC 9110, section 10.1.1).
				expect = expect || c.http11
			case len(value) > 0:
				return &requestError{http.StatusExpectationFailed, "unsupported expectation"}
			}
		case asciiEqualFold(name, "Host"):
			hosts++
		}
		c.spans = append(c.spans, headerSpan{s, s + colon, vs, ve})
	}
	switch {
	case chunked && sawLength:
		// RFC 9112, section 6.3: a request with both may be an attempt at
		// smuggling.
		return badRequest("both Transfer-Encoding and Content-Length")
	case hosts > 1:
		return badRequest("more than one Host header")
	case hosts == 0 && c.http11:
		return badRequest("missing required Host header")
	}

	// One string holds the request line and headers: the request's
	// strings are parts of it.
	str := string(c.head)
	target := str[ls+ts : ls+te]
	if target != c.lastTarget {
		if target == "*" {
			c.lastURL = url.URL{Path: "*"}
		} else {
			u, err := url.ParseRequestURI(target)
			if err != nil {
				return badRequest("malformed request target")
			}
			c.lastURL = *u
		}
		c.lastTarget = strings.Clone(target) // not keeping str alive
	}
	c.url = c.lastURL

	clear(c.header)
	if cap(c.values) < len(c.spans) {
		c.values = make([]string, len(c.spans), max(len(c.spans), 16))
	}
	values := c.values[:len(c.spans)]
	var host string
	for i, sp := range c.spans {
		key := textproto.CanonicalMIMEHeaderKey(str[sp.nameStart:sp.nameEnd])
		values[i] = str[sp.valueStart:sp.valueEnd]
		if key == "Host" {
			// Promoted to the request's Host, as with net/http.
			host = values[i]
			continue
		}
		if old, ok := c.header[key]; ok {
			c.header[key] = append(old, values[i]) // copies: old has no room
		} else {
			c.header[key] = values[i : i+1 : i+1]
		}
	}
	if c.url.Host != "" {
		host = c.url.Host // the absolute form prevails (RFC 9112, section 3.2.2)
	}

	r := &c.req
	*r = c.tmpl
	r.Method = str[ls : ls+sp1]
	r.URL = &c.url
	r.RequestURI = target
	r.ProtoMajor = 1
	if c.http11 {
		r.Proto, r.ProtoMinor = "HTTP/1.1", 1
		r.Close = closeOpt
	} else {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
		r.Close = closeOpt || !keepAliveOpt
	}
	r.Header = c.header
	r.Host = host
	r.RemoteAddr = c.remote

	c.body.reset(chunked, length, c.srv.cfg.MaxBodyBytes)
	switch {
	case chunked:
		r.Body, r.ContentLength, r.TransferEncoding = &c.body, -1, []string{"chunked"}
		c.body.expect = expect
	case length > 0:
		r.Body, r.ContentLength = &c.body, length
		c.body.expect = expect
	default:
		r.Body = http.NoBody
	}
	return nil
}

// readHeadLine reads a line of the head, appending it with its end to
// c.head, and returns where it is in c.head without its end (CRLF, or a
// bare LF). It takes the line's length from *budget, and fails with a
// *requestError when that goes below zero.
func (c *agentConn) readHeadLine(budget *int) (start, end int, err error) {
	start = len(c.head)
	for {
		frag, err := c.br.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return 0, 0, &requestError{http.StatusRequestHeaderFieldsTooLarge, "request head too large"}
		}
		c.head = append(c.head, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(c.head) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, err
		}
	}
	end = len(c.head) - 1
	if end > start && c.head[end-1] == '\r' {
		end--
	}
	return start, end, nil
}

// writeError answers a request the server would not hand to the handler,
// asking for the connection to be closed.
func (c *agentConn) writeError(e *requestError) {
	b := append(c.out[:0], "HTTP/1.1 "...)
	b = appendStatus(b, e.status)
	msg := strconv.Itoa(e.status) + " " + http.StatusText(e.status) + ": " + e.msg
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, msg...)
	c.out = b
	if c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.HeaderTimeout)) == nil {
		_, _ = c.nc.Write(b)
	}
}

// writeResponse writes the handler's response with one write: status
// line, headers, Content-Length and body; with "Connection: close" when
// the connection closes after it, or "Connection: keep-alive" for an
// HTTP/1.0 request when it does not.
func (c *agentConn) writeResponse(closeAfter bool) error {
	w := &c.w
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	b := c.out[:0]
	if c.http11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = appendStatus(b, status)
	keys := c.keys[:0]
	for k := range w.header {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			// Framing is the server's.
			continue
		}
		if isTokenString(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	clear(keys)
	c.keys = keys[:0]
	if _, ok := w.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, c.httpDate()...)
		b = append(b, "\r\n"...)
	}
	withBody := status != http.StatusNoContent && status != http.StatusNotModified
	if withBody {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, "\r\n"...)
	}
	switch {
	case closeAfter && c.http11:
		b = append(b, "Connection: close\r\n"...)
	case !closeAfter && !c.http11:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	if withBody && c.req.Method != http.MethodHead {
		b = append(b, w.body...)
	}
	c.out = b
	_, err := c.nc.Write(b)
	return err
}

// httpDate returns the Date header's value for now, valid until the next
// call.
func (c *agentConn) httpDate() []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec || len(c.date) == 0 {
		c.dateSec = sec
		c.date = now.UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	return c.date
}

// appendStatus appends a status code, its reason phrase and CRLF.
func appendStatus(b []byte, status int) []byte {
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	return append(b, "\r\n"...)
}

// appendHeaderValue appends v with spaces for CR and LF, which would end
// the header.
func appendHeaderValue(b []byte, v string) []byte {
	for i := range len(v) {
		ch := v[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return b
}

// isTokenString reports whether s is a non-empty HTTP token.
func isTokenString(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated lists in values hold token,
// compared without case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var opt string
			opt, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(opt, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// agentResponse is the response writer of an agentConn: it keeps the
// status, headers and body for writeResponse.
type agentResponse struct {
	header http.Header
	status int
	body   []byte
}

// reset readies w for the next request.
func (w *agentResponse) reset() {
	clear(w.header)
	w.status = 0
	w.body = w.body[:0]
}

func (w *agentResponse) Header() http.Header { return w.header }

// WriteHeader sets the status; like net/http's, it panics for a code
// outside 100-999, and ignores all but the first final status.
func (w *agentResponse) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("loadgen: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
}

func (w *agentResponse) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// Errors of reading a request body.
var (
	errAgentBodyTooLarge = errors.New("loadgen: request body too large")
	errAgentBadChunk     = errors.New("loadgen: malformed chunked request body")
)

// agentBody is the body of an agentConn's request, read from the
// connection: Content-Length bytes, or chunks up to the last. It sends
// "100 Continue" before its first read when the client expects it.
type agentBody struct {
	c         *agentConn
	chunked   bool
	remain    int64 // bytes left: of the body, or when chunked of the chunk
	read      int64 // bytes of the body read
	limit     int64 // the most bytes of the body read
	needCRLF  bool  // a chunk's data has been read, not the CRLF after it
	done      bool  // chunked: the last chunk and trailers have been read
	framing   int   // chunked: how far framing may outweigh data
	expect    bool  // the client waits for "100 Continue"
	continued bool  // "100 Continue" has been sent
	closed    bool
	err       error // sticky: the body cannot be read further
}

// reset readies b for a request's body.
func (b *agentBody) reset(chunked bool, length, limit int64) {
	*b = agentBody{c: b.c, chunked: chunked, remain: length, limit: limit, framing: agentMaxHeaderBytes}
	if chunked {
		b.remain = 0
	}
}

// complete reports whether the body has been read to its end.
func (b *agentBody) complete() bool {
	if b.chunked {
		return b.done
	}
	return b.remain == 0
}

func (b *agentBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readBody(p)
}

// Close stops the handler's reads; the server reads what it left, if
// little, itself.
func (b *agentBody) Close() error {
	b.closed = true
	return nil
}

// bodyDiscarder reads a body whether the handler closed it or not.
type bodyDiscarder struct{ b *agentBody }

func (d bodyDiscarder) Read(p []byte) (int, error) { return d.b.readBody(p) }

// readBody reads from the body, or returns its sticky error.
func (b *agentBody) readBody(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := b.readSome(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

func (b *agentBody) readSome(p []byte) (int, error) {
	if b.complete() {
		return 0, io.EOF
	}
	if b.expect && !b.continued {
		b.continued = true
		if _, err := b.c.nc.Write(continueLine); err != nil {
			return 0, err
		}
	}
	if b.chunked && b.remain == 0 {
		if err := b.nextChunk(); err != nil {
			return 0, err
		}
		if b.done {
			return 0, io.EOF
		}
	}
	room := b.limit - b.read
	if room <= 0 {
		return 0, errAgentBodyTooLarge
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.c.br.Read(p)
	b.remain -= int64(n)
	b.read += int64(n)
	if b.chunked {
		b.needCRLF = b.remain == 0
		b.framing += n
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && !b.chunked && b.remain == 0 {
		err = io.EOF
	}
	return n, err
}

// nextChunk reads up to the data of the next chunk, setting b.remain to
// its size, or to the end of the body, setting b.done.
func (b *agentBody) nextChunk() error {
	br := b.c.br
	if b.needCRLF {
		crlf, err := br.Peek(2)
		if err != nil {
			return unexpected(err)
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return errAgentBadChunk
		}
		br.Discard(2)
		b.needCRLF = false
		b.framing -= 2
	}
	line, err := b.readLine()
	if err != nil {
		return err
	}
	size, ok := parseChunkSize(line)
	if !ok {
		return errAgentBadChunk
	}
	if b.framing < 0 {
		// A stream of tiny chunks with long extensions would otherwise
		// go on far beyond the body's limit.
		return errAgentBodyTooLarge
	}
	if size > 0 {
		b.remain = size
		return nil
	}
	// Trailers, ignored, up to an empty line.
	b.framing = agentMaxHeaderBytes
	for {
		line, err := b.readLine()
		if err != nil {
			return err
		}
		if b.framing < 0 {
			return errAgentBodyTooLarge
		}
		if len(line) == 0 {
			b.done = true
			return nil
		}
	}
}

// readLine reads a line of chunk framing, taking its length from
// b.framing, and returns it without its end.
func (b *agentBody) readLine() ([]byte, error) {
	line, err := b.c.br.ReadSlice('\n')
	b.framing -= len(line)
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errAgentBadChunk
	case err != nil:
		return nil, unexpected(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// unexpected turns io.EOF, the end of the connection within a body, into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
