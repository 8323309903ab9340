package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

func TestRegisterValidation(t *testing.T) {
	ok := func() agent.Profile { return profile("agent-1", 0.5, "x") }
	manyCaps := make([]string, agent.MaxCapabilities+1)
	for i := range manyCaps {
		manyCaps[i] = strings.Repeat("c", i+1)
	}
	for _, tc := range []struct {
		name  string
		edit  func(p *agent.Profile)
		code  string
		field string
	}{
		{"valid", func(*agent.Profile) {}, "", ""},
		{"valid id charset", func(p *agent.Profile) { p.ID = "org/team.agent_1:v2@eu-west" }, "", ""},
		{"valid inproc handler", func(p *agent.Profile) { p.Protocol, p.Endpoint = agent.ProtocolInProcess, "my handler" }, "", ""},
		{"valid a2a", func(p *agent.Profile) { p.Protocol, p.Endpoint = agent.ProtocolA2A, "https://agents.example.com/a" }, "", ""},
		{"valid status and bounds", func(p *agent.Profile) { p.Status, p.Load = agent.StatusMaintenance, 1 }, "", ""},
		{"missing id", func(p *agent.Profile) { p.ID = "" }, agent.CodeMissingField, "id"},
		{"id too long", func(p *agent.Profile) { p.ID = strings.Repeat("a", agent.MaxIDLen+1) }, agent.CodeInvalidField, "id"},
		{"id with space", func(p *agent.Profile) { p.ID = "a b" }, agent.CodeInvalidField, "id"},
		{"id starting with dot", func(p *agent.Profile) { p.ID = ".a" }, agent.CodeInvalidField, "id"},
		{"id not ascii", func(p *agent.Profile) { p.ID = "agént" }, agent.CodeInvalidField, "id"},
		{"no capabilities", func(p *agent.Profile) { p.Capabilities = nil }, agent.CodeMissingField, "capabilities"},
		{"empty capability", func(p *agent.Profile) { p.Capabilities = []string{"x", ""} }, agent.CodeMissingField, "capabilities[1]"},
		{"capability with spaces around", func(p *agent.Profile) { p.Capabilities = []string{" x"} }, agent.CodeInvalidField, "capabilities[0]"},
		{"capability with control", func(p *agent.Profile) { p.Capabilities = []string{"a\nb"} }, agent.CodeInvalidField, "capabilities[0]"},
		{"capability too long", func(p *agent.Profile) { p.Capabilities = []string{strings.Repeat("c", agent.MaxCapabilityLen+1)} }, agent.CodeInvalidField, "capabilities[0]"},
		{"too many capabilities", func(p *agent.Profile) { p.Capabilities = manyCaps }, agent.CodeInvalidField, "capabilities"},
		{"missing endpoint", func(p *agent.Profile) { p.Endpoint = "" }, agent.CodeMissingField, "endpoint"},
		{"relative webhook endpoint", func(p *agent.Profile) { p.Endpoint = "/hook" }, agent.CodeInvalidField, "endpoint"},
		{"webhook endpoint not http", func(p *agent.Profile) { p.Endpoint = "ftp://h/x" }, agent.CodeInvalidField, "endpoint"},
		{"a2a endpoint without host", func(p *agent.Profile) { p.Protocol, p.Endpoint = agent.ProtocolA2A, "http:///x" }, agent.CodeInvalidField, "endpoint"},
		{"unparsable endpoint", func(p *agent.Profile) { p.Endpoint = "http://h/%zz" }, agent.CodeInvalidField, "endpoint"},
		{"unknown protocol", func(p *agent.Profile) { p.Protocol = "grpc" }, agent.CodeInvalidField, "protocol"},
		{"unknown status", func(p *agent.Profile) { p.Status = "sleeping" }, agent.CodeInvalidField, "status"},
		{"negative load", func(p *agent.Profile) { p.Load = -0.1 }, agent.CodeInvalidField, "load"},
		{"load above 1", func(p *agent.Profile) { p.Load = 1.5 }, agent.CodeInvalidField, "load"},
		{"NaN load", func(p *agent.Profile) { p.Load = math.NaN() }, agent.CodeInvalidField, "load"},
		{"name too long", func(p *agent.Profile) { p.Name = strings.Repeat("n", agent.MaxNameLen+1) }, agent.CodeInvalidField, "name"},
		{"description not utf-8", func(p *agent.Profile) { p.Description = "\xff" }, agent.CodeInvalidField, "description"},
		{"metadata not json", func(p *agent.Profile) { p.Metadata = map[string]json.RawMessage{"k": json.RawMessage("{")} }, agent.CodeInvalidField, "metadata.k"},
		{"metadata empty key", func(p *agent.Profile) { p.Metadata = map[string]json.RawMessage{"": json.RawMessage("1")} }, agent.CodeInvalidField, "metadata"},
		{"metadata too large", func(p *agent.Profile) {
			p.Metadata = map[string]json.RawMessage{"k": json.RawMessage(`"` + strings.Repeat("v", agent.MaxMetadataSize) + `"`)}
		}, agent.CodeInvalidField, "metadata"},
		{"card url relative", func(p *agent.Profile) { p.CardURL = "agent" }, agent.CodeInvalidField, "card_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t, mem.New(store.Options{}), agent.Config{})
			p := ok()
			tc.edit(&p)
			_, err := r.Register(context.Background(), p)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Register = %v, want success", err)
				}
				return
			}
			var e *agent.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("Register = %v, want code %q field %q", err, tc.code, tc.field)
			}
			if !errors.Is(err, agent.ErrInvalid) || errors.Is(err, agent.ErrNotFound) {
				t.Fatalf("%v does not match ErrInvalid alone", err)
			}
			if r.Len() != 0 {
				t.Fatal("a refused registration changed the registry")
			}
		})
	}
}

