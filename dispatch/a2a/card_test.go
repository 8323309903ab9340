package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"

	"github.com/choreohq/choreo/agent"
)

func stockCard() *sdk.AgentCard {
	return &sdk.AgentCard{
		Name:               "Stock",
		Description:        "Reserves and releases stock",
		Version:            "1.2.0",
		ProtocolVersion:    "0.3.0",
		PreferredTransport: sdk.TransportProtocolJSONRPC,
		Skills: []sdk.AgentSkill{
			{ID: "reserve_stock", Name: "Reserve", Tags: []string{"inventory", "hello world"}},
			{ID: "release_stock", Name: "Release"},
			{ID: "reserve_stock", Name: "Reserve again"},
			{ID: " ", Name: "blank"},
		},
	}
}

func TestResolveCard(t *testing.T) {
	a := newTestAgent(t, completeAtOnce(sdk.DataPart{Data: map[string]any{"ok": true}}), stockCard())
	tr := newTestTransport(t, Config{})

	for name, resolve := range map[string]agent.CardResolver{
		"function":  ResolveCard,
		"transport": tr.ResolveCard,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			p, err := resolve(ctx, a.base)
			if err != nil {
				t.Fatalf("ResolveCard: %v", err)
			}
			want := agent.Profile{
				ID:           a.base,
				Name:         "Stock",
				Description:  "Reserves and releases stock",
				Capabilities: []string{"reserve_stock", "release_stock"},
				Endpoint:     a.endpoint,
				Protocol:     agent.ProtocolA2A,
				Status:       agent.StatusActive,
				CardURL:      a.base,
				Metadata: map[string]json.RawMessage{
					MetaCardURL:         json.RawMessage(`"` + a.base + CardPath + `"`),
					MetaVersion:         json.RawMessage(`"1.2.0"`),
					MetaProtocolVersion: json.RawMessage(`"0.3.0"`),
				},
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("profile:\n got %+v\nwant %+v", p, want)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("the registry would refuse the profile: %v", err)
			}

			// The same agent, however its URL is written.
			for _, base := range []string{a.base + "/", a.base + CardPath, strings.ToUpper(a.base[:4]) + a.base[4:]} {
				q, err := resolve(ctx, base)
				if err != nil {
					t.Fatalf("ResolveCard(%q): %v", base, err)
				}
				if q.ID != p.ID {
					t.Errorf("ResolveCard(%q).ID = %q, want %q", base, q.ID, p.ID)
				}
			}

			// The profile reaches the agent.
			if _, err := tr.Deliver(ctx, testDelivery(p.Endpoint)); err != nil {
				t.Errorf("Deliver to the card's endpoint: %v", err)
			}
		})
	}
}

func TestResolveCardErrors(t *testing.T) {
	serve := func(body string, status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != CardPath {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	card := func(edit func(c *sdk.AgentCard)) string {
		c := stockCard()
		c.URL = "http://127.0.0.1:9/rpc"
		edit(c)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return serve(string(b), http.StatusOK)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name string
		base string
		code string
		msg  string
		is   error
	}{
		{"404", serve("", http.StatusNotFound), CodeBadResponse, "404", nil},
		{"500", serve("oops", http.StatusInternalServerError), CodeBadResponse, "500", nil},
		{"not JSON", serve("<html>hello</html>", http.StatusOK), CodeBadCard, "", nil},
		{"wrong JSON", serve(`{"name": 7}`, http.StatusOK), CodeBadCard, "", nil},
		{"too large", serve(`{"name":"`+strings.Repeat("x", 4096)+`"}`, http.StatusOK), CodeBadResponse, "", ErrTooLarge},
		{"no skills", card(func(c *sdk.AgentCard) { c.Skills = nil }), CodeBadCard, "lists no skills", nil},
		{"blank skills", card(func(c *sdk.AgentCard) { c.Skills = []sdk.AgentSkill{{ID: ""}} }), CodeBadCard, "lists no skills", nil},
		{"no url", card(func(c *sdk.AgentCard) { c.URL = "" }), CodeBadCard, "has no url", nil},
		{"url not http", card(func(c *sdk.AgentCard) { c.URL = "grpc://host:1" }), CodeBadCard, "not an http or https URL", nil},
		{"no JSON-RPC", card(func(c *sdk.AgentCard) { c.PreferredTransport = sdk.TransportProtocolGRPC }), CodeBadCard, "no JSON-RPC interface", nil},
		{"unreachable", down, CodeUnreachable, "", nil},
		{"bad base URL", "agents.example.com", CodeBadDelivery, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTransport(t, Config{MaxCardBytes: 1024})
			_, err := tr.ResolveCard(t.Context(), tc.base)
			if err == nil {
				t.Fatal("no error")
			}
			if got := Code(err); got != tc.code {
				t.Errorf("code = %q, want %q (err: %v)", got, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want one matching %v", err, tc.is)
			}
		})
	}
}

func TestResolveCardTimeout(t *testing.T) {
	endpoint := hangingServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := ResolveCard(ctx, endpoint)
	if Code(err) != CodeTimeout {
		t.Errorf("err = %v, want code %q", err, CodeTimeout)
	}
}

func TestProfileFromCard(t *testing.T) {
	t.Run("JSON-RPC as an additional interface", func(t *testing.T) {
		c := stockCard()
		c.URL = "https://stock.example.com/grpc"
		c.PreferredTransport = sdk.TransportProtocolGRPC
		c.AdditionalInterfaces = []sdk.AgentInterface{
			{Transport: sdk.TransportProtocolHTTPJSON, URL: "https://stock.example.com/rest"},
			{Transport: sdk.TransportProtocolJSONRPC, URL: "https://stock.example.com/rpc"},
		}
		p, err := ProfileFromCard(c, "https://Stock.Example.com/")
		if err != nil {
			t.Fatal(err)
		}
		if p.Endpoint != "https://stock.example.com/rpc" || p.ID != "https://stock.example.com" {
			t.Errorf("endpoint %q id %q", p.Endpoint, p.ID)
		}
	})
	t.Run("preferred transport unset means JSON-RPC", func(t *testing.T) {
		c := stockCard()
		c.URL = "https://stock.example.com/rpc"
		c.PreferredTransport = ""
		p, err := ProfileFromCard(c, "https://stock.example.com/agents/stock")
		if err != nil {
			t.Fatal(err)
		}
		if p.Endpoint != c.URL || p.ID != "https://stock.example.com/agents/stock" {
			t.Errorf("endpoint %q id %q", p.Endpoint, p.ID)
		}
	})
	t.Run("id of a URL an id cannot hold", func(t *testing.T) {
		c := stockCard()
		c.URL = "https://stock.example.com/rpc"
		for _, base := range []string{
			"https://stock.example.com/" + strings.Repeat("long/", 40),
			"https://stock.example.com/~agent/st%C3%B6ck",
		} {
			p, err := ProfileFromCard(c, base)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p.ID, "a2a-") || len(p.ID) != 36 || !agent.ValidID(p.ID) {
				t.Errorf("id of %q = %q", base, p.ID)
			}
			q, _ := ProfileFromCard(c, base+"/")
			if q.ID != p.ID {
				t.Errorf("id changed with a trailing slash: %q, %q", p.ID, q.ID)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		}
	})
	t.Run("nil card", func(t *testing.T) {
		_, err := ProfileFromCard(nil, "https://stock.example.com")
		if Code(err) != CodeBadCard {
			t.Errorf("err = %v", err)
		}
	})
}
