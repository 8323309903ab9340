package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/choreohq/choreo/internal/jsonw"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Run publishes events as cfg says and returns what it measured.
//
// It returns an error and no report when cfg is invalid or the run cannot
// start (with Dispatch, when the agent cannot listen or be registered).
// Failed requests do not stop it: they are counted in the report. When ctx
// ends mid-run, Run stops publishing, stops waiting for actions, and
// returns the report so far together with ctx.Err(); requests cut short
// count as failed with code "canceled".
//
// Every goroutine, listener and connection Run opens is closed before it
// returns; with Dispatch, the agent it registered is unregistered.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r, err := newRun(cfg)
	if err != nil {
		return nil, err
	}
	defer r.tr.CloseIdleConnections()

	var sk *sink
	if cfg.Dispatch {
		sk, err = startSink(ctx, r)
		if err != nil {
			return nil, err
		}
	}

	r.publish(ctx)

	rep := r.report()
	if sk != nil {
		rep.Dispatch = sk.wait(ctx, rep)
		sk.stop()
		if rep.Dispatch.Received == 0 && rep.EventsAccepted > 0 {
			rep.Warnings = append(rep.Warnings, "no action arrived: the server must run the bench's choreography (choreo bench --print-choreography)")
		}
		rep.Warnings = append(rep.Warnings, sk.warnings...)
	}
	r.noteCPU(rep)
	return rep, ctx.Err()
}

// run is the state of one Run.
type run struct {
	cfg  Config
	id   string          // prefix of the run's streams and event ids
	base string          // cfg.URL without a trailing slash
	tr   *http.Transport // for the API requests other than publishing
	hc   *http.Client
	pub  *target // where the workers publish
	head []byte  // `","source":…,"type":…,"correlationid":"`
	pad  string  // padding of the data, DataSize bytes

	start    time.Time
	cpuStart time.Duration // the process's CPU time at start; -1 if unknown
	deadline time.Time     // zero: no deadline
	next     atomic.Int64
	accepted *bitset // with Dispatch only: the events answered 201

	workers []*worker
}

func newRun(cfg Config) (*run, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	r := &run{
		cfg:  cfg,
		id:   "bench-" + hex.EncodeToString(rnd[:]),
		base: strings.TrimRight(cfg.URL, "/"),
		pad:  strings.Repeat("x", cfg.DataSize),
	}
	r.tr = &http.Transport{
		Proxy:               nil, // as with the publish requests, which go direct
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}).DialContext,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
	}
	r.hc = &http.Client{Transport: r.tr, Timeout: cfg.Timeout}
	ctype := "application/cloudevents+json"
	if cfg.Batch > 1 {
		ctype = "application/cloudevents-batch+json"
	}
	pub, err := newTarget(cfg, "/v1/events", ctype)
	if err != nil {
		return nil, err
	}
	r.pub = pub
	r.head = append(r.head, `","source":`...)
	r.head = jsonw.String(r.head, cfg.Source)
	r.head = append(r.head, `,"type":`...)
	r.head = jsonw.String(r.head, cfg.EventType)
	r.head = append(r.head, `,"correlationid":"`...)
	if cfg.Dispatch {
		r.accepted = new(bitset)
	}
	return r, nil
}

// newRequest returns an API request with the configured headers.
func (r *run) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.cfg.Header {
		req.Header.Set(k, v)
	}
	return req, nil
}

// publish runs the workers until the run's end.
func (r *run) publish(ctx context.Context) {
	r.workers = make([]*worker, r.cfg.Connections)
	for i := range r.workers {
		w := &worker{r: r, conn: newConn(r.pub), hist: NewHistogram(), errs: map[errKey]*ErrorCount{}}
		w.stream = r.id + "-" + strconv.Itoa(i)
		r.workers[i] = w
	}
	r.cpuStart = -1
	if cpu, ok := processCPU(); ok {
		r.cpuStart = cpu
	}
	r.start = time.Now()
	if r.cfg.Duration > 0 {
		r.deadline = r.start.Add(r.cfg.Duration)
	}
	var wg sync.WaitGroup
	var slots chan slot
	if r.cfg.Rate > 0 {
		slots = make(chan slot, 1024)
		wg.Go(func() { r.schedule(ctx, slots) })
	}
	for _, w := range r.workers {
		wg.Go(func() {
			// The end of ctx interrupts the request under way.
			stop := w.conn.watch(ctx)
			defer w.conn.close()
			defer stop()
			if slots == nil {
				w.closedLoop(ctx)
			} else {
				w.openLoop(ctx, slots)
			}
		})
	}
	wg.Wait()
}