func TestHeartbeatValidation(t *testing.T) {
	ctx := context.Background()
	r := open(t, mem.New(store.Options{}), agent.Config{})
	mustRegister(t, r, profile("a", 0.5, "x"))
	for _, tc := range []struct {
		name  string
		hb    agent.Heartbeat
		field string
	}{
		{"load above 1", agent.Heartbeat{Load: ptr(1.1)}, "load"},
		{"negative load", agent.Heartbeat{Load: ptr(-1.0)}, "load"},
		{"NaN load", agent.Heartbeat{Load: ptr(math.NaN())}, "load"},
		{"unknown status", agent.Heartbeat{Status: "gone"}, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Heartbeat(ctx, "a", tc.hb)
			var e *agent.Error
			if !errors.As(err, &e) || e.Code != agent.CodeInvalidField || e.Field != tc.field {
				t.Fatalf("Heartbeat = %v, want invalid_field %q", err, tc.field)
			}
			if p, _ := r.Get("a"); p.Load != 0.5 || p.Status != agent.StatusActive {
				t.Fatalf("a refused heartbeat changed the agent: %+v", p)
			}
		})
	}
}

// FuzzRegister registers arbitrary JSON profiles: no panic, an accepted
// profile encodes to valid UTF-8 and survives a restart unchanged.
func FuzzRegister(f *testing.F) {
	f.Add([]byte(`{"id":"a","capabilities":["x"],"endpoint":"http://h/"}`))
	f.Add([]byte(`{"id":"b","capabilities":["x","x",""],"endpoint":"inproc-h","protocol":"inproc","load":0.5}`))
	f.Add([]byte(`{"id":"c","capabilities":["y"],"endpoint":"https://h:1/a","protocol":"a2a","status":"busy","metadata":{"k":{"v":[1]}}}`))
	f.Add([]byte("{\"id\":\"d\",\"capabilities\":[\"y\"],\"endpoint\":\"i\",\"protocol\":\"inproc\",\"metadata\":{\"k\":\"\xff\"}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p agent.Profile
		if json.Unmarshal(b, &p) != nil {
			return
		}
		st := mem.New(store.Options{})
		defer st.Close()
		r := open(t, st, agent.Config{})
		got, err := r.Register(context.Background(), p)
		if err != nil {
			if agent.Code(err) == "" || agent.Code(err) == store.CodeInternal {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if enc, err := json.Marshal(got); err != nil || !utf8.Valid(enc) {
			t.Fatalf("accepted profile encodes to %q, %v", enc, err)
		}
		r2 := open(t, st, agent.Config{})
		again, ok := r2.Get(got.ID)
		if !ok {
			t.Fatalf("%s lost at restart", got.ID)
		}
		again.LastHeartbeat = got.LastHeartbeat
		if !reflect.DeepEqual(normJSON(t, again), normJSON(t, got)) {
			t.Fatalf("restart changed %+v to %+v", got, again)
		}
	})
}

// normJSON compares profiles by their JSON, where metadata is compared as
// JSON text.
func normJSON(t *testing.T, p agent.Profile) string {
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestValidateRefusesInvalidUTF8 gives each string of a profile bytes that
// are not UTF-8: Validate and Register refuse them, naming the field.
func TestValidateRefusesInvalidUTF8(t *testing.T) {
	ok := func() agent.Profile { return profile("agent-1", 0.5, "x") }
	for _, tc := range []struct {
		name  string
		edit  func(p *agent.Profile)
		field string
	}{
		{"name", func(p *agent.Profile) { p.Name = "a\xffb" }, "name"},
		{"description", func(p *agent.Profile) { p.Description = "\xc3" }, "description"},
		{"capability", func(p *agent.Profile) { p.Capabilities = []string{"x", "sum\xfe"} }, "capabilities[1]"},
		{"webhook endpoint", func(p *agent.Profile) { p.Endpoint = "http://h/\xff" }, "endpoint"},
		{"a2a endpoint", func(p *agent.Profile) { p.Protocol, p.Endpoint = agent.ProtocolA2A, "https://h\xff/" }, "endpoint"},
		{"inproc endpoint", func(p *agent.Profile) { p.Protocol, p.Endpoint = agent.ProtocolInProcess, "h\xff" }, "endpoint"},
		{"card url", func(p *agent.Profile) { p.CardURL = "https://h/\xff" }, "card_url"},
		{"metadata key", func(p *agent.Profile) { p.Metadata = map[string]json.RawMessage{"k\xff": json.RawMessage("1")} }, "metadata"},
		{"metadata value", func(p *agent.Profile) { p.Metadata = map[string]json.RawMessage{"k": json.RawMessage("\"\xff\"")} }, "metadata.k"},
		{"metadata value nested", func(p *agent.Profile) {
			p.Metadata = map[string]json.RawMessage{"k": json.RawMessage("{\"a\":[\"\xed\xa0\x80\"]}")}
		}, "metadata.k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok()
			tc.edit(&p)
			for _, step := range []struct {
				name string
				err  error
			}{
				{"Validate", p.Validate()},
				{"Register", func() error {
					_, err := open(t, mem.New(store.Options{}), agent.Config{}).Register(context.Background(), p)
					return err
				}()},
			} {
				var e *agent.Error
				if !errors.As(step.err, &e) || e.Code != agent.CodeInvalidField || e.Field != tc.field || !strings.Contains(e.Msg, "UTF-8") {
					t.Errorf("%s = %v, want code %q field %q, not valid UTF-8", step.name, step.err, agent.CodeInvalidField, tc.field)
				}
			}
		})
	}
	// Valid text outside ASCII, U+FFFD included, is text like any other.
	p := ok()
	p.Name, p.Capabilities = "Zürich \uFFFD", []string{"résumé", "日本語"}
	p.Metadata = map[string]json.RawMessage{"région": json.RawMessage(`"Île-de-France \u00e9"`)}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate(valid UTF-8) = %v", err)
	}
}
