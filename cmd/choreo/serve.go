package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/server"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/view"
)

// serveConfig is what choreo serve is told on its command line.
type serveConfig struct {
	data           string
	addr           string
	choreographies []string
	secret         string
	noSync         bool
	logLevel       slog.Level
	shutdown       time.Duration
	publicURL      string
	gcPercent      int
	// readTimeout bounds how long a request, headers and body, may take
	// to arrive; zero means defaultReadTimeout.
	readTimeout time.Duration
	// idleTimeout bounds how long a kept-alive connection may wait for
	// its next request; zero means defaultIdleTimeout.
	idleTimeout time.Duration
}

// Defaults of the HTTP server's timeouts.
const (
	// headerTimeout bounds how long a request's headers may take.
	headerTimeout = 10 * time.Second
	// defaultReadTimeout bounds how long a whole request may take to
	// arrive: 8 MiB, the API's largest body, at under 300 KB/s.
	defaultReadTimeout = 30 * time.Second
	// defaultIdleTimeout bounds how long a connection may stay open
	// between requests.
	defaultIdleTimeout = 2 * time.Minute
)

// defaultGCPercent is the garbage collector's target (GOGC) for a server
// whose environment sets none. At 5,000 events/s a server at GOGC=400
// rather than Go's 100 held about 120 MB more, and cut the 99th
// percentile from an event's publish to its action reaching an agent by
// a third (see docs/operations.md): fewer collections, fewer requests
// caught by one. GOMEMLIMIT still bounds the heap when set.
const defaultGCPercent = 400

// gcFlag registers --gc-percent on fs.
func gcFlag(fs *flag.FlagSet, percent *int) {
	fs.IntVar(percent, "gc-percent", defaultGCPercent, "the garbage collector's target `percent`, as GOGC (-1: off); a GOGC in the environment overrides the default")
}

// setGC applies --gc-percent: explicitly given, or when GOGC is not set.
// It returns an error for a value the collector does not take.
func setGC(fs *flag.FlagSet, percent int) error {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "gc-percent" })
	if percent < -1 {
		return fmt.Errorf("--gc-percent must be -1 (off) or at least 0, got %d", percent)
	}
	if explicit || os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	return nil
}

// gcWhileCatchingUp holds the collector's target at 100% at most while
// the server catches up with the log as it was at start (head): the
// engines fold it all and the dispatcher rebuilds its state, the live
// heap is then at its largest, and the steady-state target of 400% of it
// would be several times what the server needs afterwards. caughtUp
// reports the end; the target set before is restored then.
func gcWhileCatchingUp(ctx context.Context, log *slog.Logger, head uint64, caughtUp func() bool) {
	target := debug.SetGCPercent(100)
	if target <= 100 || head == 0 {
		debug.SetGCPercent(target)
		return
	}
	defer debug.SetGCPercent(target)
	started := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.NewTimer(maxCatchUpGC)
	defer giveUp.Stop()
	for !caughtUp() {
		select {
		case <-ctx.Done():
			return
		case <-giveUp.C:
			log.Warn("still catching up with the log; the collector goes to its target anyway", "records", head, "after", maxCatchUpGC, "gogc", target)
			return
		case <-tick.C:
		}
	}
	log.Info("caught up with the log", "records", head, "took", time.Since(started).Round(time.Millisecond), "gogc", target)
}

// maxCatchUpGC bounds how long gcWhileCatchingUp holds the collector back:
// a component stuck on a failing store must not keep it there for good.
var maxCatchUpGC = 10 * time.Minute

// gcSetting describes the collector's target for the log.
func gcSetting() string {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	if p < 0 {
		return "off"
	}
	return strconv.Itoa(p)
}

