package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/event"
)

// heartbeatEvery is how often the sink agent tells the registry it is
// alive; the registry treats an agent silent for 90 s as gone.
const heartbeatEvery = 30 * time.Second

// sink is the bench's own webhook agent.
type sink struct {
	r       *run
	agentID string
	srv     *agentServer
	stopHB  chan struct{}
	hbDone  chan struct{}

	received   bitset
	distinct   atomic.Int64
	dups       atomic.Int64
	foreign    atomic.Int64
	lastNanos  atomic.Int64 // offset from the run's start of the last first delivery
	target     atomic.Int64 // distinct count at which wait is notified
	notify     chan struct{}
	histMu     sync.Mutex
	hist       *Histogram
	warnings   []string
	registered bool
}

// startSink serves the agent's webhook and registers it with the server.
func startSink(ctx context.Context, r *run) (*sink, error) {
	s := &sink{
		r: r, agentID: r.id + "-sink", hist: NewHistogram(),
		stopHB: make(chan struct{}), hbDone: make(chan struct{}),
		notify: make(chan struct{}, 1),
	}
	s.target.Store(math.MaxInt64)
	ln, err := net.Listen("tcp", r.cfg.SinkAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: listening on %s: %v", ErrAgent, r.cfg.SinkAddr, err)
	}
	endpoint := r.cfg.SinkURL
	if endpoint == "" {
		endpoint = (&url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/"}).String()
	}
	s.srv = startAgentServer(ln, agentServerConfig{
		Handler: webhook.Handler(webhook.HandlerConfig{Secret: r.cfg.Secret}, s.take),
		// Above the handler's own limit, so that it answers a body too
		// large itself.
		MaxBodyBytes: 2 * webhook.DefaultMaxBodyBytes,
	})
	if err := s.register(ctx, endpoint); err != nil {
		s.stop()
		return nil, err
	}
	go s.heartbeat()
	return s, nil
}

// take receives one action.
func (s *sink) take(_ context.Context, m *dispatch.Message) ([]*event.Event, error) {
	at := time.Now()
	var id string
	if ids := m.Payload.ChoreographyContext.TriggerEventIDs; len(ids) > 0 {
		id = ids[0]
	} else if len(m.Payload.TriggerEvent) > 0 {
		var e struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Payload.TriggerEvent, &e) == nil {
			id = e.ID
		}
	}
	seq, off, ok := parseID(s.r.id, id)
	if !ok || seq >= MaxEvents {
		s.foreign.Add(1)
		return nil, nil
	}
	if !s.received.add(uint64(seq)) {
		s.dups.Add(1)
		return nil, nil
	}
	// The run's start is read only for actions of its own events, which
	// exist only once publishing has started.
	now := at.Sub(s.r.start)
	s.histMu.Lock()
	s.hist.Record(now - off)
	s.histMu.Unlock()
	for {
		last := s.lastNanos.Load()
		if int64(now) <= last || s.lastNanos.CompareAndSwap(last, int64(now)) {
			break
		}
	}
	if s.distinct.Add(1) >= s.target.Load() {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return nil, nil
}

// wait waits, up to the grace period, for the action of every event rep
// counts as accepted, and reports what arrived.
func (s *sink) wait(ctx context.Context, rep *Report) *DispatchReport {
	grace := time.NewTimer(s.r.cfg.Grace)
	defer grace.Stop()
	s.target.Store(rep.EventsAccepted)
	for rep.EventsAccepted > 0 {
		if s.distinct.Load() >= rep.EventsAccepted && s.r.accepted.count(&s.received) == 0 {
			break
		}
		select {
		case <-s.notify:
			continue
		case <-grace.C:
		case <-ctx.Done():
		}
		break
	}
	// Stop counting: what comes later is late.
	s.target.Store(math.MaxInt64)
	s.histMu.Lock()
	hist := NewHistogram()
	hist.Merge(s.hist)
	s.histMu.Unlock()
	d := &DispatchReport{
		AgentID:      s.agentID,
		Capability:   s.r.cfg.Capability,
		Missing:      int64(s.r.accepted.count(&s.received)),
		Unexpected:   int64(s.received.count(s.r.accepted)),
		Duplicates:   s.dups.Load(),
		Foreign:      s.foreign.Load(),
		GraceSeconds: s.r.cfg.Grace.Seconds(),
		Latency:      LatencyOf(hist),
	}
	d.Received = int64(hist.Count())
	if last := time.Duration(s.lastNanos.Load()); last > 0 {
		d.ActionsPerSecond = float64(d.Received) / last.Seconds()
	}
	return d
}

// register registers the agent, after noting other live agents with the
// same capability: the server shares the actions among them.
func (s *sink) register(ctx context.Context, endpoint string) error {
	r := s.r
	if others, err := s.others(ctx); err == nil && others > 0 {
		s.warnings = append(s.warnings, fmt.Sprintf(
			"%d other live agents have capability %s: actions the server gives them are not counted", others, r.cfg.Capability))
	}
	body, err := json.Marshal(map[string]any{
		"id": s.agentID, "name": "choreo bench", "capabilities": []string{r.cfg.Capability},
		"endpoint": endpoint, "protocol": "webhook",
	})
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodPost, "/v1/agents", body, http.StatusCreated); err != nil {
		return err
	}
	s.registered = true
	return nil
}

// others counts the live agents other than this one with its capability.
func (s *sink) others(ctx context.Context) (int, error) {
	req, err := s.r.newRequest(ctx, http.MethodGet, "/v1/agents", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.r.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc struct {
		Agents []struct {
			ID           string   `json:"id"`
			Capabilities []string `json:"capabilities"`
			Live         bool     `json:"live"`
		} `json:"agents"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&doc); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range doc.Agents {
		if a.Live && a.ID != s.agentID && slices.Contains(a.Capabilities, s.r.cfg.Capability) {
			n++
		}
	}
	return n, nil
}

// call makes an API request about the agent and checks its status.
func (s *sink) call(ctx context.Context, method, path string, body []byte, want int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := s.r.newRequest(ctx, method, path, rd)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAgent, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrAgent, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode != want {
		code, msg := apiError(b)
		return fmt.Errorf("%w: %s %s: %d %s: %s", ErrAgent, method, path, resp.StatusCode, code, msg)
	}
	return nil
}

// heartbeat keeps the agent live until stop.
func (s *sink) heartbeat() {
	defer close(s.hbDone)
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopHB:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := s.call(ctx, http.MethodPost, "/v1/agents/"+url.PathEscape(s.agentID)+"/heartbeat", nil, http.StatusOK)
			cancel()
			if err != nil {
				// The next beat may get through; the registry allows
				// 90 s of silence.
				continue
			}
		}
	}
}

// stop unregisters the agent and closes its listener, waiting for the
// deliveries in progress (at most a few seconds).
func (s *sink) stop() {
	if s.registered {
		close(s.stopHB)
		<-s.hbDone
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.call(ctx, http.MethodDelete, "/v1/agents/"+url.PathEscape(s.agentID), nil, http.StatusNoContent)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.warnings = append(s.warnings, "unregistering the bench agent: "+err.Error())
		}
	}
	// Idle connections, and those that never sent a request, are closed
	// at once; requests in progress get a few seconds to be answered.
	s.srv.shutdown(5 * time.Second)
}
