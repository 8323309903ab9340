package webhook_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

const actionID = "0194c3a0-0000-8000-8000-000000000001"

// newTransport returns a transport closed when the test ends.
func newTransport(t testing.TB, cfg webhook.Config) *webhook.Transport {
	t.Helper()
	tr, err := webhook.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// newServer starts a server on 127.0.0.1 closed when the test ends.
func newServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// trigger returns the event that completed the match.
func trigger() *event.Event {
	return &event.Event{
		SpecVersion:   event.SpecVersion,
		ID:            "0194c3a0-0000-7000-8000-0000000000aa",
		Source:        "shop",
		Type:          "order_received",
		Time:          t0,
		Data:          []byte(`{"order_id":"order-1","order_value":1500}`),
		CorrelationID: "order-1",
	}
}

// delivery returns a delivery of actionID to endpoint, as the dispatcher
// builds it, with the trigger event left for the transport to add.
func delivery(endpoint string) *dispatch.Delivery {
	a := &engine.Action{
		ID:               actionID,
		Action:           "process_payment",
		TargetCapability: "payment_processing",
		Priority:         9,
		Choreography:     "shop",
		RuleID:           "pay",
		RuleKind:         engine.KindPattern,
		CorrelationID:    "order-1",
		TriggerEventIDs:  []string{trigger().ID},
		Time:             t0,
		Hops:             0,
	}
	return &dispatch.Delivery{
		Action:  a,
		Trigger: trigger(),
		Agent: agent.Profile{
			ID:           "payments",
			Capabilities: []string{"payment_processing"},
			Endpoint:     endpoint,
			Status:       agent.StatusActive,
		},
		Attempt: 2,
		Message: dispatch.Message{
			MessageID:            a.ID,
			SenderID:             "choreo",
			RecipientID:          "payments",
			Action:               a.Action,
			CapabilitiesRequired: []string{a.TargetCapability},
			Priority:             dispatch.PriorityHigh,
			CorrelationID:        a.CorrelationID,
			Hops:                 1,
			Payload: dispatch.Payload{
				Pattern: a.RuleID,
				ChoreographyContext: dispatch.ChoreographyContext{
					Choreography:    a.Choreography,
					PatternID:       a.RuleID,
					RuleKind:        a.RuleKind,
					TriggeredAt:     a.Time,
					TriggerEventIDs: a.TriggerEventIDs,
				},
			},
		},
	}
}

// reply returns a handler answering every request with status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// captured is a request as a server saw it.
type captured struct {
	method string
	header http.Header
	body   []byte
	req    *http.Request
}

// capture returns a handler that sends each request on ch and answers
// with status and body.
func capture(ch chan<- captured, status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{method: r.Method, header: r.Header.Clone(), body: b, req: r.Clone(r.Context())}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// newUnstartedServer returns a server to start, closed when the test ends.
func newUnstartedServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	t.Cleanup(srv.Close)
	return srv
}
