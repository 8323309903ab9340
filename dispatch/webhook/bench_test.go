package webhook_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/event"
)

// BenchmarkDeliver measures deliveries to a webhook agent on the loopback
// interface, many at once over keep-alive connections: the transport signs
// each message, the agent (Handler) checks the signature, decodes the
// message and answers with one event, which the transport decodes and
// validates. Both sides run in this process, so the figure counts the
// agent's work too; with the bare agent, little more than the HTTP
// server's; the last case sends the same requests through net/http's
// client instead of the transport's fast path.
func BenchmarkDeliver(b *testing.B) {
	agent := func(secret []byte) http.Handler {
		return webhook.Handler(webhook.HandlerConfig{Secret: secret},
			func(_ context.Context, m *dispatch.Message) ([]*event.Event, error) {
				return []*event.Event{{Type: "payment_processed", Data: []byte(`{"ok":true}`)}}, nil
			})
	}
	// bare is an agent that does as little as an HTTP server can, to show
	// the cost of the transport's side.
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"type":"payment_processed","data":{"ok":true}}]`)
	})
	for _, bc := range []struct {
		name    string
		secret  []byte
		agent   http.Handler
		netHTTP bool // DisableFastPath: every request through net/http
	}{
		{"signed", []byte("benchmark-secret"), agent([]byte("benchmark-secret")), false},
		{"unsigned", nil, agent(nil), false},
		{"signed-bare-agent", []byte("benchmark-secret"), bare, false},
		{"signed-bare-agent-net-http", []byte("benchmark-secret"), bare, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := newServer(b, bc.agent)
			tr := newTransport(b, webhook.Config{Secret: bc.secret, DisableFastPath: bc.netHTTP})
			d := delivery(srv.URL)
			d.Message.Payload.TriggerEvent = trigger().AppendJSON(nil) // as the dispatcher fills it
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := tr.Deliver(context.Background(), d)
					if err != nil || len(res.Events) != 1 {
						b.Errorf("Deliver: %v, %v", res.Events, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
		})
	}
}
