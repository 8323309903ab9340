package server

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/choreohq/choreo/agent"
)

// agentJSON is a profile as the API shows it, with its liveness.
type agentJSON struct {
	agent.Profile
	Live bool `json:"live"`
}

func (s *Server) routeAgents(reg *agent.Registry) {
	s.route("POST /v1/agents", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		var body struct {
			agent.Profile
			// The registry sets the heartbeat time itself: what a client
			// sends (the Go client sends whole profiles) is not read.
			LastHeartbeat json.RawMessage `json:"last_heartbeat"`
			CardURL       string          `json:"card_url"`
		}
		if err := s.decodeJSON(r, &body); err != nil {
			return err
		}
		var p agent.Profile
		var err error
		if body.CardURL != "" && body.ID == "" {
			p, err = reg.RegisterCard(r.Context(), body.CardURL)
		} else {
			p, err = reg.Register(r.Context(), body.Profile)
		}
		if err != nil {
			return agentError(err)
		}
		writeJSON(w, http.StatusCreated, agentJSON{p, reg.Live(p)})
		return nil
	})
	s.route("GET /v1/agents", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		list := reg.List()
		out := make([]agentJSON, len(list))
		for i, p := range list {
			out[i] = agentJSON{p, reg.Live(p)}
		}
		writeJSON(w, http.StatusOK, map[string]any{"agents": out})
		return nil
	})
	s.route("GET /v1/agents/{id}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		p, ok := reg.Get(r.PathValue("id"))
		if !ok {
			return errorf(CodeNotFound, "id", "no agent %q", r.PathValue("id"))
		}
		writeJSON(w, http.StatusOK, agentJSON{p, reg.Live(p)})
		return nil
	})
	s.route("POST /v1/agents/{id}/heartbeat", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		var hb struct {
			Load   *float64     `json:"load"`
			Status agent.Status `json:"status"`
		}
		if r.ContentLength != 0 {
			if err := s.decodeJSON(r, &hb); err != nil {
				return err
			}
		}
		p, err := reg.Heartbeat(r.Context(), r.PathValue("id"), agent.Heartbeat{Load: hb.Load, Status: hb.Status})
		if err != nil {
			return agentError(err)
		}
		writeJSON(w, http.StatusOK, agentJSON{p, reg.Live(p)})
		return nil
	})
	s.route("DELETE /v1/agents/{id}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		if err := reg.Unregister(r.Context(), r.PathValue("id")); err != nil {
			return agentError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