// runServe runs the server: the log, the engine, the registry, the
// dispatcher and the HTTP API, until a signal.
func runServe(ctx context.Context, args []string, stdio stdio) int {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stdio.err)
	fs.StringVar(&cfg.data, "data", "./choreo-data", "the log's data `directory`; created if missing")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:7070", "the HTTP API's listen `address`")
	fs.Func("choreography", "a choreography `file` (YAML or JSON) to run, deployed unless unchanged; repeatable, one file per name", func(s string) error {
		cfg.choreographies = append(cfg.choreographies, s)
		return nil
	})
	fs.StringVar(&cfg.secret, "webhook-secret", os.Getenv("CHOREO_WEBHOOK_SECRET"), "HMAC `key` signing webhook deliveries (env CHOREO_WEBHOOK_SECRET); empty: unsigned")
	fs.BoolVar(&cfg.noSync, "no-sync", false, "acknowledge appends before they are on disk (faster; a crash may lose the last ones)")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn, error")
	fs.StringVar(&cfg.publicURL, "public-url", "", "the `URL` clients reach the API at, for choreo's A2A agent card; empty: http://ADDR")
	fs.DurationVar(&cfg.shutdown, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for requests in progress")
	fs.DurationVar(&cfg.readTimeout, "read-timeout", defaultReadTimeout, "how long a request, headers and body, may take to arrive; a slower client's connection is closed")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", defaultIdleTimeout, "how long a kept-alive connection may wait for its next request")
	gcFlag(fs, &cfg.gcPercent)
	fs.Usage = func() {
		fmt.Fprintln(stdio.err, `usage: choreo serve [--data DIR] [--addr HOST:PORT] [--choreography FILE]...

Runs choreo as a service: the durable log in DIR, the engine deciding on
every event with the given choreographies, the agent registry, the
dispatcher delivering actions to agents over A2A, webhooks or in process,
and the HTTP API on ADDR. SIGINT or SIGTERM stops it gracefully: requests
in progress finish, every accepted event is on disk, and the next start
resumes where this one stopped.

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
	if err := setGC(fs, cfg.gcPercent); err != nil {
		fmt.Fprintf(stdio.err, "choreo serve: %v\n", err)
		return 2
	}
	for name, d := range map[string]time.Duration{"--read-timeout": cfg.readTimeout, "--idle-timeout": cfg.idleTimeout} {
		if d <= 0 {
			fmt.Fprintf(stdio.err, "choreo serve: %s must be positive, got %v\n", name, d)
			return 2
		}
	}
	log := slog.New(slog.NewTextHandler(stdio.err, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.secret == "" {
		log.Warn("webhook deliveries are not signed, so agents cannot tell them from a forger's: give --webhook-secret (or CHOREO_WEBHOOK_SECRET)")
	}
	if err := serve(ctx, cfg, log, nil); err != nil {
		printServeError(stdio, "serve", err)
		return 1
	}
	return 0
}

// printServeError prints an error of serve or ingest: with its code when
// it has one, as "choreo NAME: CODE: FIELD: MESSAGE".
func printServeError(io stdio, name string, err error) {
	var ce *cliError
	if errors.As(err, &ce) {
		printError(io, name, outputText, errorReport{Code: ce.Code, Message: ce.Msg, Field: ce.Field})
		return
	}
	fmt.Fprintf(io.err, "choreo %s: %v\n", name, err)
}

// openData opens the log in dir for a command that writes it, creating
// it if missing, and explains a directory another process holds.
func openData(dir string, opts *pebble.Options) (*pebble.Store, error) {
	st, err := pebble.Open(dir, opts)
	if err != nil {
		if isLocked(err) {
			return nil, &cliError{Code: codeLogLocked, Field: "--data", Msg: fmt.Sprintf(
				"the log in %s is in use by another process (a running choreo serve or ingest): stop it, or give another --data", dir)}
		}
		return nil, fmt.Errorf("opening the log in %s: %w", dir, err)
	}
	return st, nil
}

// serve runs until ctx ends. If ready is not nil it receives the API's
// address once it listens.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, ready chan<- string) error {
	// Check the files before touching the log: a typo fails fast, with
	// every problem listed.
	type doc struct {
		name string
		src  []byte
	}
	docs := make([]doc, 0, len(cfg.choreographies))
	files := map[string]string{} // the file of each name
	for _, f := range cfg.choreographies {
		ch, err := choreography.LoadFile(f)
		if err != nil {
			return withFile(err, f)
		}
		// A name runs one version at a time: two files of one name would
		// deploy one after the other, and again at every start.
		if prev, ok := files[ch.Name]; ok {
			return &cliError{Code: codeInvalidInput, Field: "--choreography", Msg: fmt.Sprintf(
				"%s and %s are both the choreography %q: give one file per name", prev, f, ch.Name)}
		}
		files[ch.Name] = f
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		docs = append(docs, doc{ch.Name, src})
	}
	st, err := openData(cfg.data, &pebble.Options{NoSync: cfg.noSync, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()

	// Choreographies are deployments in the log; a file given on the
	// command line is deployed unless that very version is current.
	deps, err := deploy.Open(ctx, st, deploy.Config{RunnerConfig: live.Config{Logger: log}, Logger: log})
	if err != nil {
		return err
	}
	defer deps.Close()
	for i, d := range docs {
		dep, changed, err := deps.Deploy(ctx, d.name, d.src)
		if err != nil {
			return withFile(err, cfg.choreographies[i])
		}
		if changed {
			log.Info("choreography deployed", "name", dep.Name, "version", dep.Version, "file", cfg.choreographies[i])
		}
	}
	reg, err := agent.Open(ctx, st, agent.Config{Resolver: a2a.ResolveCard, Logger: log})
	if err != nil {
		return err
	}
	wh, err := webhook.New(webhook.Config{Secret: []byte(cfg.secret)})
	if err != nil {
		return err
	}
	a2aT, err := a2a.New(a2a.Config{})
	if err != nil {
		return err
	}
	defer a2aT.Close()
	inproc := dispatch.NewInProcess()
	disp, err := dispatch.New(st, reg, map[string]dispatch.Transport{
		agent.ProtocolWebhook: wh, agent.ProtocolA2A: a2aT, agent.ProtocolInProcess: inproc,
	}, dispatch.Config{Logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	api, err := server.New(server.Config{Store: st, Logger: log})
	if err != nil {
		return err
	}
	public := cfg.publicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	// choreo is an A2A agent too: its card offers a skill for publishing
	// events, served with message/send at /a2a.
	if err := api.MountA2A(server.A2AConfig{BaseURL: public}); err != nil {
		return err
	}
	actions := view.NewActions(st, 0)
	started := time.Now()
	api.Mount(server.Services{
		Agents: reg, Dispatcher: disp, Actions: actions,
		Metrics: func() map[string]any {
			return metricsOf(deps.Metrics(), disp.Metrics(), actions.Counts(), reg.Len(), started)
		},
		Deployments: deps,
		Prometheus:  newPrometheus(&collector{deps: deps, disp: disp, actions: actions, reg: reg}),
	})

	// ReadTimeout bounds the arrival of a request: a client that
	// announces a body and sends less has its connection closed. The
	// server lifts the read deadline once the body has been read, so a
	// long response, such as the server-sent events of GET /v1/subscribe,
	// is not cut by it. No WriteTimeout: it would cut those.
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       cmp.Or(cfg.readTimeout, defaultReadTimeout),
		IdleTimeout:       cmp.Or(cfg.idleTimeout, defaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	gogc := gcSetting() // before gcWhileCatchingUp changes it for a while
	if head, err := st.Head(ctx); err == nil {
		wg.Go(func() {
			gcWhileCatchingUp(runCtx, log, head, func() bool {
				for _, m := range deps.Metrics() {
					if m.Runner.Position < head {
						return false
					}
				}
				select {
				case <-actions.Ready():
				default:
					return false
				}
				// Recovery reads the outbox and the dead letters to their
				// end, which is past head: it started after head was read.
				return disp.Recovered()
			})
		})
	}
	for name, run := range map[string]func(context.Context) error{
		"engine": deps.Run, "dispatcher": disp.Run, "registry": reg.Run, "actions view": actions.Run,
	} {
		wg.Go(func() {
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http: %w", err)
		}
	})
	log.Info("choreo serving", "addr", ln.Addr().String(), "data", cfg.data, "choreographies", len(deps.List()), "gogc", gogc)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	var failure error
	select {
	case <-ctx.Done():
		log.Info("choreo shutting down")
	case failure = <-errs:
		log.Error("choreo stopping", "err", failure)
	}
	// Stop taking requests and let those in progress finish: an event is
	// accepted only once durable, so none is lost. Then stop deciding and
	// delivering; both resume from the log on the next start.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer cancel()
	api.Close() // ends subscription streams, which never end by themselves
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	stop()
	wg.Wait()
	return failure
}

// metricsOf gathers the figures of GET /v1/metrics.
func metricsOf(deps []deploy.Metrics, dm dispatch.Metrics, actions map[string]int, agents int, started time.Time) map[string]any {
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	up := time.Since(started).Seconds()
	// The course's figures per rule: triggers from the engines, successes,
	// failures and response times from the dispatcher.
	type ruleKey struct{ choreography, rule string }
	rules := map[ruleKey]map[string]any{}
	var events, actionsDecided, appended int64
	var activeSeq, activeCorr int
	var completedSeq int64
	for _, d := range deps {
		events = max(events, d.Runner.EventsProcessed)
		appended += d.Runner.ActionsAppended
		actionsDecided += d.Engine.Actions
		if d.Current {
			activeSeq += d.Engine.ActiveSequences
			activeCorr += d.Engine.ActiveCorrelations
			completedSeq += d.Engine.CompletedSequences
		}
		for _, r := range d.Engine.Rules {
			k := ruleKey{d.Name, r.RuleID}
			m := rules[k]
			if m == nil {
				m = map[string]any{"choreography": d.Name, "rule_id": r.RuleID, "triggers": int64(0)}
				rules[k] = m
			}
			m["triggers"] = m["triggers"].(int64) + r.Triggers
			m["condition_errors"] = r.ConditionErrors
		}
	}
	for _, r := range dm.Rules {
		k := ruleKey{r.Choreography, r.RuleID}
		m := rules[k]
		if m == nil {
			m = map[string]any{"choreography": r.Choreography, "rule_id": r.RuleID, "triggers": int64(0)}
			rules[k] = m
		}
		m["action"] = r.Action
		m["successes"] = r.Delivered
		m["failures"] = r.DeadLettered
		m["failed_attempts"] = r.FailedAttempts
		m["average_response_ms"] = float64(r.AverageResponse().Microseconds()) / 1000
	}
	ruleList := make([]map[string]any, 0, len(rules))
	for _, m := range rules {
		ruleList = append(ruleList, m)
	}
	sort.Slice(ruleList, func(i, j int) bool {
		a, b := ruleList[i], ruleList[j]
		if a["choreography"] != b["choreography"] {
			return a["choreography"].(string) < b["choreography"].(string)
		}
		return a["rule_id"].(string) < b["rule_id"].(string)
	})
	return map[string]any{
		"engine": map[string]any{
			"events_processed": events, "actions_decided": actionsDecided, "actions_appended": appended,
			"active_sequences": activeSeq, "completed_sequences": completedSeq, "active_correlations": activeCorr,
			"deployments": deps,
		},
		"rules": ruleList,
		"dispatch": map[string]any{
			"taken": dm.Taken, "in_flight": dm.InFlight, "waiting_for_agent": dm.Waiting, "parked": dm.Parked,
			"attempts": dm.Attempts, "failed_attempts": dm.FailedAttempts, "delivered": dm.Delivered,
			"dead_lettered": dm.DeadLettered, "dead_letters": dm.DeadLetters, "results": dm.Results,
			"results_refused": dm.ResultsRefused, "record_errors": dm.RecordErrors, "breaker_opened": dm.BreakerOpened,
			"tasks_canceled": dm.TasksCanceled, "task_cancel_errors": dm.TaskCancelErrors,
			"outbox_lag": dm.OutboxLag, "queued_at_start": dm.Queued,
		},
		"actions": actions, // by status, among the recent ones the actions view keeps
		"agents":  map[string]any{"registered": agents},
		"process": map[string]any{
			"uptime_seconds":   up,
			"event_rate":       float64(events) / max(up, 1),
			"heap_alloc_bytes": mem.HeapAlloc, "sys_bytes": mem.Sys, "goroutines": runtime.NumGoroutine(),
		},
	}
}
