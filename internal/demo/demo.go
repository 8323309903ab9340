package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Defaults and limits of Config.
const (
	DefaultOrders    = 20
	DefaultRate      = 5.0 // orders per second
	DefaultTimeout   = time.Minute
	DefaultWorkTime  = 40 * time.Millisecond
	DefaultHeartbeat = 15 * time.Second

	MaxOrders = 10_000
	MaxRate   = 1_000.0
)

// transitFactor is how many work times a parcel spends in transit.
const transitFactor = 5

// Config sets up a demo. The zero value of every field but BaseURL works.
type Config struct {
	// BaseURL is the choreo server's API, e.g. "http://127.0.0.1:7070".
	// It must run examples/ecommerce.yaml and reach 127.0.0.1, where the
	// agents listen. Required.
	BaseURL string

	// Orders is how many orders to publish, at most MaxOrders. Zero means
	// DefaultOrders (20).
	Orders int
	// Rate is how many orders to publish per second, at most MaxRate.
	// Zero means DefaultRate (5).
	Rate float64
	// Seed draws the orders: the same seed gives the same orders, and the
	// same outcome for each.
	Seed uint64
	// Timeout is how long Run waits, after the last order is published,
	// for every order to end. Zero means DefaultTimeout (1 minute).
	Timeout time.Duration
	// WorkTime is how long a simulated agent works on an action, on
	// average; a parcel is in transit five times as long. Zero means
	// DefaultWorkTime (40 ms); negative means no waiting at all.
	WorkTime time.Duration
	// Heartbeat is how often the agents report to the registry. Zero
	// means DefaultHeartbeat (15 s), well within the registry's 90-second
	// liveness window.
	Heartbeat time.Duration

	// WebhookSecret is the key the server signs webhook deliveries with;
	// the webhook agents check it. Empty means unsigned deliveries.
	WebhookSecret []byte

	// Out receives the live flow and the summary. Nil means io.Discard.
	Out io.Writer
	// Color writes ANSI colours: set it only when Out is a terminal.
	Color bool
	// Quiet leaves out the live flow: only the summary is written.
	Quiet bool
}

