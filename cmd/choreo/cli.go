package main

// What the commands that are clients of the API share: the --server,
// --output and --timeout flags, argument parsing, error reports with the
// API's code and field, and the exit codes.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/internal/jsonw"
	"github.com/choreohq/choreo/store"
)

// Exit codes of every command.
const (
	exitOK      = 0 // done
	exitFailure = 1 // the command ran and failed: an API error, an unreachable server, bad input
	exitUsage   = 2 // the command line is wrong
)

const (
	// envServer names the environment variable that gives the server's
	// URL when --server is not given.
	envServer = "CHOREO_SERVER"
	// defaultServer is the server's URL when neither --server nor
	// CHOREO_SERVER gives one: where choreo serve listens by default.
	defaultServer = "http://127.0.0.1:7070"
	// defaultTimeout bounds a request of a command that does not follow
	// the log.
	defaultTimeout = 30 * time.Second
)

// Codes of the errors the CLI reports itself, beside the API's.
const (
	codeUnreachable  = "unreachable"   // the server could not be reached
	codeTimeout      = "timeout"       // --timeout ran out
	codeInterrupted  = "interrupted"   // the command was interrupted (Ctrl-C)
	codeProtocol     = "protocol"      // the server's answer did not follow the API
	codeInvalidInput = "invalid_input" // a file or flag value the command cannot use
	codeNotFound     = store.CodeNotFound
	codeMismatch     = "mismatch" // replay: the re-derived actions differ from the logged ones
	codeLogLocked    = "log_in_use"
	codeError        = "error" // anything else
)

// cliError is an error the CLI reports with a code, like the API's.
type cliError struct {
	Code  string
	Field string // the flag, argument or line at fault; "" for none
	Msg   string
}

