// Command choreo is the choreo server, its command-line client and the
// offline evaluator of choreographies, in one binary.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// A command is one subcommand. It returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdio stdio) int
}

// stdio is what a command reads and writes, so tests run commands
// against buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = map[string]command{
	"version":      {"print the version", runVersion},
	"run":          {"evaluate events against choreographies, offline", runRun},
	"validate":     {"check choreography files", runValidate},
	"ingest":       {"append events to the embedded log and decide on them", runIngest},
	"serve":        {"run the server: log, engine, registry, dispatcher and HTTP API", runServe},
	"demo":         {"run the e-commerce choreography end to end: server, simulated agents, orders; nothing to set up", runDemo},
	"publish":      {"publish events to the log", runPublish},
	"tail":         {"follow the log as it grows", runTail},
	"get":          {"show a stream or a correlation as a timeline", runGet},
	"agents":       {"list, register, heartbeat and remove agents", runAgents},
	"actions":      {"list actions and their delivery status", runActions},
	"dlq":          {"list, retry and discard dead letters", runDLQ},
	"metrics":      {"show the server's figures", runMetrics},
	"choreography": {"deploy, list, show and remove choreographies", runChoreography},
	"bench":        {"load-test a server: events/s and latency of publishing and dispatch", runBench},
	"replay":       {"re-fold a log offline: check its actions, try a choreography on history", runReplay},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runCommand(ctx, os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

func runCommand(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "choreo: unknown command %q\n\n", args[0])
		usage(io.err)
		return 2
	}
	return cmd.run(ctx, args[1:], io)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: choreo <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-13s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'choreo <command> -h' for a command's flags.")
}

func runVersion(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.out, "choreo", version)
	return 0
}
