package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/jsonw"
	"github.com/choreohq/choreo/store"
)

// Page sizes of the read endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// reservedTypePrefix starts the event types the engine writes itself
// (choreo.timer and the like), and the ids it gives some of them;
// clients may publish neither.
const reservedTypePrefix = "choreo."

var (
	publishParams = []string{"stream", "expected_version"}
	readParams    = []string{"from", "limit"}
)

func (s *Server) routeEvents() {
	s.route("POST /v1/events", takes(publishParams...), s.publish)
	s.route("GET /v1/events", takes(readParams...), s.readAll)
	s.route("GET /v1/events/{id...}", takesNone, s.getEvent)
	s.route("GET /v1/streams/{stream...}", takes(readParams...), s.readStream)
}

// publish serves POST /v1/events: one event (structured or binary mode)
// or an atomic batch, appended to one stream.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, q url.Values) error {
	expected, err := parseExpectedVersion(q)
	if err != nil {
		return err
	}
	stream, hasStream := "", false
	if v, ok := q["stream"]; ok {
		stream, hasStream = v[0], true
		if err := checkUserStream(stream); err != nil {
			return err
		}
	}

	ct := r.Header.Get("Content-Type")
	mt := mediaType(ct)
	var mode structured
	binary := false
	switch {
	case mt == mediaCloudEvent:
		mode = structuredSingle
	case mt == mediaCloudEvents:
		mode = structuredBatch
	case len(r.Header["Ce-Specversion"]) > 0:
		binary = true
	case mt == mediaJSON:
		mode = structuredAuto
	case ceHeader(r.Header) != "":
		return errorf(event.CodeMissingField, "specversion",
			"binary mode needs the header ce-specversion (1.0): the request has %s but no ce-specversion", ceHeader(r.Header))
	default:
		return errorf(CodeUnsupportedMediaType, "", "Content-Type %q: want %s, %s, %s, or binary mode (ce-* headers)",
			ct, mediaCloudEvent, mediaCloudEvents, mediaJSON)
	}

	bp, err := s.readBody(r)
	if err != nil {
		return err
	}
	var (
		events []*event.Event
		batch  bool
	)
	if binary {
		var e *event.Event
		if e, err = decodeBinaryMode(r.Header, *bp); err == nil {
			events = []*event.Event{e}
		}
	} else {
		events, batch, err = decodeStructured(*bp, mode, s.cfg.MaxBatch)
	}
	putBody(bp) // the events do not point into the body
	if err != nil {
		return err
	}
	prefix := ""
	if batch {
		prefix = batchPrefix
	}
	for i, e := range events {
		if err := s.checkEvent(e); err != nil {
			return s.mapError(r, &store.EventError{Index: i, Err: err}, prefix)
		}
	}
	if !hasStream {
		stream = events[0].CorrelationID
		if err := checkUserStream(stream); err != nil {
			if verr := s.validateEvents(events); verr != nil {
				// A correlation id (or the id it defaults to) that cannot
				// name a stream is the event's fault: say so as the store
				// would, had ?stream= been given.
				return s.mapError(r, verr, prefix)
			}
			err.Message += " (the stream defaults to the first event's correlation id)"
			return err
		}
	}

	if err := s.deriveHops(r.Context(), events); err != nil {
		return s.mapError(r, err, prefix)
	}
	pos, err := s.cfg.Store.Append(r.Context(), stream, expected, events)
	if err != nil {
		return s.mapError(r, err, prefix)
	}
	out := getOut()
	b := append(*out, `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonw.String(b, e.ID)
		b = append(b, `,"stream":`...)
		b = jsonw.String(b, stream)
		b = append(b, `,"stream_position":`...)
		b = strconv.AppendUint(b, pos[i].Stream, 10)
		b = append(b, `,"global_position":`...)
		b = strconv.AppendUint(b, pos[i].Global, 10)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	writeRaw(w, http.StatusCreated, b)
	*out = b
	putOut(out)
	return nil
}

// checkEvent completes an event as the store will (event.Fill) and checks
// it against the API's rules: the reserved types and extension names, and
// event.Validate with the configured limits. With no limits configured it
// leaves validation to the store's Append, which reports the same errors.
func (s *Server) checkEvent(e *event.Event) error {
	e.Fill()
	if strings.HasPrefix(e.Type, reservedTypePrefix) {
		return &apiError{Code: CodeReservedType, Field: "type",
			Message: fmt.Sprintf("event types starting with %q are reserved for the engine, got %q", reservedTypePrefix, e.Type)}
	}
	if strings.HasPrefix(e.ID, reservedTypePrefix) {
		return &apiError{Code: CodeReservedID, Field: "id",
			Message: fmt.Sprintf("event ids starting with %q are reserved for the engine, got %q", reservedTypePrefix, e.ID)}
	}
	for k := range e.Extensions {
		if recordMember[k] {
			return &event.Error{Code: event.CodeInvalidField, Field: k,
				Msg: "this extension name is reserved: the API's records use it for their own member"}
		}
	}
	if s.cfg.Limits == (event.Limits{}) {
		return nil
	}
	return e.Validate(s.cfg.Limits)
}

// validateEvents validates events, completed by checkEvent, as the store's
// Append will, and returns the first error as a *store.EventError.
func (s *Server) validateEvents(events []*event.Event) error {
	for i, e := range events {
		if err := e.Validate(s.cfg.Limits); err != nil {
			return &store.EventError{Index: i, Err: err}
		}
	}
	return nil
}

// checkUserStream refuses stream names clients may not write to.
func checkUserStream(stream string) *apiError {
	if strings.HasPrefix(stream, "$") {
		return errorf(CodeReservedStream, "stream", "streams starting with '$' are reserved for the system, got %q", stream)
	}
	if err := store.CheckStream(stream); err != nil {
		return errorf(store.CodeInvalidStream, "stream", "%s", trimPrefix(err.Error()))
	}
	return nil
}

// parseExpectedVersion reads the expected_version parameter: "any" (the
// default), "no_stream", or the stream position of the stream's last
// event.
func parseExpectedVersion(q map[string][]string) (store.ExpectedVersion, error) {
	v, ok := q["expected_version"]
	if !ok {
		return store.Any, nil
	}
	switch v[0] {
	case "any":
		return store.Any, nil
	case "no_stream":
		return store.NoStream, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 63)
	if err != nil {
		return 0, errorf(CodeInvalidQuery, "expected_version", "want any, no_stream or a non-negative integer, got %q", v[0])
	}
	return store.Exact(n), nil
}

// readAll serves GET /v1/events: a page of the log from a global position.
func (s *Server) readAll(w http.ResponseWriter, r *http.Request, q url.Values) error {
	from, err := queryUint(q, "from", 0)
	if err != nil {
		return err
	}
	limit, err := queryLimit(q, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	recs, err := s.cfg.Store.ReadAll(r.Context(), from, limit)
	if err != nil {
		return err
	}
	next := from
	if n := len(recs); n > 0 {
		next = recs[n-1].GlobalPosition + 1
	}
	writeRecords(w, recs, next)
	return nil
}

// readStream serves GET /v1/streams/{stream}: a page of one stream from a
// stream position.
func (s *Server) readStream(w http.ResponseWriter, r *http.Request, q url.Values) error {
	stream := r.PathValue("stream")
	if err := store.CheckStream(stream); err != nil {
		return errorf(store.CodeInvalidStream, "stream", "%s", trimPrefix(err.Error()))
	}
	from, err := queryUint(q, "from", 0)
	if err != nil {
		return err
	}
	limit, err := queryLimit(q, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	recs, err := s.cfg.Store.ReadStream(r.Context(), stream, from, limit)
	if err != nil {
		return err
	}
	next := from
	if n := len(recs); n > 0 {
		next = recs[n-1].StreamPosition + 1
	}
	writeRecords(w, recs, next)
	return nil
}

// getEvent serves GET /v1/events/{id}: one record by event id.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	id := r.PathValue("id")
	if id == "" {
		return errorf(CodeNotFound, "id", "no event id in the path")
	}
	rec, err := s.cfg.Store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(CodeNotFound, "id", "no event with id %q", id)
	}
	if err != nil {
		return err
	}
	out := getOut()
	b := appendRecord(*out, &rec)
	b = append(b, '\n')
	writeRaw(w, http.StatusOK, b)
	*out = b
	putOut(out)
	return nil
}

// writeRecords writes {"events":[records…],"next":next}.
func writeRecords(w http.ResponseWriter, recs []store.Record, next uint64) {
	out := getOut()
	b := append(*out, `{"events":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, &recs[i])
	}
	b = append(b, `],"next":`...)
	b = strconv.AppendUint(b, next, 10)
	b = append(b, "}\n"...)
	writeRaw(w, http.StatusOK, b)
	*out = b
	putOut(out)
}
