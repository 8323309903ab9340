package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// publishFlags are the flags of choreo publish.
type publishFlags struct {
	typ, source, data, correlation, id, subject, at string
	stream, expected                                string
	batch                                           int
}

// defaultSource is the source of the events choreo publish makes from its
// flags when --source is not given.
const defaultSource = "choreo/cli"

// runPublish publishes one event made from flags, or each line of a file
// of CloudEvents JSON lines, and prints where each landed.
func runPublish(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("publish", "publish --type T [--source S] [--data JSON|@FILE] [--correlation C] [--id ID] [flags]\n       choreo publish [--stream S] [--expected-version V] [--batch N] FILE.jsonl|-",
		`Publishes one event made from the flags, or each line of FILE (CloudEvents
JSON, one event a line; - reads standard input), and prints where each
event landed: its id, stream, position in the stream and position in the
log.

Events from a file are sent in order. Consecutive events of one stream go
in one request, up to --batch of them, and each request is atomic: all its
events are appended or none. An event whose id is already in the log is
not appended again, so publishing a file again appends none of its lines
that have an id. A line without an id gets a new one each time it is
sent: published again, it is appended again. Give lines ids to make
publishing a file safe to repeat.

An event lands in the stream named by --stream, or else in its
correlation's stream. --expected-version makes the append conditional on
the stream's version: "any", "no_stream", or the stream position of the
stream's last event; with a file it needs --stream, and applies to the
first request, each later one expecting the version the one before left.`, false, io)
	var f publishFlags
	c.fs.StringVar(&f.typ, "type", "", "the event's `type` (required without FILE)")
	c.fs.StringVar(&f.source, "source", defaultSource, "the event's `source`: who publishes it")
	c.fs.StringVar(&f.data, "data", "", "the event's data: `JSON` text, or @FILE to read it from FILE (@- for standard input)")
	c.fs.StringVar(&f.correlation, "correlation", "", "the event's correlation `id`; empty: the event's own id")
	c.fs.StringVar(&f.id, "id", "", "the event's `id`; empty: a new one")
	c.fs.StringVar(&f.subject, "subject", "", "the event's `subject`")
	c.fs.StringVar(&f.at, "time", "", "the event's `time` (RFC 3339); empty: now")
	c.fs.StringVar(&f.stream, "stream", "", "the `stream` to append to; empty: each event's correlation's")
	c.fs.StringVar(&f.expected, "expected-version", "any", "the stream's expected `version`: any, no_stream, or a stream position")
	c.fs.IntVar(&f.batch, "batch", 100, "with FILE, the most events sent in one `request`")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	expected, err := parseExpected(f.expected)
	if err != nil {
		return c.usage("--expected-version: %v", err)
	}
	var eventFlags []string
	c.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "type", "source", "data", "correlation", "id", "subject", "time":
			eventFlags = append(eventFlags, "--"+fl.Name)
		}
	})
	switch {
	case len(pos) > 1:
		return c.usage("one FILE at most, got %d arguments", len(pos))
	case len(pos) == 1 && len(eventFlags) > 0:
		return c.usage("%s describe one event: they do not go with FILE", strings.Join(eventFlags, ", "))
	case len(pos) == 1 && expected != store.Any && f.stream == "":
		return c.usage("--expected-version with FILE needs --stream")
	case len(pos) == 0 && f.typ == "":
		return c.usage("--type or FILE is required")
	case f.batch < 1:
		return c.usage("--batch must be at least 1")
	}

	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	defer cl.Close()
	if len(pos) == 0 {
		return c.publishOne(ctx, cl, &f, expected)
	}
	in := io.in
	if pos[0] != "-" {
		file, err := os.Open(pos[0])
		if err != nil {
			return c.fail(inputErr("", "%v", err))
		}
		defer file.Close()
		in = file
	}
	return c.publishLines(ctx, cl, in, &f, expected)
}

// parseExpected reads --expected-version.
func parseExpected(s string) (store.ExpectedVersion, error) {
	switch s {
	case "any", "":
		return store.Any, nil
	case "no_stream":
		return store.NoStream, nil
	}
	n, err := strconv.ParseUint(s, 10, 62)
	if err != nil {
		return 0, fmt.Errorf("want any, no_stream or a stream position, got %q", s)
	}
	return store.Exact(n), nil
}

// publishOne publishes the event the flags describe.
func (c *apiCmd) publishOne(ctx context.Context, cl *client.Client, f *publishFlags, expected store.ExpectedVersion) int {
	ev := &event.Event{SpecVersion: event.SpecVersion, ID: f.id, Source: f.source, Type: f.typ, Subject: f.subject, CorrelationID: f.correlation}
	if f.at == "" {
		ev.Time = time.Now().UTC()
	} else {
		t, err := time.Parse(time.RFC3339Nano, f.at)
		if err != nil {
			return c.usage("--time: not an RFC 3339 time: %q", f.at)
		}
		ev.Time = t
	}
	if f.data != "" {
		data, err := c.readData(f.data)
		if err != nil {
			return c.fail(err)
		}
		ev.Data = data
	}
	opts := []client.PublishOption{client.WithExpectedVersion(expected)}
	if f.stream != "" {
		opts = append(opts, client.WithStream(f.stream))
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	pos, err := cl.Publish(rctx, ev, opts...)
	if err != nil {
		return c.fail(err)
	}
	if err := c.printPositions(pos); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// readData reads --data: JSON text, or @FILE.
func (c *apiCmd) readData(v string) (json.RawMessage, error) {
	raw := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if name == "-" {
			raw, err = io.ReadAll(io.LimitReader(c.io.in, event.DefaultMaxSize+1))
		} else {
			raw, err = readFileLimited(name, event.DefaultMaxSize)
		}
		if err != nil {
			return nil, inputErr("--data", "%v", err)
		}
	}
	if !json.Valid(raw) {
		return nil, inputErr("--data", "not JSON: %s", clip(string(raw), 60))
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, inputErr("--data", "%v", err)
	}
	return b.Bytes(), nil
}

// readFileLimited reads a file of at most max bytes.
func readFileLimited(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", name, max)
	}
	return b, nil
}

