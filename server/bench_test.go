package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/choreohq/choreo/server"
)

// benchEvent is an event of about 200 bytes of data, without an id (the
// server generates one, so the same body appends new events each time).
const benchEvent = `{"specversion":"1.0","source":"agent/bench","type":"order_received","correlationid":"order-1",` +
	`"data":{"order_id":"order-1","order_value":129.95,"currency":"EUR","customer":"c-1042","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"leave at the door, ring twice"}}`

// benchPublish posts body from conns connections in parallel, b.N
// requests in all, over loopback HTTP to a server on a durable Pebble
// store (or the in-memory one), and reports requests and events per
// second. The load generator shares the machine with the server.
func benchPublish(b *testing.B, inMemory bool, conns int, contentType, body string, perRequest int) {
	var e *env
	if inMemory {
		e = newMemEnv(b, server.Config{})
	} else {
		e = newEnv(b, server.Config{})
	}
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var next atomic.Int64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			url := fmt.Sprintf("%s/v1/events?stream=bench-%d", e.url, c)
			for next.Add(1) <= int64(b.N) {
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", contentType)
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/secs, "req/s")
	b.ReportMetric(float64(b.N*perRequest)/secs, "events/s")
	if h := e.head(); h != uint64(b.N*perRequest) {
		b.Errorf("the log holds %d events, want %d", h, b.N*perRequest)
	}
}

// BenchmarkPublishBatch: batches of 100 events from 1, 4 and 16
// connections.
func BenchmarkPublishBatch(b *testing.B) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := range 100 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(benchEvent)
	}
	body.WriteByte(']')
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			benchPublish(b, false, conns, ceBatch, body.String(), 100)
		})
	}
}

// BenchmarkPublishSingle: one event per request from 1, 16 and 64
// connections, to the durable store; and to the in-memory store, which
// shows what HTTP alone costs.
func BenchmarkPublishSingle(b *testing.B) {
	for _, inMemory := range []bool{false, true} {
		name := "pebble"
		if inMemory {
			name = "mem"
		}
		for _, conns := range []int{1, 16, 64} {
			if inMemory && conns != 64 {
				continue
			}
			b.Run(fmt.Sprintf("%s/conns=%d", name, conns), func(b *testing.B) {
				benchPublish(b, inMemory, conns, ceJSON, benchEvent, 1)
			})
		}
	}
}
