package a2a

import (
	"fmt"
	"net/http"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultRequestTimeout   = 30 * time.Second
	DefaultPollInterval     = 200 * time.Millisecond
	DefaultMaxPollInterval  = 2 * time.Second
	DefaultMaxPollErrors    = 3
	DefaultMaxClients       = 256
	DefaultMaxIdlePerHost   = 64
	DefaultMaxResponseBytes = 8 << 20
	DefaultMaxCardBytes     = 1 << 20
	DefaultCardTimeout      = 10 * time.Second
)

// Config tunes a Transport. The zero value works: every zero field takes
// the default named in its comment.
type Config struct {
	// HTTPClient sends every request. Its Timeout, if any, still applies;
	// the Transport wraps its RoundTripper (nil means
	// http.DefaultTransport) to bound response bodies, and never closes
	// its connections. Nil means a client the Transport owns, with a
	// keep-alive pool of MaxIdlePerHost connections per agent, closed by
	// Close.
	HTTPClient *http.Client
	// MaxIdlePerHost is the most idle keep-alive connections kept per
	// agent host by the Transport's own client. It is ignored when
	// HTTPClient is set. Zero means DefaultMaxIdlePerHost (64).
	MaxIdlePerHost int

	// RequestTimeout bounds each HTTP request (message/send, each
	// tasks/get, a card fetch) within the attempt's own deadline. Zero
	// means DefaultRequestTimeout (30 s).
	RequestTimeout time.Duration

	// PollInterval is the wait before the first tasks/get of a task that
	// has not ended; each further wait doubles, up to MaxPollInterval. Zero
	// PollInterval means DefaultPollInterval (200 ms); zero MaxPollInterval
	// means DefaultMaxPollInterval (2 s), or PollInterval if that is
	// longer.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// MaxPollErrors is how many tasks/get calls in a row may fail with a
	// retryable error before the attempt gives up; the task goes on at the
	// agent meanwhile, so one lost poll need not cost a new attempt. Zero
	// means DefaultMaxPollErrors (3).
	MaxPollErrors int

	// MaxClients bounds the A2A clients kept, one per agent endpoint; the
	// least recently used is dropped beyond it. Zero means
	// DefaultMaxClients (256).
	MaxClients int

	// MaxResponseBytes bounds the body of each JSON-RPC response; a larger
	// one fails the call with ErrTooLarge. Zero means
	// DefaultMaxResponseBytes (8 MiB).
	MaxResponseBytes int64
	// MaxCardBytes bounds the body of an agent card. Zero means
	// DefaultMaxCardBytes (1 MiB).
	MaxCardBytes int64
}

// Validate reports a negative setting, or a MaxPollInterval below
// PollInterval.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxIdlePerHost", int64(c.MaxIdlePerHost)},
		{"RequestTimeout", int64(c.RequestTimeout)},
		{"PollInterval", int64(c.PollInterval)},
		{"MaxPollInterval", int64(c.MaxPollInterval)},
		{"MaxPollErrors", int64(c.MaxPollErrors)},
		{"MaxClients", int64(c.MaxClients)},
		{"MaxResponseBytes", c.MaxResponseBytes},
		{"MaxCardBytes", c.MaxCardBytes},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is negative (%d)", ErrInvalidConfig, f.name, f.v)
		}
	}
	d := c.withDefaults()
	if d.MaxPollInterval < d.PollInterval {
		return fmt.Errorf("%w: MaxPollInterval %s is below PollInterval %s", ErrInvalidConfig, d.MaxPollInterval, d.PollInterval)
	}
	return nil
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxIdlePerHost, DefaultMaxIdlePerHost)
	defD(&c.RequestTimeout, DefaultRequestTimeout)
	defD(&c.PollInterval, DefaultPollInterval)
	if c.MaxPollInterval == 0 {
		c.MaxPollInterval = max(DefaultMaxPollInterval, c.PollInterval)
	}
	def(&c.MaxPollErrors, DefaultMaxPollErrors)
	def(&c.MaxClients, DefaultMaxClients)
	def64(&c.MaxResponseBytes, DefaultMaxResponseBytes)
	def64(&c.MaxCardBytes, DefaultMaxCardBytes)
	return c
}