// A slot is a request scheduled in open loop: events first to first+n-1,
// to be sent at at.
type slot struct {
	first, n int64
	at       time.Time
}

// schedule sends the open loop's slots to slots, each at its time, until
// the deadline or the last event, then closes it.
func (r *run) schedule(ctx context.Context, slots chan<- slot) {
	defer close(slots)
	batch := int64(r.cfg.Batch)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for first := int64(0); r.cfg.Events == 0 || first < r.cfg.Events; first += batch {
		n := batch
		if r.cfg.Events > 0 {
			n = min(n, r.cfg.Events-first)
		}
		at := r.start.Add(time.Duration(float64(first) / r.cfg.Rate * float64(time.Second)))
		if !r.deadline.IsZero() && !at.Before(r.deadline) {
			return
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		// When every connection is busy this waits; the slot keeps its
		// time, so the wait counts in its latency.
		select {
		case slots <- slot{first, n, at}:
		case <-ctx.Done():
			return
		}
	}
}

// errKey is what failed requests are counted by.
type errKey struct {
	status int
	code   string
}

// worker publishes over one connection. Its fields are its own until
// publish returns.
type worker struct {
	r      *run
	conn   *conn
	stream string
	buf    []byte // the request
	ts     []byte
	hist   *Histogram

	requests, ok, failed   int64
	sent, accepted, unsent int64
	last                   time.Time // end of the last response
	errs                   map[errKey]*ErrorCount
}

// closedLoop sends requests back to back until the run's end.
func (w *worker) closedLoop(ctx context.Context) {
	r := w.r
	batch := int64(r.cfg.Batch)
	for ctx.Err() == nil {
		if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			return
		}
		first := r.next.Add(batch) - batch
		n := batch
		if r.cfg.Events > 0 {
			if first >= r.cfg.Events {
				return
			}
			n = min(n, r.cfg.Events-first)
		}
		w.send(ctx, first, n, time.Now())
	}
}

// openLoop sends the scheduled requests it takes from slots.
func (w *worker) openLoop(ctx context.Context, slots <-chan slot) {
	r := w.r
	for s := range slots {
		if ctx.Err() != nil {
			return
		}
		if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			w.unsent += s.n
			continue
		}
		w.send(ctx, s.first, s.n, s.at)
	}
}

// send publishes events first to first+n-1, sent (or scheduled) at at,
// and counts the outcome.
func (w *worker) send(ctx context.Context, first, n int64, at time.Time) {
	r := w.r
	w.ts = time.Now().UTC().AppendFormat(w.ts[:0], time.RFC3339Nano)
	w.buf = w.appendBody(r.pub.reserve(w.buf), first, n, at.Sub(r.start))
	w.requests++
	w.sent += n
	status, body, err := w.conn.roundTrip(ctx, r.pub.frame(w.buf), http.StatusCreated)
	if err != nil {
		code := classify(err)
		if ctx.Err() != nil {
			code = "canceled"
		}
		w.fail(0, code, err.Error())
		return
	}
	w.last = time.Now()
	if status == http.StatusCreated {
		w.hist.Record(w.last.Sub(at))
		w.ok++
		w.accepted += n
		if r.accepted != nil {
			r.accepted.addRange(uint64(first), uint64(n))
		}
		return
	}
	code, msg := apiError(body)
	w.fail(status, code, msg)
}

// appendBody appends the request body for events first to first+n-1 sent
// at offset off from the run's start.
func (w *worker) appendBody(b []byte, first, n int64, off time.Duration) []byte {
	r := w.r
	batch := r.cfg.Batch > 1
	if batch {
		b = append(b, '[')
	}
	for seq := first; seq < first+n; seq++ {
		if seq > first {
			b = append(b, ',')
		}
		b = append(b, `{"specversion":"1.0","id":"`...)
		b = appendID(b, r.id, seq, off)
		b = append(b, r.head...)
		b = append(b, w.stream...)
		b = append(b, `","time":"`...)
		b = append(b, w.ts...)
		b = append(b, `","data":{"seq":`...)
		l := len(b)
		b = strconv.AppendInt(b, seq, 10)
		pad := max(r.cfg.DataSize-17-(len(b)-l), 0)
		b = append(b, `,"pad":"`...)
		b = append(b, r.pad[:pad]...)
		b = append(b, `"}}`...)
	}
	if batch {
		b = append(b, ']')
	}
	return b
}

