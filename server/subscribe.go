package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/choreohq/choreo/store"
)

// flushSize is how much a subscription stream gathers before it writes,
// when more records are ready; it writes and flushes as soon as it has
// caught up with the log.
const flushSize = 32 << 10

var subscribeParams = []string{"from", "type", "stream", "correlation"}

func (s *Server) routeSubscribe() {
	s.route("GET /v1/subscribe", params{names: subscribeParams, repeatable: []string{"type"}}, s.subscribe)
}

// filter selects the records a subscription sends.
type filter struct {
	types       []string // any of these types; none means every type
	stream      string   // "" means every stream
	correlation string   // "" means every correlation
}

func (f *filter) match(rec *store.Record) bool {
	if f.stream != "" && rec.Stream != f.stream {
		return false
	}
	if rec.Event == nil {
		return len(f.types) == 0 && f.correlation == ""
	}
	if f.correlation != "" && rec.Event.Correlation() != f.correlation {
		return false
	}
	if len(f.types) == 0 {
		return true
	}
	for _, t := range f.types {
		if rec.Event.Type == t {
			return true
		}
	}
	return false
}

// subscribe serves GET /v1/subscribe: the log as server-sent events, from
// a global position on, live.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, q url.Values) error {
	from, err := queryUint(q, "from", 0)
	if err != nil {
		return err
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || n == math.MaxUint64 {
			return errorf(CodeInvalidHeader, "Last-Event-ID", "want the global position of an event, got %q", v)
		}
		from = n + 1
	}
	f := filter{types: q["type"]}
	for _, t := range f.types {
		if t == "" {
			return errorf(CodeInvalidQuery, "type", "empty event type")
		}
	}
	if v, ok := q["stream"]; ok {
		if err := store.CheckStream(v[0]); err != nil {
			return errorf(CodeInvalidQuery, "stream", "%s", trimPrefix(err.Error()))
		}
		f.stream = v[0]
	}
	if v, ok := q["correlation"]; ok {
		if v[0] == "" {
			return errorf(CodeInvalidQuery, "correlation", "empty correlation id")
		}
		f.correlation = v[0]
	}

	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", contentTypeSSE)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	ctx, done, err := s.openStream(r.Context())
	if err != nil {
		return err
	}
	defer done()
	var opts store.SubscribeOptions
	if f.stream != "" {
		// The events of the other streams are not decoded.
		opts.Streams = func(stream string) bool { return stream == f.stream }
	}
	sub, err := store.SubscribeWith(ctx, s.cfg.Store, from, opts)
	if err != nil {
		return err
	}
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", contentTypeSSE)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell proxies not to buffer the stream
	w.WriteHeader(http.StatusOK)
	st := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.StreamWriteTimeout}
	out := getOut()
	st.buf = *out
	defer func() {
		st.rc.SetWriteDeadline(time.Time{}) //nolint:errcheck // best effort; unsupported writers need none
		*out = st.buf
		putOut(out)
	}()
	st.comment("subscribed")
	if err := st.flush(); err != nil {
		return nil
	}

	var head uint64
	for {
		wait, cancel := context.WithTimeout(ctx, s.cfg.Heartbeat)
		err := s.follow(wait, sub, &f, st, &head)
		timedOut := wait.Err() == context.DeadlineExceeded
		cancel()
		switch {
		case ctx.Err() != nil || errors.Is(err, store.ErrClosed) || errors.Is(err, errWrite):
			return nil // the client went, the server or the store is closing
		case timedOut && errors.Is(err, context.DeadlineExceeded):
			st.comment("heartbeat")
			if st.flush() != nil {
				return nil
			}
		default:
			// The response is under way: the client sees the stream end
			// and reconnects with Last-Event-ID.
			s.log.ErrorContext(r.Context(), "subscription failed", "error", err)
			return nil
		}
	}
}

// follow sends the records of sub that f selects until ctx ends or an
// error. It writes them in chunks and flushes whenever it has caught up
// with the log's head.
func (s *Server) follow(ctx context.Context, sub store.Subscription, f *filter, st *sseWriter, head *uint64) error {
	for {
		rec, err := sub.Next(ctx)
		if err != nil {
			if ferr := st.flush(); ferr != nil {
				return ferr
			}
			return err
		}
		if f.match(&rec) {
			st.record(&rec)
			if len(st.buf) >= flushSize {
				if err := st.write(); err != nil {
					return err
				}
			}
		}
		if rec.GlobalPosition+1 >= *head {
			if h, err := s.cfg.Store.Head(ctx); err == nil {
				*head = h
			}
			if rec.GlobalPosition+1 >= *head {
				if err := st.flush(); err != nil {
					return err
				}
			}
		}
	}
}

// errWrite marks a failed write to a subscription stream.
var errWrite = errors.New("server: writing to the stream")

// sseWriter writes server-sent events through a buffer.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	dirty   bool // written to w and not flushed
}

// record appends a record as an event: id is its global position, event
// its type, data its JSON.
func (st *sseWriter) record(rec *store.Record) {
	b := append(st.buf, "id: "...)
	b = strconv.AppendUint(b, rec.GlobalPosition, 10)
	if rec.Event != nil && rec.Event.Type != "" && !strings.ContainsAny(rec.Event.Type, "\r\n") {
		b = append(b, "\nevent: "...)
		b = append(b, rec.Event.Type...)
	}
	b = append(b, "\ndata: "...)
	start := len(b)
	b = appendRecord(b, rec)
	if bytes.ContainsAny(b[start:], "\r\n") {
		// Data given as indented JSON: a line break would end the SSE
		// field, and outside strings it is only white space.
		var c bytes.Buffer
		if json.Compact(&c, b[start:]) == nil {
			b = append(b[:start], c.Bytes()...)
		}
	}
	st.buf = append(b, '\n', '\n')
}

// comment appends an SSE comment line.
func (st *sseWriter) comment(text string) {
	st.buf = append(st.buf, ": "...)
	st.buf = append(st.buf, text...)
	st.buf = append(st.buf, '\n', '\n')
}

// write hands the buffer to the connection.
func (st *sseWriter) write() error {
	if len(st.buf) == 0 {
		return nil
	}
	st.rc.SetWriteDeadline(time.Now().Add(st.timeout)) //nolint:errcheck // unsupported writers have no deadline
	_, err := st.w.Write(st.buf)
	st.buf = st.buf[:0]
	st.dirty = true
	if err != nil {
		return errWrite
	}
	return nil
}

// flush writes the buffer and flushes the connection.
func (st *sseWriter) flush() error {
	if err := st.write(); err != nil {
		return err
	}
	if !st.dirty {
		return nil
	}
	st.dirty = false
	st.rc.SetWriteDeadline(time.Now().Add(st.timeout)) //nolint:errcheck // as in write
	if err := st.rc.Flush(); err != nil {
		return errWrite
	}
	return nil
}