// pendingBatch is the events of one request and the lines they came from.
type pendingBatch struct {
	stream string
	events []*event.Event
	lines  []int
}

// publishLines publishes the events of in, one a line, in batches.
func (c *apiCmd) publishLines(ctx context.Context, cl *client.Client, in io.Reader, f *publishFlags, expected store.ExpectedVersion) int {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), event.DefaultMaxSize+4096)
	var (
		b         pendingBatch
		published int
		requests  int
	)
	flush := func() error {
		if len(b.events) == 0 {
			return nil
		}
		opts := []client.PublishOption{client.WithExpectedVersion(expected)}
		if f.stream != "" {
			opts = append(opts, client.WithStream(f.stream))
		}
		rctx, cancel := c.bounded(ctx)
		defer cancel()
		pos, err := cl.PublishBatch(rctx, b.events, opts...)
		if err != nil {
			return lineError(err, b.lines)
		}
		requests++
		published += len(pos)
		if f.stream != "" {
			expected = store.Exact(pos[len(pos)-1].StreamPosition)
		}
		b = pendingBatch{}
		return c.printPositions(pos)
	}
	line := 0
	var err error
	for err == nil && sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		ev, derr := event.Decode(text)
		if derr != nil {
			err = lineDecodeError(derr, line)
			break
		}
		ev.Fill()
		stream := f.stream
		if stream == "" {
			stream = ev.CorrelationID
		}
		if len(b.events) > 0 && (stream != b.stream || len(b.events) == f.batch) {
			if err = flush(); err != nil {
				break
			}
		}
		b.stream = stream
		b.events = append(b.events, ev)
		b.lines = append(b.lines, line)
	}
	if err == nil {
		if serr := sc.Err(); serr != nil {
			err = &cliError{Code: codeInvalidInput, Field: "line " + strconv.Itoa(line+1), Msg: serr.Error()}
		} else {
			err = flush()
		}
	}
	if err != nil {
		code := c.fail(err)
		if c.output == outputText && published > 0 {
			fmt.Fprintf(c.io.err, "choreo publish: %d events were published before the failure\n", published)
		}
		return code
	}
	if c.output == outputText {
		fmt.Fprintf(c.io.out, "published %s in %s\n", plural(published, "event"), plural(requests, "request"))
	}
	return exitOK
}

// lineDecodeError reports a line that is not an event as the API would:
// the event's code and field, after the line.
func lineDecodeError(err error, line int) error {
	field := "line " + strconv.Itoa(line)
	var ee *event.Error
	if errors.As(err, &ee) {
		if ee.Field != "" {
			field += ": " + ee.Field
		}
		return &cliError{Code: ee.Code, Field: field, Msg: ee.Msg}
	}
	return &cliError{Code: codeInvalidInput, Field: field, Msg: strings.TrimPrefix(err.Error(), "event: ")}
}

// batchField matches the field of an error about one event of a batch.
var batchField = regexp.MustCompile(`^events\[(\d+)\](?:\.(.*))?$`)

// lineError names the line of the event a batch error is about: the API
// says "events[3].time", the file's reader wants "line 12: time".
func lineError(err error, lines []int) error {
	var ae *client.Error
	if !errors.As(err, &ae) {
		return err
	}
	m := batchField.FindStringSubmatch(ae.Field)
	if m == nil {
		if len(lines) > 0 && ae.Field == "" {
			c := *ae
			c.Field = fmt.Sprintf("lines %d-%d", lines[0], lines[len(lines)-1])
			return &c
		}
		return err
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(lines) {
		return err
	}
	c := *ae
	c.Field = "line " + strconv.Itoa(lines[i])
	if m[2] != "" {
		c.Field += ": " + m[2]
	}
	return &c
}

// positionJSON is a position as choreo publish prints it in JSON.
type positionJSON struct {
	ID             string `json:"id"`
	Stream         string `json:"stream"`
	StreamPosition uint64 `json:"stream_position"`
	GlobalPosition uint64 `json:"global_position"`
}

func (c *apiCmd) printPositions(pos []client.Position) error {
	for _, p := range pos {
		if c.output == outputJSON {
			if err := c.json(positionJSON(p)); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintf(c.io.out, "%s\tstream %s\tposition %d\tglobal %d\n", p.ID, p.Stream, p.StreamPosition, p.GlobalPosition); err != nil {
			return err
		}
	}
	return nil
}
