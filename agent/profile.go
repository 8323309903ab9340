package agent

import (
	"encoding/json"
	"slices"
	"time"
)

// Status is an agent's own account of whether it takes work.
type Status string

// The statuses of the course's registry. Only StatusActive agents are
// offered actions.
const (
	StatusActive      Status = "active"
	StatusBusy        Status = "busy"
	StatusMaintenance Status = "maintenance"
	StatusOffline     Status = "offline"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusBusy, StatusMaintenance, StatusOffline:
		return true
	}
	return false
}

// Protocols an agent is reached by: the transport the dispatcher uses for
// it.
const (
	ProtocolA2A       = "a2a"     // A2A message/send to Endpoint, the agent's base URL
	ProtocolWebhook   = "webhook" // an HTTP POST of the action to Endpoint
	ProtocolInProcess = "inproc"  // a Go handler registered in the process under Endpoint
)

// Profile is an agent as the registry knows it: the course's agent profile,
// plus the protocol it is reached by.
type Profile struct {
	ID           string   `json:"id"`
	Name         string   `json:"name,omitempty"`
	Description  string   `json:"description,omitempty"`
	Capabilities []string `json:"capabilities"`
	// Endpoint is where actions are delivered: a base URL for A2A, a URL
	// for a webhook, a handler name in process.
	Endpoint string `json:"endpoint"`
	// Protocol is one of the Protocol constants; empty means
	// ProtocolWebhook.
	Protocol      string                     `json:"protocol,omitempty"`
	Status        Status                     `json:"status"`
	Load          float64                    `json:"load"` // 0 (idle) to 1 (saturated), reported with heartbeats
	LastHeartbeat time.Time                  `json:"last_heartbeat"`
	Metadata      map[string]json.RawMessage `json:"metadata,omitempty"`
	// CardURL is the base URL the agent's A2A card was fetched from, set
	// by Registry.RegisterCard; Registry.Run fetches the card again from
	// there. Empty for agents registered with a profile.
	CardURL string `json:"card_url,omitempty"`
}

// HasAll reports whether p has every capability in caps.
func (p *Profile) HasAll(caps []string) bool {
	for _, c := range caps {
		if !slices.Contains(p.Capabilities, c) {
			return false
		}
	}
	return true
}

// clone returns a copy of p that shares no slice or map with it.
func (p *Profile) clone() Profile {
	c := *p
	c.Capabilities = slices.Clone(p.Capabilities)
	if p.Metadata != nil {
		c.Metadata = make(map[string]json.RawMessage, len(p.Metadata))
		for k, v := range p.Metadata {
			c.Metadata[k] = slices.Clone(v)
		}
	}
	return c
}

// Transport returns p.Protocol, or ProtocolWebhook when it is empty.
func (p *Profile) Transport() string {
	if p.Protocol == "" {
		return ProtocolWebhook
	}
	return p.Protocol
}
