package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/jsonw"
	"github.com/choreohq/choreo/view"
)

var actionStatuses = []string{view.StatusPending, view.StatusDelivered, view.StatusDeadLettered, view.StatusDiscarded}

func (s *Server) routeActions(v *view.Actions) {
	s.route("GET /v1/actions", takes("correlation", "status", "limit"), func(w http.ResponseWriter, r *http.Request, q url.Values) error {
		limit, err := queryLimit(q, defaultLimit, maxLimit)
		if err != nil {
			return err
		}
		status := q.Get("status")
		if status != "" && !contains(actionStatuses, status) {
			return errorf(CodeInvalidQuery, "status", "status must be one of %v", actionStatuses)
		}
		writeJSON(w, http.StatusOK, map[string]any{"actions": v.List(view.Filter{Correlation: q.Get("correlation"), Status: status, Limit: limit})})
		return nil
	})
	s.route("GET /v1/actions/{id}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		a, ok := v.Get(r.PathValue("id"))
		if !ok {
			return errorf(CodeNotFound, "id", "no action %q among the recent ones", r.PathValue("id"))
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) routeDLQ(d *dispatch.Dispatcher) {
	notReady := errorf(CodeNotReady, "", "the dead-letter queue is being rebuilt from the log; retry shortly")
	s.route("GET /v1/dlq", takes("reason", "limit", "after"), func(w http.ResponseWriter, r *http.Request, q url.Values) error {
		var err error
		f := dispatch.DLQFilter{Reason: q.Get("reason")}
		if f.Reason != "" && !contains(dlqReasons, f.Reason) {
			return errorf(CodeInvalidQuery, "reason", "reason must be one of %v", dlqReasons)
		}
		if f.Limit, err = queryLimit(q, maxLimit, maxLimit); err != nil {
			return err
		}
		if after := q.Get("after"); after != "" {
			n, err := strconv.ParseUint(after, 10, 64)
			if err != nil || n == 0 {
				return errorf(CodeInvalidQuery, "after", "want the next of an earlier page, got %q", after)
			}
			f.From = n
		}
		if !d.Recovered() {
			return notReady
		}
		page, next, err := d.DeadLetterPage(r.Context(), f)
		if err != nil {
			return err
		}
		doc := map[string]any{"dead_letters": page}
		if next != 0 {
			doc["next"] = strconv.FormatUint(next, 10)
		}
		writeJSON(w, http.StatusOK, doc)
		return nil
	})
	s.route("GET /v1/dlq/{id}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		if !d.Recovered() {
			return notReady
		}
		dl, err := d.DeadLetter(r.Context(), r.PathValue("id"))
		if errors.Is(err, dispatch.ErrNotFound) {
			return errorf(CodeNotFound, "id", "no dead letter for action %q", r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dl)
		return nil
	})
	take := func(verb string, f func(ctx context.Context, id string) error, status int) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
			id := r.PathValue("id")
			if err := f(r.Context(), id); err != nil {
				if errors.Is(err, dispatch.ErrNotFound) {
					return errorf(CodeNotFound, "id", "no dead letter for action %q", id)
				}
				if errors.Is(err, dispatch.ErrRecovering) {
					return notReady
				}
				return err
			}
			writeJSON(w, status, map[string]any{"action_id": id, "status": verb})
			return nil
		}
	}
	s.route("POST /v1/dlq/{id}/retry", takesNone, take("retried", d.Retry, http.StatusAccepted))
	s.route("POST /v1/dlq/{id}/discard", takesNone, take("discarded", d.Discard, http.StatusOK))
	s.route("DELETE /v1/dlq/{id}", takesNone, take("discarded", d.Discard, http.StatusOK))
}

// correlationLimit bounds the events GET /v1/correlations/{id} reads.
const correlationLimit = 10_000

func (s *Server) routeCorrelations(v *view.Actions) {
	s.route("GET /v1/correlations/{id}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		id := r.PathValue("id")
		recs, err := s.cfg.Store.ReadCorrelation(r.Context(), id, 0, correlationLimit)
		if err != nil {
			return err
		}
		evs := make([]*event.Event, len(recs))
		for i := range recs {
			evs[i] = recs[i].Event
		}
		var acts []view.Action
		if v != nil {
			acts = v.List(view.Filter{Correlation: id, Limit: correlationLimit})
		}
		if len(recs) == 0 && len(acts) == 0 {
			return errorf(CodeNotFound, "id", "no events or actions for correlation %q", id)
		}
		bp := getOut()
		defer putOut(bp)
		b := append((*bp)[:0], `{"correlation_id":`...)
		b = jsonw.String(b, id)
		b = append(b, `,"events":[`...)
		for i := range recs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRecord(b, &recs[i])
		}
		b = append(b, `],"actions":`...)
		if acts == nil {
			acts = []view.Action{}
		}
		b, err = appendJSONValue(b, acts)
		if err != nil {
			return err
		}
		b = append(b, `,"analysis":`...)
		if b, err = appendJSONValue(b, engine.Analyze(evs)); err != nil {
			return err
		}
		b = append(b, `,"truncated":`...)
		if len(recs) == correlationLimit {
			b = append(b, "true}"...)
		} else {
			b = append(b, "false}"...)
		}
		*bp = b
		writeRaw(w, http.StatusOK, b)
		return nil
	})
}

var dlqReasons = []string{dispatch.ReasonMaxAttempts, dispatch.ReasonRejected, dispatch.ReasonNoAgent,
	dispatch.ReasonUnavailable, dispatch.ReasonLoop}
