package a2a

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
)

// BenchmarkDeliver delivers actions to an SDK agent on the loopback
// interface: the whole round trip, client and agent, in one process.
// "task" agents answer with a completed task, "message" agents with a
// reply message; "serial" sends one action at a time, "parallel" as many
// as GOMAXPROCS.
func BenchmarkDeliver(b *testing.B) {
	for _, bc := range []struct {
		name string
		exec execFunc
	}{
		{"task", completeAtOnce(sdk.DataPart{Data: map[string]any{"reserved": true, "sku": "b-1"}})},
		{"message", replyWith(sdk.DataPart{Data: map[string]any{"reserved": true, "sku": "b-1"}})},
	} {
		for _, parallel := range []bool{false, true} {
			name := bc.name + "/serial"
			if parallel {
				name = bc.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				a := newTestAgent(b, bc.exec, nil)
				a.discard = true
				tr := newTestTransport(b, Config{})
				d := testDelivery(a.endpoint)
				ctx := b.Context()
				b.ReportAllocs()
				start := time.Now()
				if parallel {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := tr.Deliver(ctx, d); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if _, err := tr.Deliver(ctx, d); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "actions/s")
			})
		}
	}
}

// BenchmarkDeliverCanned measures the client side alone: the agent is a
// plain handler that answers every message/send with the same completed
// task, without decoding the request.
func BenchmarkDeliverCanned(b *testing.B) {
	reply := []byte(`{"jsonrpc":"2.0","id":"1","result":{"kind":"task","id":"task-1","contextId":"order-7",` +
		`"status":{"state":"completed"},"artifacts":[{"artifactId":"result","parts":[{"kind":"data","data":{"reserved":true,"sku":"b-1"}}]}]}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
	defer srv.Close()
	tr := newTestTransport(b, Config{})
	d := testDelivery(srv.URL)
	ctx := b.Context()
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tr.Deliver(ctx, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "actions/s")
}
