package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/internal/demo"
)

// demoConfig is what choreo demo is told on its command line.
type demoConfig struct {
	orders   int
	rate     float64
	data     string // "" means a temporary directory
	addr     string
	keep     bool
	quiet    bool
	seed     uint64
	seedSet  bool
	timeout  time.Duration
	workTime time.Duration // 0: none
	color    bool
}

// runDemo runs the demo: a server, simulated agents, and orders flowing
// through the example choreography.
func runDemo(ctx context.Context, args []string, stdio stdio) int {
	cfg := demoConfig{workTime: demo.DefaultWorkTime}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stdio.err)
	fs.IntVar(&cfg.orders, "orders", demo.DefaultOrders, "how many `orders` to publish")
	fs.Float64Var(&cfg.rate, "rate", demo.DefaultRate, "orders to publish per `second`")
	fs.StringVar(&cfg.data, "data", "", "the log's data `directory`, new or empty; default: a temporary one, removed at the end unless --keep")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:7070", "the HTTP API's listen `address`; port 0 picks a free port")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the server and its agents running after the summary, until interrupted")
	fs.BoolVar(&cfg.quiet, "quiet", false, "print only the summary, not the flow")
	fs.Uint64Var(&cfg.seed, "seed", 0, "the `seed` the orders are drawn from; the same seed gives the same orders and outcomes (default: random, printed)")
	fs.DurationVar(&cfg.timeout, "timeout", demo.DefaultTimeout, "how long to wait, after the last order is published, for every order to end")
	fs.DurationVar(&cfg.workTime, "work-time", demo.DefaultWorkTime, "how long a simulated agent works on an action, on average; 0 for no delay")
	fs.Usage = func() {
		fmt.Fprintln(stdio.err, `usage: choreo demo [--orders N] [--rate R] [--seed S] [--data DIR] [--addr HOST:PORT] [--keep] [--quiet]

Runs the e-commerce choreography end to end with nothing to set up: a choreo
server in this process, nine simulated agents on loopback ports (seven
webhooks, two A2A agents registered by their agent card) that register,
send heartbeats and answer actions with the next events, and N orders
published at R per second. Some orders are high-value, short of stock, or
paid with a card that is declined. The flow is printed as it happens,
then the server's figures. The exit status is 0 once every order has
ended, 1 if some had not when the timeout ran out.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	fs.Visit(func(f *flag.Flag) { cfg.seedSet = cfg.seedSet || f.Name == "seed" })
	if cfg.orders < 1 || cfg.orders > demo.MaxOrders {
		fmt.Fprintf(stdio.err, "choreo demo: --orders must be within 1 and %d, got %d\n", demo.MaxOrders, cfg.orders)
		return 2
	}
	if !(cfg.rate > 0 && cfg.rate <= demo.MaxRate) {
		fmt.Fprintf(stdio.err, "choreo demo: --rate must be above 0 and at most %g, got %g\n", demo.MaxRate, cfg.rate)
		return 2
	}
	if cfg.timeout <= 0 || cfg.workTime < 0 {
		fmt.Fprintln(stdio.err, "choreo demo: --timeout must be positive and --work-time not negative")
		return 2
	}
	cfg.color = colorTerminal(stdio.out)
	_, err := playDemo(ctx, cfg, stdio)
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintln(stdio.err, "choreo demo: interrupted")
		return 1
	default:
		fmt.Fprintf(stdio.err, "choreo demo: %v\n", err)
		return 1
	}
}

// playDemo runs the demo cfg describes and returns its report. With
// cfg.keep it returns only once ctx ends.
func playDemo(ctx context.Context, cfg demoConfig, stdio stdio) (*demo.Report, error) {
	if !cfg.seedSet {
		cfg.seed = rand.Uint64() % 1_000_000
	}

	// The log: a new directory, so that the demo's orders are all there is.
	// A temporary one is removed at the end, unless the server was kept
	// running on it.
	data, dataNote := cfg.data, "kept after the demo"
	kept := false
	if data == "" {
		tmp, err := os.MkdirTemp("", "choreo-demo-")
		if err != nil {
			return nil, err
		}
		data = filepath.Join(tmp, "log")
		if !cfg.keep {
			dataNote = "removed at the end"
		}
		defer func() {
			if !kept {
				os.RemoveAll(tmp)
			}
		}()
	} else if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("--data %s is not empty: the demo starts a new log", data)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	chPath, chNote, cleanup, err := demoChoreography()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ch, err := choreography.LoadFile(chPath)
	if err != nil {
		return nil, withFile(err, chPath)
	}
	if rules := demo.Uncovered(ch); len(rules) > 0 {
		fmt.Fprintf(stdio.err, "choreo demo: no demo agent offers the capability of rules %s; their actions will end in the dead-letter queue\n", strings.Join(rules, ", "))
	}

	// The key the server signs webhook deliveries with, and the agents
	// check: the server takes the flag's text as the key.
	key := make([]byte, 32)
	if _, err := cryptorand.Read(key); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(key)

	// The server, in this process. It stops only after the agents have
	// unregistered, so its context is not ctx.
	srvCtx, stopServer := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(stdio.err, &slog.HandlerOptions{Level: slog.LevelError}))
	go func() {
		served <- serve(srvCtx, serveConfig{
			data: data, addr: cfg.addr, choreographies: []string{chPath},
			secret: secret, logLevel: slog.LevelError, shutdown: 5 * time.Second,
		}, log, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-served:
		stopServer()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("starting the server: %w (--addr 127.0.0.1:0 picks a free port)", err)
		}
		return nil, fmt.Errorf("starting the server: %w", err)
	case <-ctx.Done():
		stopServer()
		<-served
		return nil, ctx.Err()
	}
	defer func() {
		stopServer()
		if err := <-served; err != nil {
			fmt.Fprintf(stdio.err, "choreo demo: server: %v\n", err)
		}
	}()
	base := "http://" + dialable(addr)

	out := stdio.out
	bold := func(s string) string {
		if cfg.color {
			return "\x1b[1m" + s + "\x1b[0m"
		}
		return s
	}
	fmt.Fprintf(out, "%s\n", bold("choreo demo: a shop's agents and the e-commerce choreography, on a real choreo server"))
	fmt.Fprintf(out, "  %-13s %s\n", "server", base)
	fmt.Fprintf(out, "  %-13s %s (%s)\n", "log", data, dataNote)
	fmt.Fprintf(out, "  %-13s %s\n", "choreography", chNote)
	fmt.Fprintf(out, "  %-13s %d at %g/s, seed %d (--seed %d replays the same orders)\n", "orders", cfg.orders, cfg.rate, cfg.seed, cfg.seed)

	work := cfg.workTime
	if work == 0 {
		work = -1 // demo.Config: negative means none
	}
	d, err := demo.Start(ctx, demo.Config{
		BaseURL: base, Orders: cfg.orders, Rate: cfg.rate, Seed: cfg.seed, Timeout: cfg.timeout,
		WorkTime: work, WebhookSecret: []byte(secret), Out: out, Color: cfg.color, Quiet: cfg.quiet,
	})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rep, err := d.Run(ctx)
	if cfg.keep && (err == nil || errors.Is(err, demo.ErrUnfinished)) {
		kept = true
		writeHints(out, base, data)
		<-ctx.Done()
		fmt.Fprintln(out, "\n  stopping the agents and the server")
		return rep, err // nil, or the orders that did not end
	}
	return rep, err
}

// demoChoreography returns the choreography file to run: the repository's
// example when the working directory holds it, else the demo's built-in
// copy written to a temporary file, which cleanup removes.
func demoChoreography() (path, note string, cleanup func(), err error) {
	if st, err := os.Stat(demo.ChoreographyPath); err == nil && st.Mode().IsRegular() {
		return demo.ChoreographyPath, demo.ChoreographyPath, func() {}, nil
	}
	f, err := os.CreateTemp("", "choreo-demo-*.yaml")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.Remove(f.Name()) }
	if _, err := f.Write(demo.Choreography()); err != nil {
		f.Close()
		cleanup()
		return "", "", nil, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return f.Name(), "the built-in copy of " + demo.ChoreographyPath, cleanup, nil
}

// dialable turns a listen address into one to connect to: an unspecified
// host (":7070", "0.0.0.0:7070", "[::]:7070") becomes the loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// colorTerminal reports whether w is a terminal that takes colours, and
// the user has not asked for none (NO_COLOR, TERM=dumb).
func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeHints tells how to explore the server the demo leaves running.
func writeHints(w io.Writer, base, data string) {
	fmt.Fprintf(w, `  The server and its agents keep running until you press Ctrl-C. Explore
  them from another terminal with the CLI:

    export CHOREO_SERVER=%[1]s
    choreo agents list
    choreo get --correlation order-0001
    choreo actions --correlation order-0001
    choreo metrics
    choreo dlq list
    choreo tail --type order_cancelled

  or with the HTTP API:

    curl -s %[1]s/v1/correlations/order-0001
    curl -s %[1]s/v1/metrics

  Publish an order of your own; the agents take it through the choreography:

    choreo publish --type order_received --source shop --correlation order-9001 \
      --data '{"order_id":"order-9001","customer_id":"you","order_value":1250,"items":2}'

  The log stays in %[2]s; later, this serves it again:

    choreo serve --data %[2]s --choreography %[3]s
`, base, data, demo.ChoreographyPath)
}