// Validate reports a missing or malformed BaseURL and settings out of
// range, as errors matching ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return bad("BaseURL is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("BaseURL %q is not an http or https URL", c.BaseURL)
	case c.Orders < 0 || c.Orders > MaxOrders:
		return bad("orders must be within 1 and %d, got %d", MaxOrders, c.Orders)
	case math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxRate:
		return bad("rate must be above 0 and at most %g orders per second, got %g", MaxRate, c.Rate)
	case c.Timeout < 0:
		return bad("timeout must not be negative, got %s", c.Timeout)
	case c.Heartbeat < 0:
		return bad("heartbeat interval must not be negative, got %s", c.Heartbeat)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Orders == 0 {
		c.Orders = DefaultOrders
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.WorkTime == 0 {
		c.WorkTime = DefaultWorkTime
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return c
}

// Demo is a running demo: the simulated agents, registered with a choreo
// server, and a follower of its log. Start makes one, Run drives the
// orders through it, Close stops it.
type Demo struct {
	cfg     Config
	plan    *Plan
	world   *world
	agents  []*simAgent
	cl      *client.Client
	out     *printer
	tracker *tracker
	start   time.Time

	stop    context.CancelFunc // ends the background goroutines
	bg      sync.WaitGroup     // follower, heartbeats, carrier
	servers sync.WaitGroup     // the agents' HTTP servers

	followDone chan struct{}
	followErr  error // set before followDone closes

	ran       atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
}

// Start starts the simulated agents on random loopback ports, begins to
// follow the server's log (printing the flow unless Config.Quiet), and
// registers the agents with the server: webhook agents with their
// profile, A2A agents by the URL of their card. The agents report in every
// Config.Heartbeat until Close.
func Start(ctx context.Context, cfg Config) (*Demo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cl, err := client.New(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	plan := NewPlan(cfg.Seed, cfg.Orders)
	w := &world{plan: plan, workTime: max(cfg.WorkTime, 0), receipts: &receipts{}}
	d := &Demo{
		cfg: cfg, plan: plan, world: w, agents: newAgents(w),
		cl:         cl,
		out:        &printer{w: cfg.Out, color: cfg.Color},
		start:      time.Now(),
		followDone: make(chan struct{}),
	}
	var out *printer
	if !cfg.Quiet {
		out = d.out
	}
	d.tracker = newTracker(plan, out, d.start, d.label)
	bg, stop := context.WithCancel(context.Background())
	d.stop = stop

	fail := func(err error) (*Demo, error) {
		d.Close()
		return nil, err
	}
	for _, a := range d.agents {
		if err := a.start(w, cfg.WebhookSecret, &d.servers); err != nil {
			return fail(err)
		}
	}
	from, err := d.logEnd(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading the log: %w", err))
	}
	if !cfg.Quiet {
		d.out.printf("\n  %s\n", d.out.style(ansiBold, fmt.Sprintf("%-*s%-*s %-*s %-*s %s",
			colTime, "time", colCorr, "order", colWhat, "what", colDetail, "detail", "who")))
	}
	d.bg.Go(func() {
		d.followErr = d.tracker.follow(bg, cl, from)
		close(d.followDone)
	})
	for _, a := range d.agents {
		if err := d.register(ctx, a); err != nil {
			return fail(err)
		}
	}
	d.bg.Go(func() { d.heartbeats(bg) })
	d.bg.Go(func() { d.carrier(bg, from) })
	return d, nil
}

// logEnd returns the global position after the last record of the log,
// so that the demo follows only what it causes.
func (d *Demo) logEnd(ctx context.Context) (uint64, error) {
	var from uint64
	for {
		recs, next, err := d.cl.ReadAll(ctx, from, 1000)
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			return from, nil
		}
		from = next
	}
}

// register registers a with the server.
func (d *Demo) register(ctx context.Context, a *simAgent) error {
	var p client.Agent
	var err error
	if a.protocol == agent.ProtocolA2A {
		p, err = d.cl.RegisterCard(ctx, a.base)
	} else {
		p, err = d.cl.RegisterAgent(ctx, a.profile())
	}
	if err != nil {
		return fmt.Errorf("registering agent %s: %w", a.id, err)
	}
	a.regID.Store(&p.ID)
	return nil
}

// label names an agent by its registry id: the demo's short name for its
// own agents, the id itself for others.
func (d *Demo) label(id string) string {
	for _, a := range d.agents {
		if id == a.id || id == a.base || id == a.registeredID() {
			return a.id
		}
	}
	return id
}

// heartbeats reports every agent alive every Config.Heartbeat, with its
// load, until ctx ends. An agent the registry no longer knows registers
// again.
func (d *Demo) heartbeats(ctx context.Context) {
	t := time.NewTicker(d.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, a := range d.agents {
			id := a.registeredID()
			if id == "" {
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			load := a.load()
			_, err := d.cl.Heartbeat(hctx, id, agent.Heartbeat{Load: &load})
			if errors.Is(err, store.ErrNotFound) {
				_ = d.register(hctx, a) // tried again at the next beat if it fails
			}
			cancel()
		}
	}
}

// carrier plays the parcel carrier for the shipping agent: it follows the
// shipping_complete events in the log and, once a parcel's transit time
// has passed, publishes its delivery_confirmed event. Following the log
// rather than the shipping agent's own answers guarantees the delivery
// comes after the shipment in the log, as the choreography's sequence
// expects.
func (d *Demo) carrier(ctx context.Context, from uint64) {
	transit := transitFactor * d.world.workTime
	for rec, err := range d.cl.Subscribe(ctx, from, client.Filter{Types: []string{"shipping_complete"}}) {
		if err != nil {
			return
		}
		if wait := time.Until(rec.Recorded.Add(transit)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		o := d.world.order(rec.Event.CorrelationID)
		data, _ := json.Marshal(map[string]any{"order_id": o.ID, "carrier": "Parcelo", "signed_by": o.Customer})
		if o.Customer == "" {
			data, _ = json.Marshal(map[string]any{"order_id": o.ID, "carrier": "Parcelo", "signed_by": "the customer"})
		}
		e := &event.Event{
			SpecVersion: event.SpecVersion, ID: "delivered:" + rec.Event.ID, Source: "agents/shipping",
			Type: "delivery_confirmed", Time: time.Now().UTC(), DataContentType: "application/json", Data: data,
			CorrelationID: rec.Event.CorrelationID, CausationID: rec.Event.ID, Hops: rec.Event.Hops,
		}
		// The id derives from the shipment's, so a repeat is harmless.
		for try := 0; try < 3; try++ {
			if _, err := d.cl.Publish(ctx, e); err == nil || ctx.Err() != nil {
				break
			}
			t := time.NewTimer(200 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}

// Run publishes the planned orders at Config.Rate, waits until every one
// has ended (delivered, reviewed and closed; or cancelled) or
// Config.Timeout has passed since the last was published, writes the
// summary with the server's metrics, and returns the Report. If some
// orders did not end, the error matches ErrUnfinished and the Report is
// still returned. If ctx ends first, Run returns ctx.Err().
func (d *Demo) Run(ctx context.Context) (*Report, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if d.ran.Swap(true) {
		return nil, ErrRan
	}
	first := time.Now()
	interval := time.Duration(float64(time.Second) / d.cfg.Rate)
	for i := range d.plan.Orders {
		if wait := time.Until(first.Add(time.Duration(i) * interval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		if err := d.publish(ctx, &d.plan.Orders[i]); err != nil {
			return nil, err
		}
	}

	t := time.NewTimer(d.cfg.Timeout)
	defer t.Stop()
	timedOut := false
	select {
	case <-d.tracker.allEnded:
	case <-t.C:
		timedOut = true
	case <-d.followDone:
		if d.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("following the log: %w", d.followErr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m, err := d.settledMetrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the metrics: %w", err)
	}
	rep := d.report(first, m, timedOut)
	d.writeSummary(rep)
	if rep.Unfinished > 0 {
		return rep, fmt.Errorf("%w: %d of %d orders unfinished after %s", ErrUnfinished, rep.Unfinished, len(rep.Orders), d.cfg.Timeout)
	}
	return rep, nil
}

// publish appends o's order_received event to a new stream named by the
// order id: an order id already in the log is an error, not a mix-up.
func (d *Demo) publish(ctx context.Context, o *Order) error {
	data, err := json.Marshal(map[string]any{
		"order_id": o.ID, "customer_id": o.Customer, "order_value": o.Value, "currency": "USD",
		"items": o.Items(), "lines": o.Lines,
	})
	if err != nil {
		return err
	}
	_, err = d.cl.Publish(ctx, &event.Event{
		SpecVersion: event.SpecVersion, Source: "shop", Type: "order_received", Time: time.Now().UTC(),
		DataContentType: "application/json", Data: data, CorrelationID: o.ID,
	}, client.WithExpectedVersion(store.NoStream))
	if errors.Is(err, store.ErrWrongVersion) {
		return fmt.Errorf("publishing order %s: the log already has a stream %s; run the demo on a new log", o.ID, o.ID)
	}
	if err != nil {
		return fmt.Errorf("publishing order %s: %w", o.ID, err)
	}
	return nil
}

// settledMetrics reads the server's metrics once it has nothing left to
// decide or deliver, or after a short wait: the records the tracker saw
// may be a moment ahead of the counters.
func (d *Demo) settledMetrics(ctx context.Context) (*ServerMetrics, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		m, err := serverMetrics(ctx, d.cl)
		if err != nil || m.idle() || time.Now().After(deadline) {
			return m, err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// BaseURL returns the API the demo talks to.
func (d *Demo) BaseURL() string { return d.cfg.BaseURL }

// Plan returns the demo's orders.
func (d *Demo) Plan() *Plan { return d.plan }

// Close stops the demo: it stops following the log and sending
// heartbeats, unregisters the agents (best effort, within a few seconds:
// the server may be gone) and shuts their servers down. It waits for every
// goroutine the demo started. Close is idempotent and always returns nil.
func (d *Demo) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		if d.stop != nil {
			d.stop()
		}
		d.bg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, a := range d.agents {
			if id := a.registeredID(); id != "" {
				_ = d.cl.UnregisterAgent(ctx, id) // best effort: the server may be gone
			}
		}
		for _, a := range d.agents {
			a.stop(ctx)
		}
		d.servers.Wait()
		d.cl.Close()
	})
	return nil
}