// appendID appends the id of event seq of run, sent at offset off from
// the run's start: "<run>-<seq>-<off in ns>".
func appendID(b []byte, run string, seq int64, off time.Duration) []byte {
	b = append(b, run...)
	b = append(b, '-')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(off), 10)
}

// parseID reads an id made by appendID for run.
func parseID(run, id string) (seq int64, off time.Duration, ok bool) {
	rest, found := strings.CutPrefix(id, run)
	if !found || len(rest) == 0 || rest[0] != '-' {
		return 0, 0, false
	}
	s, o, found := strings.Cut(rest[1:], "-")
	if !found {
		return 0, 0, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 {
		return 0, 0, false
	}
	ns, err := strconv.ParseInt(o, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return seq, time.Duration(ns), true
}

// fail counts a failed request.
func (w *worker) fail(status int, code, msg string) {
	w.failed++
	k := errKey{status, code}
	if e, ok := w.errs[k]; ok {
		e.Count++
		return
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	w.errs[k] = &ErrorCount{Status: status, Code: code, Count: 1, Sample: msg}
}

// apiError reads the code and message of an API error body.
func apiError(body []byte) (code, msg string) {
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Error.Code == "" {
		return "", strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	msg = doc.Error.Message
	if doc.Error.Field != "" {
		msg = doc.Error.Field + ": " + msg
	}
	return doc.Error.Code, msg
}

// classify names the kind of a failure to get a response.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "transport"
}

// noteCPU sets the report's CPU figures: the time from the start of
// publishing to now, so that with Dispatch the deliveries that follow the
// last publish are counted too.
func (r *run) noteCPU(rep *Report) {
	cpu, ok := processCPU()
	if !ok || r.cpuStart < 0 {
		return
	}
	rep.CPUSeconds = (cpu - r.cpuStart).Seconds()
	if rep.EventsAccepted > 0 {
		rep.CPUMicrosPerEvent = rep.CPUSeconds * 1e6 / float64(rep.EventsAccepted)
	}
}

// report sums up the workers once publishing has ended.
func (r *run) report() *Report {
	rep := &Report{
		Target: r.base, Label: r.cfg.Label, Mode: "closed", Batch: r.cfg.Batch,
		Connections: r.cfg.Connections, DataSize: r.cfg.DataSize,
		ServerInProcess: r.cfg.ServerInProcess, Errors: []ErrorCount{},
	}
	if r.cfg.Rate > 0 {
		rep.Mode, rep.Rate = "open", r.cfg.Rate
	}
	hist := NewHistogram()
	errs := map[errKey]*ErrorCount{}
	end := r.start
	for _, w := range r.workers {
		hist.Merge(w.hist)
		rep.Requests += w.requests
		rep.RequestsOK += w.ok
		rep.RequestsFailed += w.failed
		rep.EventsSent += w.sent
		rep.EventsAccepted += w.accepted
		rep.EventsUnsent += w.unsent
		if w.last.After(end) {
			end = w.last
		}
		for k, e := range w.errs {
			if have, ok := errs[k]; ok {
				have.Count += e.Count
			} else {
				c := *e
				errs[k] = &c
			}
		}
	}
	elapsed := end.Sub(r.start)
	if elapsed <= 0 {
		elapsed = time.Since(r.start)
	}
	rep.ElapsedSeconds = elapsed.Seconds()
	rep.EventsPerSecond = float64(rep.EventsAccepted) / elapsed.Seconds()
	rep.RequestsPerSecond = float64(rep.Requests) / elapsed.Seconds()
	rep.Publish = LatencyOf(hist)
	for _, e := range errs {
		rep.Errors = append(rep.Errors, *e)
	}
	slices.SortFunc(rep.Errors, func(a, b ErrorCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		if a.Status != b.Status {
			return a.Status - b.Status
		}
		return strings.Compare(a.Code, b.Code)
	})
	return rep
}
