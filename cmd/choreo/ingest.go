package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// ingestReport is what choreo ingest prints.
type ingestReport struct {
	Events          int            `json:"events"`           // event lines read
	NewEvents       int            `json:"new_events"`       // appended to the log by this run
	DuplicateEvents int            `json:"duplicate_events"` // already in the log: not written again
	NewActions      int            `json:"new_actions"`      // actions this run decided
	Actions         map[string]int `json:"actions"`          // every action in the log, by name
	LogHead         uint64         `json:"log_head"`         // events in the log, system records included
}

// runIngest appends events to the embedded log and lets the engine decide
// on them live, appending its actions to the log.
func runIngest(ctx context.Context, args []string, stdio stdio) int {
	var chFiles []string
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stdio.err)
	fs.Func("choreography", "a choreography `file` (YAML or JSON); repeatable", func(s string) error {
		chFiles = append(chFiles, s)
		return nil
	})
	dataDir := fs.String("data", "./choreo-data", "the log's data `directory`; created if missing")
	events := fs.String("events", "", "a `file` of CloudEvents JSON lines, or - for standard input")
	fs.Usage = func() {
		fmt.Fprintln(stdio.err, `usage: choreo ingest --choreography FILE... --events FILE|- [--data DIR]

Appends each event to the durable log in DIR, in its correlation's stream,
lets the engine decide on the whole log and append its actions to the
$actions stream, and prints a JSON report. Timers fire by event time, as
in choreo run. Event ids make it idempotent:
running it again with the same events appends nothing and decides nothing.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(chFiles) == 0 || *events == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		printServeError(stdio, "ingest", err)
		return 1
	}
	chs := make([]*choreography.Choreography, 0, len(chFiles))
	for _, f := range chFiles {
		ch, err := choreography.LoadFile(f)
		if err != nil {
			return fail(withFile(err, f))
		}
		chs = append(chs, ch)
	}
	eng, err := engine.New(chs, engine.Config{})
	if err != nil {
		return fail(err)
	}
	var in io.Reader = stdio.in
	if *events != "-" {
		f, err := os.Open(*events)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		in = f
	}

	st, err := openData(*dataDir, nil)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	before, err := st.Head(ctx)
	if err != nil {
		return fail(err)
	}
	rep := ingestReport{Actions: map[string]int{}}
	if err := appendLines(ctx, st, in, before, &rep); err != nil {
		return fail(err)
	}
	if err := decide(ctx, st, eng); err != nil {
		return fail(err)
	}
	ob := live.NewOutbox(st, 0)
	defer ob.Close()
	if rep.LogHead, err = st.Head(ctx); err != nil {
		return fail(err)
	}
	for {
		end, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		e, err := ob.Next(end)
		cancel()
		if err != nil || e.Record.GlobalPosition >= rep.LogHead {
			break // the outbox is read to the head
		}
		rep.Actions[e.Action.Action]++
		if e.Record.GlobalPosition >= before {
			rep.NewActions++
		}
	}
	out, _ := json.Marshal(rep)
	fmt.Fprintln(stdio.out, string(out))
	return 0
}

// ingestWindow is the most appends ingest keeps in flight: they enter the
// log in file order and share fsyncs, instead of one fsync each; and
// ingestWindowBytes bounds the bytes of their lines.
const (
	ingestWindow      = 1024
	ingestWindowBytes = 32 << 20
)

// appendLines appends each event line to its correlation's stream, in file
// order, keeping up to ingestWindow appends in flight. On an error it
// stops reading and returns the first line at fault. A line the log
// refuses at once (an invalid event) stops it with nothing after it
// appended; one refused later (an id already used for other content) may
// find up to ingestWindow lines after it appended, which a second run with
// the same events does not append twice.
func appendLines(ctx context.Context, st store.Store, in io.Reader, before uint64, rep *ingestReport) error {
	type inFlight struct {
		line, size int
		p          store.Pending
	}
	var queue []inFlight
	inFlightBytes := 0
	var failure error
	settle := func(f inFlight) {
		inFlightBytes -= f.size
		pos, err := f.p.Wait()
		switch {
		case err != nil:
			if failure == nil {
				failure = fmt.Errorf("line %d: %w", f.line, err)
			}
		case pos[0].Global >= before:
			rep.Events++
			rep.NewEvents++
		default:
			rep.Events++
			rep.DuplicateEvents++
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), event.DefaultMaxSize+4096)
	line := 0
	for failure == nil && sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		ev, err := event.Decode(sc.Bytes())
		if err != nil {
			for _, f := range queue { // a line before it may be at fault too
				settle(f)
			}
			queue = queue[:0]
			if failure == nil {
				failure = fmt.Errorf("line %d: %w", line, err)
			}
			break
		}
		ev.Fill()
		p := store.AppendAsync(ctx, st, ev.CorrelationID, store.Any, []*event.Event{ev})
		queue = append(queue, inFlight{line, len(sc.Bytes()), p})
		inFlightBytes += len(sc.Bytes())
		select {
		case <-p.Done():
			// Refused before it was queued (an invalid event): settle what
			// is in flight, in order, and stop at once.
			for _, f := range queue {
				settle(f)
			}
			queue = queue[:0]
			continue
		default:
		}
		if inFlightBytes > ingestWindowBytes {
			for _, f := range queue {
				settle(f)
			}
			queue = queue[:0]
		}
		if len(queue) == ingestWindow { // settle the older half
			for _, f := range queue[:ingestWindow/2] {
				settle(f)
			}
			queue = append(queue[:0], queue[ingestWindow/2:]...)
		}
	}
	for _, f := range queue {
		settle(f)
	}
	if failure != nil {
		return failure
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// eventTimeOnly is a clock that never reaches a timer, so ingest fires
// timers by event time alone, as run does, and running it twice decides the
// same. (A server fires them by the wall clock.)
type eventTimeOnly struct{}

func (eventTimeOnly) Now() time.Time                    { return time.Time{} }
func (eventTimeOnly) NewTimer(time.Duration) live.Timer { return neverTimer{} }

type neverTimer struct{}

func (neverTimer) C() <-chan time.Time { return nil }
func (neverTimer) Stop() bool          { return true }

// decide runs the engine live over the whole log until it has caught up
// with everything, its own records included.
func decide(ctx context.Context, st store.Store, eng *engine.Engine) error {
	r, err := live.New(st, eng, live.Config{Clock: eventTimeOnly{}})
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
		}
		head, err := st.Head(ctx)
		if err != nil {
			return err
		}
		if m := r.Metrics(); m.Position >= head {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	}
}
