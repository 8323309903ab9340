package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Defaults of the Config fields whose zero value means "the default".
const (
	DefaultMaxBodyBytes       = 8 << 20
	DefaultMaxBatch           = 1000
	DefaultHeartbeat          = 15 * time.Second
	DefaultStreamWriteTimeout = 30 * time.Second
)

// Config configures a Server. Only Store is required; the zero value of
// every other field selects its default.
type Config struct {
	// Store is the event log the API serves. Required. The Server does not
	// close it.
	Store store.Store
	// Limits bound the events the API accepts (their size), checked before
	// the store's own limits, which apply too. The zero value leaves the
	// check to the store (event.DefaultMaxSize unless it was opened with
	// other limits).
	Limits event.Limits
	// MaxBodyBytes is the largest request body read, in bytes. Zero means
	// DefaultMaxBodyBytes (8 MiB).
	MaxBodyBytes int64
	// MaxBatch is the most events one POST /v1/events may carry. Zero means
	// DefaultMaxBatch (1000).
	MaxBatch int
	// Logger receives request logs (at debug level), panics and internal
	// errors. Nil means slog.Default().
	Logger *slog.Logger
	// Ready reports whether the process can take work, for GET /readyz,
	// beside the store answering. Nil means always ready.
	Ready func(ctx context.Context) error
	// Heartbeat is the interval of the comment lines that keep idle
	// subscription streams open through proxies. Zero means
	// DefaultHeartbeat (15 s).
	Heartbeat time.Duration
	// StreamWriteTimeout bounds each write to a subscription stream, so a
	// client that stops reading is dropped. Zero means
	// DefaultStreamWriteTimeout (30 s).
	StreamWriteTimeout time.Duration
}

// Validate reports whether the configuration can be used.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("server: config: Store is required")
	case c.Limits.MaxSize < 0:
		return fmt.Errorf("server: config: Limits.MaxSize %d is negative", c.Limits.MaxSize)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("server: config: MaxBodyBytes %d is negative", c.MaxBodyBytes)
	case c.MaxBatch < 0:
		return fmt.Errorf("server: config: MaxBatch %d is negative", c.MaxBatch)
	case c.Heartbeat < 0:
		return fmt.Errorf("server: config: Heartbeat %v is negative", c.Heartbeat)
	case c.StreamWriteTimeout < 0:
		return fmt.Errorf("server: config: StreamWriteTimeout %v is negative", c.StreamWriteTimeout)
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.StreamWriteTimeout == 0 {
		c.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	return c
}

// Server is choreo's HTTP API over an event log. Build one with New, serve
// Handler with an http.Server, and call Close before shutting that down
// (http.Server.RegisterOnShutdown(func() { s.Close() }) does it), since
// subscription streams never end by themselves.
//
// A Server is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	routes  []mountedRoute // mounted, in order; only while setting up

	streams sync.WaitGroup // open subscription streams; Add only under mu
	mu      struct {
		sync.Mutex
		closed  bool
		cancels map[*int]context.CancelFunc // ends each open stream
	}
}

// New returns a Server with the routes of this package mounted.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.mu.cancels = make(map[*int]context.CancelFunc)
	s.handler = &frontHandler{s: s}
	s.routeEvents()
	s.routeSubscribe()
	s.routeHealth()
	return s, nil
}

// Handler returns the API's handler: the routes, with JSON errors for
// unknown paths and methods, recovery from panics (answered with 500
// "internal") and a debug-level log line per request.
func (s *Server) Handler() http.Handler { return s.handler }

// Handle mounts h on pattern, a net/http.ServeMux pattern such as
// "GET /v1/agents/{id}", so that other parts of the program can add routes
// that share the server's middleware. Like http.ServeMux.Handle it panics
// on a malformed pattern or one that conflicts with a route already there;
// call it while setting up, before serving.
//
// The server does not check the query parameters of such a route: h
// reads them, and should refuse those it does not know, as the API's own
// routes do (invalid_query).
func (s *Server) Handle(pattern string, h http.Handler) { s.mount(pattern, anyParams, h) }

// Close ends every open subscription stream, refuses new ones and makes
// GET /readyz fail, then waits for the streams' handlers to return (each
// write to a stream is bounded by Config.StreamWriteTimeout). Other
// endpoints keep working, so an http.Server can drain them. Close does not
// close the store. It is idempotent and always returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.mu.closed {
		s.mu.closed = true
		for _, cancel := range s.mu.cancels {
			cancel()
		}
	}
	s.mu.Unlock()
	s.streams.Wait()
	return nil
}

// closed reports whether Close has been called.
func (s *Server) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// openStream registers a long-lived response: it returns a context that
// Close cancels, and a function to call when the response ends.
func (s *Server) openStream(parent context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(parent)
	key := new(int)
	s.mu.cancels[key] = cancel
	s.streams.Add(1)
	return ctx, func() {
		s.mu.Lock()
		delete(s.mu.cancels, key)
		s.mu.Unlock()
		cancel()
		s.streams.Done()
	}, nil
}

// Adding an area of routes: put it in its own file with a routeX method
// that New calls, and write handlers as handlerFunc, mounted with route,
// which takes the query parameters the route reads (takes, takesNone) and
// refuses any other before the handler runs. A handler returns an
// *apiError (see errorf and the Code constants) or any error of the store
// or event packages, and route writes it. Shared helpers: readBody and
// decodeJSON (bounded bodies), queryUint and queryLimit (checked
// parameters), writeJSON and writeRaw (responses), appendRecord (a
// record's JSON), openStream (a long-lived response that Close ends).

