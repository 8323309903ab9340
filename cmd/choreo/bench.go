package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/internal/loadgen"
)

// benchConfig is what choreo bench is told on its command line.
type benchConfig struct {
	gen       loadgen.Config
	server    string
	embedded  bool
	gcPercent int // for the embedded server
	output    string
	dataDir   string
	secret    string
	cpuprof   string
	memprof   string
	trace     string
	printChor bool
}

// runBench runs the load generator against a server, embedded or remote,
// and prints its report.
func runBench(ctx context.Context, args []string, stdio stdio) int {
	var cfg benchConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stdio.err)
	fs.StringVar(&cfg.server, "server", os.Getenv("CHOREO_SERVER"), "the `URL` of a running server (env CHOREO_SERVER); empty: --embedded")
	fs.BoolVar(&cfg.embedded, "embedded", false, "start a server in this process, on a durable log in a temporary directory")
	fs.Float64Var(&cfg.gen.Rate, "rate", 0, "offer `N` events per second, open loop; 0: flat out, closed loop")
	fs.DurationVar(&cfg.gen.Duration, "duration", loadgen.DefaultDuration, "how long to publish (unless --events is given alone)")
	fs.Int64Var(&cfg.gen.Events, "events", 0, "stop after publishing `N` events (with --duration too: whichever comes first)")
	fs.IntVar(&cfg.gen.Batch, "batch", loadgen.DefaultBatch, fmt.Sprintf("events per request, 1 to %d; 1 sends single events", loadgen.MaxBatch))
	fs.IntVar(&cfg.gen.Connections, "connections", loadgen.DefaultConnections, "connections publishing at once")
	fs.IntVar(&cfg.gen.DataSize, "data-size", loadgen.DefaultDataSize, "about how many `bytes` of JSON data each event carries")
	fs.BoolVar(&cfg.gen.Dispatch, "dispatch", false, "also measure event-to-dispatch latency through the bench's own webhook agent")
	fs.DurationVar(&cfg.gen.Grace, "grace", loadgen.DefaultGrace, "with --dispatch, how long to wait for the last actions once publishing ends")
	fs.DurationVar(&cfg.gen.Timeout, "timeout", loadgen.DefaultTimeout, "bound on each request")
	fs.StringVar(&cfg.gen.SinkAddr, "agent-addr", "127.0.0.1:0", "with --dispatch, the `address` the bench's agent listens on")
	fs.StringVar(&cfg.gen.SinkURL, "agent-url", "", "with --dispatch, the `URL` the server is to deliver to; empty: http:// and the agent's address")
	fs.StringVar(&cfg.secret, "webhook-secret", os.Getenv("CHOREO_WEBHOOK_SECRET"), "the `key` the server signs webhook deliveries with (env CHOREO_WEBHOOK_SECRET); empty: unsigned")
	fs.StringVar(&cfg.output, "output", "text", "report `format`: text or json")
	fs.StringVar(&cfg.dataDir, "data", "", "with --embedded, the `directory` to make the temporary log in; empty: the system's temporary directory")
	gcFlag(fs, &cfg.gcPercent)
	fs.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a CPU profile of this process (with --embedded, server included) to `file`")
	fs.StringVar(&cfg.memprof, "memprofile", "", "write a heap profile of this process (with --embedded, server included) to `file` at the end of the run: allocations over the run and what is still in use")
	fs.StringVar(&cfg.trace, "trace", "", "write an execution trace of this process (with --embedded, server included) to `file`, for go tool trace")
	fs.BoolVar(&cfg.printChor, "print-choreography", false, "print the choreography --dispatch needs, and exit")
	fs.Usage = func() {
		fmt.Fprintln(stdio.err, `usage: choreo bench [--server URL | --embedded] [--rate N] [--duration D | --events N]
                    [--batch N] [--connections N] [--data-size N] [--dispatch] [--output text|json]

Publishes events to a choreo server over its HTTP API and reports events/s
accepted and the latency of publishing, p50, p95, p99 and max. An event
counts as accepted only when its request is answered 201, once it is durable.

With --rate 0 (the default) each connection sends its next request as soon
as the last is answered (closed loop, flat out). With --rate N requests are
scheduled at fixed times for N events/s (open loop) and their latency runs
from the scheduled time, so time spent queued behind a slow server counts
(no coordinated omission).

--embedded, the default when neither --server nor CHOREO_SERVER is given,
starts a server in this process on a durable log (fsync on) in a temporary
directory, removed afterwards.

--dispatch measures the time from an event's send to an agent receiving the
action it causes: the bench serves a webhook agent with capability
bench_sink, registers it, and waits --grace for the actions of every
accepted event. The server must run the bench's choreography, named
choreo-bench: --embedded starts with it, and against a server you started
the bench deploys it (PUT /v1/choreographies/choreo-bench) unless that
version is already there, and removes it again after the run if it was
the one to deploy it. --print-choreography prints it, to deploy by hand:

  choreo bench --print-choreography > bench.yaml
  choreo choreography deploy bench.yaml
  choreo bench --server http://127.0.0.1:7070 --dispatch --rate 5000

The exit status is 0 when every event was accepted (and with --dispatch,
every action arrived), 1 when not or when the run could not start, 2 for
bad flags.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stdio.err, "choreo bench: %s\n", msg)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if cfg.printChor {
		fmt.Fprint(stdio.out, loadgen.Choreography("", ""))
		return 0
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if cfg.embedded && explicit["server"] {
		return usageErr("--server and --embedded exclude each other")
	}
	if cfg.gen.Events > 0 && !explicit["duration"] {
		cfg.gen.Duration = 0 // --events alone sets the end
	}
	if cfg.output != "text" && cfg.output != "json" {
		return usageErr(fmt.Sprintf("--output must be text or json, got %q", cfg.output))
	}
	if cfg.gen.Batch < 1 {
		return usageErr(fmt.Sprintf("--batch must be from 1 to %d, got %d", loadgen.MaxBatch, cfg.gen.Batch))
	}
	if cfg.gen.Connections < 1 {
		return usageErr(fmt.Sprintf("--connections must be at least 1, got %d", cfg.gen.Connections))
	}
	if cfg.gen.Duration == 0 && cfg.gen.Events == 0 {
		return usageErr("give a --duration or a number of --events")
	}
	cfg.embedded = cfg.embedded || cfg.server == ""
	if cfg.embedded {
		// The embedded server runs as choreo serve would.
		if err := setGC(fs, cfg.gcPercent); err != nil {
			return usageErr(err.Error())
		}
	}
	cfg.gen.Secret = []byte(cfg.secret)
	cfg.gen.URL = cfg.server
	if cfg.embedded {
		cfg.gen.URL = "http://embedded" // checked now, replaced once the server listens
	}
	if err := cfg.gen.Validate(); err != nil {
		return usageErr(err.Error())
	}

	if err := bench(ctx, cfg, stdio); err != nil {
		if !errors.Is(err, errBenchNotOK) {
			fmt.Fprintf(stdio.err, "choreo bench: %v\n", err)
		}
		return 1
	}
	return 0
}

// errBenchNotOK is returned by bench for a run that was reported but did
// not go as it should (see loadgen.Report.OK).
var errBenchNotOK = errors.New("the run had failures")

// bench runs the generator, with an embedded server when asked, and prints
// the report.
func bench(ctx context.Context, cfg benchConfig, stdio stdio) (err error) {
	if cfg.embedded {
		stop, err := startEmbedded(ctx, &cfg, stdio)
		if err != nil {
			return err
		}
		defer func() {
			if serr := stop(); serr != nil && err == nil {
				err = fmt.Errorf("embedded server: %w", serr)
			}
		}()
	}
	if cfg.gen.Dispatch && !cfg.embedded {
		undeploy, err := deployBenchChoreography(ctx, cfg, stdio)
		if err != nil {
			return err
		}
		defer undeploy()
	}
	if cfg.cpuprof != "" {
		f, err := os.Create(cfg.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.trace != "" {
		f, err := os.Create(cfg.trace)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	if cfg.memprof != "" {
		f, err := os.Create(cfg.memprof)
		if err != nil {
			return err
		}
		defer f.Close()
		runtime.MemProfileRate = 64 << 10
		defer func() {
			runtime.GC() // the profile's in-use figures are as of the last GC
			if werr := pprof.Lookup("heap").WriteTo(f, 0); werr != nil && err == nil {
				err = werr
			}
		}()
	}
	rep, err := loadgen.Run(ctx, cfg.gen)
	if rep == nil {
		return err
	}
	if cfg.output == "json" {
		enc := json.NewEncoder(stdio.out)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(rep); werr != nil {
			return werr
		}
	} else if werr := rep.WriteText(stdio.out); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return errBenchNotOK
	}
	return nil
}

// benchChoreography is the name of the choreography of --dispatch.
const benchChoreography = "choreo-bench"

// deployBenchChoreography deploys the choreography --dispatch needs on the
// server, unless the server already runs that very version. undeploy
// removes it again when this call was the one to deploy it.
func deployBenchChoreography(ctx context.Context, cfg benchConfig, stdio stdio) (undeploy func(), err error) {
	var opts []client.Option
	for k, v := range cfg.gen.Header {
		opts = append(opts, client.WithHeader(k, v))
	}
	cl, err := client.New(cfg.gen.URL, opts...)
	if err != nil {
		return nil, err
	}
	src := loadgen.Choreography(cfg.gen.EventType, cfg.gen.Capability)
	d, fresh, err := cl.Deploy(ctx, benchChoreography, []byte(src), "application/yaml")
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("deploying the bench's choreography %s: %w", benchChoreography, err)
	}
	if !fresh {
		cl.Close()
		return func() {}, nil
	}
	fmt.Fprintf(stdio.err, "choreo bench: deployed %s version %d for this run\n", benchChoreography, d.Version)
	return func() {
		defer cl.Close()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := cl.RemoveChoreography(rctx, benchChoreography); err != nil {
			fmt.Fprintf(stdio.err, "choreo bench: removing %s after the run: %v\n", benchChoreography, err)
		}
	}, nil
}

// startEmbedded starts choreo serve in this process on a durable log in
// a new temporary directory, with the bench's choreography when cfg asks
// for dispatch, and points cfg at it. stop shuts the server down and
// removes the directory.
func startEmbedded(ctx context.Context, cfg *benchConfig, stdio stdio) (stop func() error, err error) {
	dir, err := os.MkdirTemp(cfg.dataDir, "choreo-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	scfg := serveConfig{
		data:     filepath.Join(dir, "data"),
		addr:     "127.0.0.1:0",
		secret:   cfg.secret,
		logLevel: slog.LevelWarn,
		shutdown: 10 * time.Second,
	}
	if cfg.gen.Dispatch {
		file := filepath.Join(dir, "bench.yaml")
		if err := os.WriteFile(file, []byte(loadgen.Choreography(cfg.gen.EventType, cfg.gen.Capability)), 0o600); err != nil {
			return nil, err
		}
		scfg.choreographies = []string{file}
	}
	log := slog.New(slog.NewTextHandler(stdio.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(sctx, scfg, log, ready) }()
	select {
	case addr := <-ready:
		cfg.gen.URL = "http://" + addr
		cfg.gen.Label = "embedded server, durable log, fsync on"
		cfg.gen.ServerInProcess = true
		return func() error {
			cancel()
			err := <-done
			if rerr := os.RemoveAll(dir); err == nil {
				err = rerr
			}
			return err
		}, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("embedded server stopped before it listened")
		}
		return nil, fmt.Errorf("embedded server: %w", err)
	}
}
