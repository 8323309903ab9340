package server_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/choreohq/choreo/server"
)

func TestHealth(t *testing.T) {
	var notReady atomic.Pointer[error]
	e := newEnv(t, server.Config{Ready: func(ctx context.Context) error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}})
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.get(path); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}

	err := errors.New("engine: catching up with the log")
	notReady.Store(&err)
	r := e.get("/readyz")
	if got := r.err(t); r.status != 503 || got.Error.Code != "not_ready" || !strings.Contains(got.Error.Message, "catching up") {
		t.Errorf("Ready failing: %d %+v", r.status, got.Error)
	}
	notReady.Store(nil)

	e.srv.Close()
	r = e.get("/readyz")
	if got := r.err(t); r.status != 503 || got.Error.Code != "not_ready" {
		t.Errorf("after Close: %d %+v", r.status, got.Error)
	}
	if r := e.get("/healthz"); r.status != 200 {
		t.Errorf("healthz after Close: %d", r.status)
	}
}

func TestReadyStoreClosed(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.store.Close()
	r := e.get("/readyz")
	if got := r.err(t); r.status != 503 || got.Error.Code != "not_ready" || !strings.Contains(got.Error.Message, "closed") {
		t.Errorf("store closed: %d %+v", r.status, got.Error)
	}
}

func TestReadyPanics(t *testing.T) {
	e := newMemEnv(t, server.Config{Ready: func(context.Context) error { panic("oops") }})
	r := e.get("/readyz")
	if got := r.err(t); r.status != 503 || got.Error.Code != "not_ready" {
		t.Errorf("panicking check: %d %+v", r.status, got.Error)
	}
}
