package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// readyTimeout bounds the checks of GET /readyz.
const readyTimeout = 5 * time.Second

func (s *Server) routeHealth() {
	// Probes may add parameters of their own; they are not checked.
	s.route("GET /healthz", anyParams, s.healthz)
	s.route("GET /readyz", anyParams, s.readyz)
}

var statusOK = []byte(`{"status":"ok"}` + "\n")

// healthz serves GET /healthz: the process is alive and serving HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	writeRaw(w, http.StatusOK, statusOK)
	return nil
}

// readyz serves GET /readyz: the server is not closing, the store answers
// and Config.Ready passes.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	if s.closed() {
		return errorf(CodeNotReady, "", "the server is shutting down")
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if _, err := s.cfg.Store.Head(ctx); err != nil {
		return errorf(CodeNotReady, "", "the store does not answer: %s", trimPrefix(err.Error()))
	}
	if s.cfg.Ready != nil {
		if err := ready(ctx, s.cfg.Ready); err != nil {
			return errorf(CodeNotReady, "", "%s", err.Error())
		}
	}
	writeRaw(w, http.StatusOK, statusOK)
	return nil
}

// ready runs the Ready hook, turning a panic into an error.
func ready(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the readiness check panicked: %v", p)
		}
	}()
	return f(ctx)
}
