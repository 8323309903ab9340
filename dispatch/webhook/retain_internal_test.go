package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/heaptest"
)

// TestDedupDoesNotHoldBodies: the handler's dedup key for a request with
// no Idempotency-Key, the message id, used to be a piece of the request's
// decoded body, which each remembered key (DedupSize, 1,024 by default)
// then kept in memory: up to MaxBodyBytes, 2 MiB, a key.
func TestDedupDoesNotHoldBodies(t *testing.T) {
	h := Handler(HandlerConfig{Dedup: true}, func(context.Context, *dispatch.Message) ([]*event.Event, error) { return nil, nil })
	const n = 100
	trigger := []byte(`{"pad":"` + strings.Repeat("x", 256<<10) + `"}`)
	size := 0
	before := heaptest.Live()
	for i := range n {
		m := dispatch.Message{MessageID: fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i), Action: "a"}
		m.Payload.TriggerEvent = trigger
		body, err := appendMessage(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		size = len(body)
		var got dispatch.Message
		if !decodeFast(body, &got) {
			t.Fatal("the message does not take the decoder's fast path")
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	held := heaptest.Live() - before
	t.Logf("%d remembered keys of %d-byte requests hold %d KiB", n, size, held>>10)
	if limit := int64(n * size / 16); held > limit {
		t.Fatalf("%d remembered keys hold %d KiB, over %d KiB: they keep the requests' bodies", n, held>>10, limit>>10)
	}
	runtime.KeepAlive(h)
}
