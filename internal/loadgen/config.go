package loadgen

import (
	"fmt"
	"net/url"
	"time"
)

// Defaults of Config.
const (
	DefaultDuration    = 10 * time.Second
	DefaultBatch       = 1
	DefaultConnections = 16
	DefaultDataSize    = 200
	DefaultTimeout     = 30 * time.Second
	DefaultGrace       = 10 * time.Second
	DefaultEventType   = "bench.event"
	DefaultSource      = "choreo-bench"
	DefaultCapability  = "bench_sink"
	DefaultAction      = "bench_sink"
)

// Limits of Config.
const (
	// MaxBatch is the most events one request may carry: the server's
	// default limit.
	MaxBatch = 1000
	// MaxConnections bounds Config.Connections.
	MaxConnections = 4096
	// MaxDataSize bounds Config.DataSize, well under the server's default
	// limit of 1 MiB per event.
	MaxDataSize = 512 << 10
	// MaxEvents is the most events one run can track: the bit sets that
	// record which events were accepted and which actions arrived hold
	// this many.
	MaxEvents = maxChunks * chunkBits
)

// Config describes a run. Only URL is required: the zero value of every
// other field selects the default named in its comment.
type Config struct {
	// URL is the base URL of the choreo API, e.g. "http://127.0.0.1:7070".
	URL string

	// Rate is the offered load in events per second. Zero means flat
	// out, closed loop; a positive rate runs open loop (see the package
	// documentation).
	Rate float64
	// Duration is how long to publish. Zero means DefaultDuration (10 s)
	// unless Events is set, in which case the run ends after Events. With
	// both set, whichever comes first ends it.
	Duration time.Duration
	// Events, when positive, is how many events to publish.
	Events int64
	// Batch is the number of events per request, 1 to MaxBatch. Zero
	// means DefaultBatch (1): single events in structured mode.
	Batch int
	// Connections is the number of connections publishing at once. Zero
	// means DefaultConnections (16).
	Connections int
	// DataSize is about how many bytes of JSON each event's data holds.
	// Zero means DefaultDataSize (200); the data is never smaller than
	// the sequence number it carries.
	DataSize int
	// EventType is the type of the events published. Empty means
	// DefaultEventType.
	EventType string
	// Source is the source of the events published. Empty means
	// DefaultSource.
	Source string
	// Timeout bounds each request. Zero means DefaultTimeout (30 s).
	Timeout time.Duration
	// Label describes the target for the report, e.g. "embedded server".
	// Empty means none.
	Label string
	// ServerInProcess says that the server runs in this process, so that
	// the report's CPU time is the server's as well as the generator's.
	ServerInProcess bool
	// Header holds extra headers for every API request (such as
	// Authorization): names are HTTP tokens, values hold no control
	// characters but tabs. Host, Content-Length, Content-Type,
	// Transfer-Encoding and Trailer are set by the generator, and ignored
	// here. Nil means none.
	Header map[string]string

	// Dispatch makes the run measure event-to-dispatch latency: it serves
	// a webhook agent with Capability and registers it with the server.
	// The server must run Choreography(EventType, Capability).
	Dispatch bool
	// Capability is the capability the bench's agent registers. Empty
	// means DefaultCapability.
	Capability string
	// SinkAddr is the address the agent's webhook listens on. Empty means
	// "127.0.0.1:0", a free loopback port.
	SinkAddr string
	// SinkURL is the endpoint registered for the agent, the URL the
	// server delivers to. Empty means "http://" and the listener's
	// address, which suits a server on the same machine.
	SinkURL string
	// Secret is the key the server signs webhook deliveries with; the
	// agent checks signatures when it is set. Empty means unsigned.
	Secret []byte
	// Grace is how long to wait, once publishing has ended, for the
	// actions of the accepted events. Zero means DefaultGrace (10 s).
	Grace time.Duration
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Duration == 0 && c.Events <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	if c.DataSize == 0 {
		c.DataSize = DefaultDataSize
	}
	if c.EventType == "" {
		c.EventType = DefaultEventType
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Capability == "" {
		c.Capability = DefaultCapability
	}
	if c.SinkAddr == "" {
		c.SinkAddr = "127.0.0.1:0"
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	return c
}

// Validate reports the first field that cannot be used, as an error
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return bad("URL", "required")
	case err != nil:
		return bad("URL", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return bad("URL", "not an absolute http or https URL: %q", c.URL)
	case !printableASCII(u.Host):
		return bad("URL", "host %q is not printable ASCII (give an international name in its punycode form)", u.Host)
	case c.Rate < 0 || c.Rate != c.Rate || c.Rate > 1e9:
		return bad("Rate", "must be 0 (flat out) or a positive number of events per second up to 1e9, got %v", c.Rate)
	case c.Duration < 0:
		return bad("Duration", "negative: %v", c.Duration)
	case c.Events < 0 || c.Events > MaxEvents:
		return bad("Events", "must be from 0 to %d, got %d", int64(MaxEvents), c.Events)
	case c.Batch < 0 || c.Batch > MaxBatch:
		return bad("Batch", "must be from 1 to %d, got %d", MaxBatch, c.Batch)
	case c.Connections < 0 || c.Connections > MaxConnections:
		return bad("Connections", "must be from 1 to %d, got %d", MaxConnections, c.Connections)
	case c.DataSize < 0 || c.DataSize > MaxDataSize:
		return bad("DataSize", "must be from 0 to %d bytes, got %d", MaxDataSize, c.DataSize)
	case c.Timeout < 0:
		return bad("Timeout", "negative: %v", c.Timeout)
	case c.Grace < 0:
		return bad("Grace", "negative: %v", c.Grace)
	}
	for k, v := range c.Header {
		if !isToken([]byte(k)) {
			return bad("Header", "invalid header name %q", k)
		}
		if !validHeaderValue(v) {
			return bad("Header", "invalid value of header %s", k)
		}
	}
	if c.SinkURL != "" {
		if u, err := url.Parse(c.SinkURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("SinkURL", "not an absolute http or https URL: %q", c.SinkURL)
		}
	}
	return nil
}

// Choreography returns a choreography, in YAML, that asks an agent with
// capability for an action on every event of eventType: the one a server
// must run for a Dispatch run. Empty arguments mean DefaultEventType and
// DefaultCapability.
func Choreography(eventType, capability string) string {
	if eventType == "" {
		eventType = DefaultEventType
	}
	if capability == "" {
		capability = DefaultCapability
	}
	return fmt.Sprintf(`# The choreography of choreo bench --dispatch: every event of the bench's
# type asks an agent with the bench's capability to take an action.
name: choreo-bench
description: Load test. Every bench event is handed to the bench's own agent.
patterns:
  - id: bench_sink
    event_type: %q
    action: %s
    target_capability: %q
`, eventType, DefaultAction, capability)
}

// printableASCII reports whether s holds printable ASCII only, no space.
func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s may be the value of a header field:
// no control characters but horizontal tabs (RFC 9110, section 5.5).
func validHeaderValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
