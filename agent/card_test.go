package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// card is the part of an A2A agent card the test resolver reads.
type card struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	URL         string            `json:"url,omitempty"`
	Skills      []skill           `json:"skills"`
	Meta        map[string]string `json:"meta,omitempty"`
}

type skill struct {
	ID string `json:"id"`
}

// cardServer serves a card at /.well-known/agent-card.json that the test
// may change.
type cardServer struct {
	*httptest.Server
	mu   sync.Mutex
	card card
}

func newCardServer(t *testing.T, c card) *cardServer {
	s := &cardServer{card: c}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/agent-card.json", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		b, _ := json.Marshal(s.card)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *cardServer) setSkills(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.card.Skills = nil
	for _, id := range ids {
		s.card.Skills = append(s.card.Skills, skill{id})
	}
}

// resolver is a small stand-in for the A2A transport's resolver: it
// fetches the card over HTTP and maps skills to capabilities. Every
// failure is also sent to failed, when it is not nil.
func resolver(failed chan<- error) agent.CardResolver {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return func(ctx context.Context, base string) (p agent.Profile, err error) {
		defer func() {
			if err != nil && failed != nil {
				select {
				case failed <- err:
				default:
				}
			}
		}()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/.well-known/agent-card.json", nil)
		if err != nil {
			return agent.Profile{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return agent.Profile{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return agent.Profile{}, fmt.Errorf("card: HTTP %d", resp.StatusCode)
		}
		var c card
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			return agent.Profile{}, err
		}
		p = agent.Profile{
			ID:          strings.ToLower(strings.ReplaceAll(c.Name, " ", "-")),
			Name:        c.Name,
			Description: c.Description,
			Endpoint:    c.URL,
		}
		for _, s := range c.Skills {
			p.Capabilities = append(p.Capabilities, s.ID)
		}
		for k, v := range c.Meta {
			if p.Metadata == nil {
				p.Metadata = make(map[string]json.RawMessage)
			}
			p.Metadata[k], _ = json.Marshal(v)
		}
		return p, nil
	}
}

func TestRegisterCard(t *testing.T) {
	ctx := context.Background()
	srv := newCardServer(t, card{Name: "Route Planner", Description: "plans routes", Skills: []skill{{"plan_route"}, {"estimate_eta"}}})
	srv.card.URL = srv.URL + "/a2a"
	r := open(t, mem.New(store.Options{}), agent.Config{Resolver: resolver(nil)})

	p, err := r.RegisterCard(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "route-planner" || p.Protocol != agent.ProtocolA2A || p.CardURL != srv.URL || p.Endpoint != srv.URL+"/a2a" ||
		!slices.Equal(p.Capabilities, []string{"plan_route", "estimate_eta"}) || p.Status != agent.StatusActive {
		t.Fatalf("RegisterCard = %+v", p)
	}
	if got := ids(r.Discover([]string{"estimate_eta"})); !slices.Equal(got, []string{"route-planner"}) {
		t.Fatalf("Discover(estimate_eta) = %v", got)
	}

	// A card without a url: the card URL is the endpoint.
	srv.mu.Lock()
	srv.card.URL = ""
	srv.mu.Unlock()
	if p, err := r.RegisterCard(ctx, srv.URL); err != nil || p.Endpoint != srv.URL {
		t.Fatalf("RegisterCard of a card without url = %+v, %v; want endpoint %s", p, err, srv.URL)
	}

	// A card without skills is refused like a profile without capabilities.
	srv.setSkills()
	if _, err := r.RegisterCard(ctx, srv.URL); agent.Code(err) != agent.CodeMissingField {
		t.Fatalf("RegisterCard of a card without skills = %v, want missing_field", err)
	}
}

func TestRegisterCardErrors(t *testing.T) {
	ctx := context.Background()
	down := httptest.NewServer(http.NotFoundHandler())
	defer down.Close()
	with := open(t, mem.New(store.Options{}), agent.Config{Resolver: resolver(nil)})
	without := open(t, mem.New(store.Options{}), agent.Config{})
	for _, tc := range []struct {
		name string
		r    *agent.Registry
		url  string
		is   error
		code string
	}{
		{"no resolver", without, down.URL, agent.ErrNoResolver, agent.CodeNoResolver},
		{"empty url", with, "", agent.ErrInvalid, agent.CodeMissingField},
		{"relative url", with, "agents/x", agent.ErrInvalid, agent.CodeInvalidField},
		{"not http", with, "file:///etc/passwd", agent.ErrInvalid, agent.CodeInvalidField},
		{"no card there", with, down.URL, agent.ErrCard, agent.CodeCardUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.RegisterCard(ctx, tc.url)
			if !errors.Is(err, tc.is) || agent.Code(err) != tc.code {
				t.Fatalf("RegisterCard(%q) = %v (code %q), want %v, code %q", tc.url, err, agent.Code(err), tc.is, tc.code)
			}
			if tc.r.Len() != 0 {
				t.Fatal("a refused card changed the registry")
			}
		})
	}
}

func TestRunRefreshesCards(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := mem.New(store.Options{})
	defer st.Close()
	clk := newClock()
	failed := make(chan error, 1)
	r := open(t, st, agent.Config{
		Now:          clk.Now,
		Resolver:     resolver(failed),
		CardInterval: 5 * time.Millisecond,
		CardTimeout:  2 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	})
	srv := newCardServer(t, card{Name: "Planner", Skills: []skill{{"plan"}}})
	if _, err := r.RegisterCard(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	// An agent registered with a profile is not fetched.
	mustRegister(t, r, profile("plain", 0, "plan"))

	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx) }()

	// waitFor waits for the registry to change until cond holds.
	waitFor := func(what string, cond func(p agent.Profile) bool) agent.Profile {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			ch := r.Changed()
			if p, ok := r.Get("planner"); ok && cond(p) {
				return p
			}
			select {
			case <-ch:
			case <-deadline:
				p, _ := r.Get("planner")
				t.Fatalf("timed out waiting for %s; agent is %+v", what, p)
			}
		}
	}

	// A fetched card is a heartbeat.
	clk.Advance(60 * time.Second)
	waitFor("the card to refresh the heartbeat", func(p agent.Profile) bool { return p.LastHeartbeat.Equal(t0.Add(60 * time.Second)) })
	if p, _ := r.Get("plain"); !p.LastHeartbeat.Equal(t0) {
		t.Fatalf("an agent without card got heartbeat %v", p.LastHeartbeat)
	}

	// Changed skills are a new registration, logged; load set by a
	// heartbeat is kept.
	if _, err := r.Heartbeat(ctx, "planner", agent.Heartbeat{Load: ptr(0.4)}); err != nil {
		t.Fatal(err)
	}
	srv.setSkills("plan", "replan")
	p := waitFor("the new skills", func(p agent.Profile) bool { return slices.Equal(p.Capabilities, []string{"plan", "replan"}) })
	if p.Load != 0.4 {
		t.Errorf("load after card change = %v, want 0.4", p.Load)
	}
	if got := ids(r.Discover([]string{"replan"})); !slices.Equal(got, []string{"planner"}) {
		t.Fatalf("Discover(replan) = %v", got)
	}
	recs, err := st.ReadStream(ctx, agent.StreamAgents, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var last agent.Profile
	if err := json.Unmarshal(recs[len(recs)-1].Event.Data, &last); err != nil || last.ID != "planner" || !slices.Equal(last.Capabilities, []string{"plan", "replan"}) {
		t.Fatalf("last record = %+v (%v), want planner's new skills", last, err)
	}

	// Another Run is refused while this one runs.
	if err := r.Run(ctx); !errors.Is(err, agent.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}

	// The server goes down: fetches fail, the heartbeat ages, and the agent
	// goes stale.
	srv.Close()
	select {
	case <-failed: // a fetch that began before Close may have failed too: drain it
	default:
	}
	select {
	case <-failed:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a failed card fetch")
	}
	clk.Advance(91 * time.Second)
	select {
	case <-failed: // one more round after the clock moved
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a failed card fetch")
	}
	p, _ = r.Get("planner")
	if r.Live(p) || !p.LastHeartbeat.Equal(t0.Add(60*time.Second)) {
		t.Fatalf("agent whose card is down: live %v, heartbeat %v; want stale since %v", r.Live(p), p.LastHeartbeat, t0.Add(60*time.Second))
	}
	if got := r.Discover([]string{"plan"}); got != nil {
		t.Fatalf("Discover(plan) with the card down = %v, want none", ids(got))
	}

	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunWithoutResolver(t *testing.T) {
	r := open(t, mem.New(store.Options{}), agent.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := r.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
}

// TestRunFetchesCardsAtStart: Run fetches the cards when it starts, not a
// CardInterval later, so that an A2A agent restored from the log is live
// again at once; and a card whose endpoint moved moves the agent's.
func TestRunFetchesCardsAtStart(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	clk := newClock()
	r := open(t, st, agent.Config{
		Now:          clk.Now,
		Resolver:     resolver(nil),
		CardInterval: time.Hour,
		Logger:       slog.New(slog.DiscardHandler),
	})
	srv := newCardServer(t, card{Name: "Planner", Skills: []skill{{"plan"}}})
	if _, err := r.RegisterCard(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	run := func(cond func(p agent.Profile) bool) agent.Profile {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		defer func() { cancel(); <-done }()
		deadline := time.After(5 * time.Second)
		for {
			ch := r.Changed()
			if p, ok := r.Get("planner"); ok && cond(p) {
				return p
			}
			select {
			case <-ch:
			case <-deadline:
				p, _ := r.Get("planner")
				t.Fatalf("Run did not fetch the card at start; agent is %+v", p)
			}
		}
	}
	clk.Advance(10 * time.Minute) // stale: past the live window
	run(func(p agent.Profile) bool { return p.LastHeartbeat.Equal(t0.Add(10 * time.Minute)) })
	if got := ids(r.Discover([]string{"plan"})); !slices.Equal(got, []string{"planner"}) {
		t.Fatalf("Discover(plan) after the fetch = %v", got)
	}

	moved := "http://127.0.0.1:9/moved"
	srv.mu.Lock()
	srv.card.URL = moved
	srv.mu.Unlock()
	run(func(p agent.Profile) bool { return p.Endpoint == moved })
	recs, err := st.ReadStream(context.Background(), agent.StreamAgents, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var last agent.Profile
	if err := json.Unmarshal(recs[len(recs)-1].Event.Data, &last); err != nil || last.Endpoint != moved {
		t.Fatalf("the moved endpoint is not in the log: %s (%v)", recs[len(recs)-1].Event.Data, err)
	}
}

// TestCardMetadataFollowsTheCard: a card's metadata replaces the
// registration's (keys it dropped go), and a card whose registration would
// not be valid is refused, the registration left as it was.
func TestCardMetadataFollowsTheCard(t *testing.T) {
	st := mem.New(store.Options{})
	defer st.Close()
	r := open(t, st, agent.Config{Resolver: resolver(nil), CardInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	srv := newCardServer(t, card{Name: "Planner", Skills: []skill{{"plan"}}, Meta: map[string]string{"a": "1", "b": "2"}})
	if _, err := r.RegisterCard(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	// refresh runs Run, which fetches the card at start, until cond holds
	// of the agent or a second has passed.
	refresh := func(cond func(agent.Profile) bool) agent.Profile {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		defer func() { cancel(); <-done }()
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if p, _ := r.Get("planner"); cond(p) {
				break
			}
		}
		p, _ := r.Get("planner")
		return p
	}
	changed := func(p agent.Profile) bool { return string(p.Metadata["b"]) == `"3"` }
	srv.mu.Lock()
	srv.card.Meta = map[string]string{"b": "3"}
	srv.mu.Unlock()
	if p := refresh(changed); len(p.Metadata) != 1 || !changed(p) {
		t.Fatalf("metadata after the card changed: %s", p.Metadata)
	}
	big := make(map[string]string)
	for i := range agent.MaxMetadataEntries + 1 {
		big[fmt.Sprint("k", i)] = "v"
	}
	srv.mu.Lock()
	srv.card.Meta = big
	srv.mu.Unlock()
	if p := refresh(func(p agent.Profile) bool { return len(p.Metadata) > 1 }); len(p.Metadata) != 1 {
		t.Fatalf("a card with %d metadata entries was taken: %d entries", len(big), len(p.Metadata))
	}
	// Restored from the log, the registry holds the same.
	r2 := open(t, st, agent.Config{})
	if p, _ := r2.Get("planner"); len(p.Metadata) != 1 || string(p.Metadata["b"]) != `"3"` {
		t.Fatalf("restored metadata: %s", p.Metadata)
	}
}
