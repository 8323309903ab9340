package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/pebble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a real server over HTTP on 127.0.0.1, its store, and a client.
type env struct {
	store store.Store
	srv   *server.Server
	ts    *httptest.Server
	c     *client.Client
}

type envOptions struct {
	durable bool
	cfg     server.Config
	wrap    func(http.Handler) http.Handler
	opts    []client.Option
	// connState, when set, is told of the server's connections.
	connState func(net.Conn, http.ConnState)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	cfg := o.cfg
	if o.durable {
		s, err := pebble.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Store = s
	} else {
		cfg.Store = mem.New(store.Options{})
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = o.connState
	ts.Start()
	c, err := client.New(ts.URL, o.opts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: cfg.Store, srv: srv, ts: ts, c: c}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		ts.Close()
		cfg.Store.Close()
	})
	return e
}

// testCtx is a context bounded for one test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