func (e *cliError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func inputErr(field, format string, args ...any) *cliError {
	return &cliError{Code: codeInvalidInput, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// outputFormat is the value of --output.
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

func (o *outputFormat) String() string { return string(*o) }

func (o *outputFormat) Set(s string) error {
	switch outputFormat(s) {
	case outputText, outputJSON:
		*o = outputFormat(s)
		return nil
	}
	return fmt.Errorf("want text or json, got %q", s)
}

// apiCmd is one command: its flags and where it writes; for commands
// that talk to the server, where it is and how long to wait for it.
type apiCmd struct {
	name    string // as typed: "agents list"
	fs      *flag.FlagSet
	io      stdio
	server  string
	output  outputFormat
	timeout time.Duration
	follow  bool // the command follows the log: no --timeout
}

// newAPICmd returns a command named name that talks to the server, whose
// usage is synopsis, then about, then the flags. follow says the command
// runs until interrupted, so it takes no --timeout.
func newAPICmd(name, synopsis, about string, follow bool, io stdio) *apiCmd {
	c := newCmd(name, synopsis, about, io)
	c.follow = follow
	server := os.Getenv(envServer)
	if server == "" {
		server = defaultServer
	}
	c.fs.StringVar(&c.server, "server", server, "the server's base `URL` (env "+envServer+")")
	if !follow {
		c.fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up on the server after this `duration`; 0: wait as long as it takes")
	}
	return c
}

// newCmd returns a command with the --output flag alone, for commands
// that do not talk to the server.
func newCmd(name, synopsis, about string, io stdio) *apiCmd {
	c := &apiCmd{name: name, io: io, output: outputText}
	c.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	c.fs.SetOutput(io.err)
	c.fs.Var(&c.output, "output", "the output `format`: text, for people, or json, for programs")
	c.fs.Usage = func() {
		fmt.Fprintf(io.err, "usage: choreo %s\n\n%s\n\nflags:\n", synopsis, strings.TrimSpace(about))
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses args, flags and arguments in any order ("--" ends the
// flags), and returns the arguments. When it returns false the command
// must exit with code: 0 after -h, 2 for a bad command line.
func (c *apiCmd) parse(args []string) ([]string, int, bool) {
	pos, err := parseInterleaved(c.fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK, false
		}
		return nil, exitUsage, false // the flag package has said why
	}
	if c.timeout < 0 {
		return nil, c.usage("--timeout must not be negative"), false
	}
	return pos, 0, true
}

// parseInterleaved parses flags that may come after the arguments, as in
// "choreo agents rm ID --output json".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usage reports a wrong command line and returns exitUsage.
func (c *apiCmd) usage(format string, args ...any) int {
	fmt.Fprintf(c.io.err, "choreo %s: %s\n", c.name, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.io.err, "Run 'choreo %s -h' for usage.\n", c.name)
	return exitUsage
}

// client returns a client of --server.
func (c *apiCmd) client() (*client.Client, error) {
	cl, err := client.New(c.server)
	if err != nil {
		return nil, &cliError{Code: codeInvalidInput, Field: "--server", Msg: strings.TrimPrefix(err.Error(), "client: ")}
	}
	return cl, nil
}

// bounded bounds ctx by --timeout, for commands that do not follow the
// log.
func (c *apiCmd) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.follow || c.timeout == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// run calls f with a client and a bounded context, and reports its error.
func (c *apiCmd) run(ctx context.Context, f func(ctx context.Context, cl *client.Client) error) int {
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	defer cl.Close()
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	if err := f(rctx, cl); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// errorReport is an error as the CLI prints it: the API's code, message
// and field, and the HTTP status when the server answered.
type errorReport struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Status  int    `json:"status,omitempty"`
}

// report classifies err.
func (c *apiCmd) report(err error) errorReport {
	var (
		ae *client.Error
		ce *cliError
		ue *url.Error
		ne net.Error
	)
	switch {
	case errors.As(err, &ae):
		code := ae.Code
		if code == "" {
			code = "http_" + strconv.Itoa(ae.Status)
		}
		return errorReport{Code: code, Message: ae.Message, Field: ae.Field, Status: ae.Status}
	case errors.As(err, &ce):
		return errorReport{Code: ce.Code, Message: ce.Msg, Field: ce.Field}
	case errors.Is(err, context.DeadlineExceeded):
		return errorReport{Code: codeTimeout, Message: fmt.Sprintf("no answer from %s within %v", c.server, c.timeout)}
	case errors.Is(err, context.Canceled):
		return errorReport{Code: codeInterrupted, Message: "interrupted"}
	case errors.Is(err, client.ErrProtocol), errors.Is(err, client.ErrResponseTooLarge):
		return errorReport{Code: codeProtocol, Message: strings.TrimPrefix(err.Error(), "client: ")}
	case errors.As(err, &ue), errors.As(err, &ne):
		msg := err.Error()
		if ue != nil {
			msg = ue.Err.Error()
		}
		return errorReport{Code: codeUnreachable, Message: fmt.Sprintf("cannot reach the server at %s: %s", c.server, msg)}
	}
	return errorReport{Code: codeError, Message: err.Error()}
}

// fail prints err, as JSON on standard error with --output json, and
// returns exitFailure.
func (c *apiCmd) fail(err error) int {
	printError(c.io, c.name, c.output, c.report(err))
	return exitFailure
}

// printError writes r to io.err: "choreo NAME: CODE: FIELD: MESSAGE (HTTP
// STATUS)", a message of several lines below that, indented; or
// {"error":{…}} in JSON.
func printError(io stdio, name string, out outputFormat, r errorReport) {
	if out == outputJSON {
		b, _ := json.Marshal(map[string]errorReport{"error": r})
		fmt.Fprintln(io.err, string(b))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "choreo %s: %s", name, r.Code)
	if r.Field != "" {
		b.WriteString(": " + r.Field)
	}
	lines := strings.Split(strings.TrimRight(r.Message, "\n"), "\n")
	if len(lines) == 1 && lines[0] != "" {
		b.WriteString(": " + lines[0])
	}
	if r.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", r.Status)
	}
	if len(lines) > 1 {
		for _, l := range lines {
			b.WriteString("\n  " + l)
		}
	}
	fmt.Fprintln(io.err, b.String())
}

// json writes v as one line of JSON.
func (c *apiCmd) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = c.io.out.Write(b)
	return err
}

// appendRecordJSON appends rec in the API's record form: the record's own
// members, then the event's attributes.
func appendRecordJSON(dst []byte, rec *store.Record) []byte {
	dst = append(dst, `{"stream":`...)
	dst = jsonw.String(dst, rec.Stream)
	dst = append(dst, `,"stream_position":`...)
	dst = strconv.AppendUint(dst, rec.StreamPosition, 10)
	dst = append(dst, `,"global_position":`...)
	dst = strconv.AppendUint(dst, rec.GlobalPosition, 10)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendUint(dst, uint64(rec.Partition), 10)
	if !rec.Recorded.IsZero() {
		dst = append(dst, `,"recorded":"`...)
		dst = rec.Recorded.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if rec.Event == nil {
		return append(dst, '}')
	}
	ev := rec.Event.AppendJSON(nil)
	dst = append(dst, ',')
	return append(dst, ev[1:]...)
}

// recordsJSON is records as a JSON array of API records.
type recordsJSON []store.Record

// MarshalJSON writes the records in the API's form.
func (rs recordsJSON) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecordJSON(b, &rs[i])
	}
	return append(b, ']'), nil
}

// Readable forms of values.

// timeLayout is how the CLI shows instants: UTC, to the millisecond.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// fmtDuration shows d rounded for people: milliseconds under a minute,
// seconds above.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Minute && d > -time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// fmtAge shows how long ago t was, from now.
func fmtAge(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmtDuration(now.Sub(t)) + " ago"
}

// clip cuts s to at most n characters, marking the cut with "…", and
// replaces line breaks and tabs so that s stays on its line.
func clip(s string, n int) string {
	s = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// dash shows an empty string as "-", so table columns stay aligned.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