// handlerFunc is the shape of this package's handlers: q holds the
// request's query parameters, already checked against those the route
// takes; an error they return is written as the API's JSON error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, q url.Values) error

// params declares the query parameters of a route. Every route declares
// them where it is mounted, and the route adapter checks them before the
// handler runs, so that no route can forget to refuse an unknown one.
type params struct {
	names      []string // the parameters the route takes; none when empty
	repeatable []string // those of names that may be given more than once
	// unchecked accepts any parameter and leaves the query to the
	// handler: the probes and the scrape endpoint (infrastructure may add
	// parameters of its own, and refusing them would fail a health check
	// over nothing), the agent card, and routes mounted with Handle.
	unchecked bool
}

// takes declares a route that takes the parameters names, each at most
// once.
func takes(names ...string) params { return params{names: names} }

// takesNone declares a route that takes no query parameter.
var takesNone = params{}

// anyParams declares a route whose query is not checked.
var anyParams = params{unchecked: true}

// route mounts h on pattern, taking the query parameters p.
func (s *Server) route(pattern string, p params, h handlerFunc) {
	s.mount(pattern, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r, p)
		if err == nil {
			err = h(w, r, q)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// mount registers h on pattern with the mux, and notes the route and its
// parameters. Routes whose parameters are checked refuse unknown ones
// before h runs.
func (s *Server) mount(pattern string, p params, h http.Handler) {
	s.mux.Handle(pattern, &routeHandler{Handler: h})
	s.routes = append(s.routes, mountedRoute{pattern: pattern, params: p})
}

// mountedRoute is a route as mount noted it.
type mountedRoute struct {
	pattern string
	params  params
}

// routeHandler marks the handlers of mounted routes, so that the front
// handler tells them from the mux's own (its redirects, 404 and 405).
type routeHandler struct{ http.Handler }

// writeError writes err as the API's JSON error, logging internal ones.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeAPIError(w, s.mapError(r, err, ""))
}

// mapError maps err to the API error the client is told, logging the
// internal ones; prefix names batch elements in fields (see errorOf).
func (s *Server) mapError(r *http.Request, err error, prefix string) *apiError {
	ae, public := errorOf(err, prefix)
	if !public {
		level := slog.LevelError
		if r.Context().Err() != nil {
			level = slog.LevelDebug // the client went away mid-request
		}
		s.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	var ve *store.VersionError
	if errors.As(err, &ve) {
		ae = &apiError{Code: ae.Code, Field: "expected_version", Message: ae.Message}
	}
	return ae
}

// frontHandler is the middleware around the mux.
type frontHandler struct{ s *Server }

func (h *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	debug := s.log.Enabled(r.Context(), slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	rw := &responseWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			if rw.wroteHeader {
				// Part of the response is out: break the connection so the
				// client cannot take it for a whole one.
				panic(http.ErrAbortHandler)
			}
			writeAPIError(rw, &apiError{Code: store.CodeInternal, Message: "internal error"})
		}
		if debug {
			s.log.DebugContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path,
				"status", rw.status, "bytes", rw.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}
	}()
	if mh, _ := s.mux.Handler(r); !isRoute(mh) {
		s.serveUnrouted(rw, r, mh)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// isRoute reports whether h, from the mux, is the handler of a mounted
// route rather than one of the mux's own.
func isRoute(h http.Handler) bool {
	_, ok := h.(*routeHandler)
	return ok
}

// serveUnrouted answers a request no route takes: method_not_allowed or
// not_found, in JSON. The mux would redirect a path that is not in
// canonical form (empty or dot segments, a missing trailing slash) to
// another; the API does not, since that path may name something else (a
// stream "a/../b" is not the stream "b"): it is not_found too.
func (s *Server) serveUnrouted(w http.ResponseWriter, r *http.Request, mh http.Handler) {
	probe := &probeWriter{header: make(http.Header)}
	mh.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeAPIError(w, errorf(CodeMethodNotAllowed, "", "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
	case http.StatusNotFound:
		writeAPIError(w, errorf(CodeNotFound, "", "no route for %s %s", r.Method, r.URL.Path))
	default: // the mux would redirect
		msg := fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)
		if p := r.URL.Path; p != cleanPath(p) {
			msg += ": paths are taken as sent, and this one has empty or dot segments" +
				" (percent-encode a '/' inside a name as %2F)"
		}
		writeAPIError(w, &apiError{Code: CodeNotFound, Message: msg})
	}
}

// cleanPath returns p as the mux would clean it: rooted, without empty or
// dot segments, with its trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// probeWriter records what a handler of the mux's own would answer.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *probeWriter) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

// responseWriter notes the status and size of a response, for the log and
// for panic recovery. Unwrap lets http.ResponseController reach the
// connection (flushes, write deadlines).
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher, for handlers that look for it rather
// than use http.ResponseController.
func (w *responseWriter) Flush() {
	w.FlushError() //nolint:errcheck // http.Flusher has no error
}

// FlushError flushes the wrapped writer, whatever wrappers lie between;
// http.ResponseController calls it.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
