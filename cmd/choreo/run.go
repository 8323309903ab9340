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
	"runtime"
	"strings"
	"sync"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// runRun evaluates CloudEvents JSON lines against choreographies, offline,
// and prints the actions.
func runRun(ctx context.Context, args []string, stdio stdio) int {
	var opts runOptions
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stdio.err)
	fs.Func("choreography", "a choreography `file` (YAML or JSON); repeatable, evaluated in the order given", func(s string) error {
		opts.choreographies = append(opts.choreographies, s)
		return nil
	})
	fs.StringVar(&opts.events, "events", "", "the events: a `file` of CloudEvents JSON lines, or - for standard input")
	fs.BoolVar(&opts.summary, "summary", false, "print one JSON object mapping each action to how many times it fired, instead of the actions")
	fs.BoolVar(&opts.flush, "flush", false, "at the end, fire every pending timer, as if the log ended for good")
	fs.BoolVar(&opts.skipBad, "skip-bad", false, "skip event lines that do not decode or validate, and report how many on standard error")
	fs.BoolVar(&opts.metrics, "metrics", false, "print the engine's metrics as JSON on standard error at the end")
	fs.Usage = func() {
		fmt.Fprintln(stdio.err, `usage: choreo run --choreography FILE [--choreography FILE...] --events FILE|- [flags]

Evaluates events, in file order, against the choreographies and prints
each action as one JSON line. Timers due by the last event's time fire
at the end; --flush fires the rest.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(opts.choreographies) == 0 || opts.events == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}

	chs := make([]*choreography.Choreography, 0, len(opts.choreographies))
	for _, f := range opts.choreographies {
		ch, err := choreography.LoadFile(f)
		if err != nil {
			fmt.Fprintf(stdio.err, "choreo run: %v\n", withFile(err, f))
			return 1
		}
		chs = append(chs, ch)
	}
	eng, err := engine.New(chs, engine.Config{})
	if err != nil {
		fmt.Fprintf(stdio.err, "choreo run: %v\n", err)
		return 1
	}

	var in io.Reader = stdio.in
	name := "stdin"
	if opts.events != "-" {
		f, err := os.Open(opts.events)
		if err != nil {
			fmt.Fprintf(stdio.err, "choreo run: %v\n", err)
			return 1
		}
		defer f.Close()
		in, name = f, opts.events
	}
	r := runner{opts: opts, eng: eng, name: name, stdio: stdio}
	return r.run(ctx, in)
}

// withFile makes sure every problem names its file.
func withFile(err error, file string) error {
	var ps choreography.Problems
	if !errors.As(err, &ps) {
		return err
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		if p.File == "" {
			p.File = file
		}
		lines[i] = p.String()
	}
	return errors.New(strings.Join(lines, "\n"))
}

type runOptions struct {
	choreographies []string
	events         string
	summary        bool
	flush          bool
	skipBad        bool
	metrics        bool
}

// runner evaluates one input: a reader cuts it into batches of lines,
// decoders turn the lines into events on every core, the engine takes the
// batches in input order, and a writer encodes (or counts) the actions of
// each batch, in order, while the engine goes on with the next.
type runner struct {
	opts  runOptions
	eng   *engine.Engine
	name  string // the input's name in error messages
	stdio stdio

	out     *bufio.Writer
	buf     []byte
	counts  map[string]int64
	skipped int
}

// actionBatch is the actions of one batch of events, handed from the
// engine to the writer. Actions keep their ids and trigger slices valid
// after the engine moves on, so they may be encoded later.
type actionBatch struct{ actions []engine.Action }

// Pipeline sizes: lines per batch, bytes per batch, batches in flight,
// and the longest line read (anything longer cannot be a valid event).
const (
	batchLines    = 512
	batchBytes    = 256 << 10
	batchesQueued = 16
	maxLine       = event.DefaultMaxSize + 64<<10
)

// batch is a run of consecutive input lines and, once decoded, their
// events.
type batch struct {
	first int      // the line number of lines[0]
	data  []byte   // the lines' bytes
	lines [][2]int // each line's extent in data, newline excluded; [-1,-1] for a line over maxLine
	evs   []*event.Event
	errs  []error
	done  chan struct{}
}

func (r *runner) run(ctx context.Context, in io.Reader) int {
	r.out = bufio.NewWriterSize(r.stdio.out, 64<<10)
	if r.opts.summary {
		r.counts = make(map[string]int64)
	}

	work := make(chan *batch, batchesQueued)
	ordered := make(chan *batch, batchesQueued)
	free := make(chan *batch, 2*batchesQueued+2)
	stop := make(chan struct{})
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(ordered)
		readErr = readBatches(in, work, ordered, free, stop)
	}()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				decodeBatch(b)
				close(b.done)
			}
		}()
	}
	code := r.consume(ctx, ordered, free)
	close(stop)
	if code != 0 {
		// Unblock a reader waiting on more input, then let the pipeline drain.
		if c, ok := in.(io.Closer); ok && in != r.stdio.in {
			c.Close()
		}
		go func() {
			for range ordered {
			}
		}()
	}
	wg.Wait()
	if code == 0 && readErr != nil {
		fmt.Fprintf(r.stdio.err, "choreo run: reading %s: %v\n", r.name, readErr)
		code = 1
	}
	if code == 0 {
		code = r.finish()
	}
	if err := r.out.Flush(); err != nil && code == 0 {
		fmt.Fprintf(r.stdio.err, "choreo run: %v\n", err)
		code = 1
	}
	if r.skipped > 0 {
		fmt.Fprintf(r.stdio.err, "choreo run: skipped %d bad event lines\n", r.skipped)
	}
	if r.opts.metrics {
		m, _ := json.Marshal(r.eng.Metrics())
		fmt.Fprintf(r.stdio.err, "%s\n", m)
	}
	return code
}

// consume feeds the decoded batches to the engine in input order, and
// their actions to a writer goroutine, in the same order.
func (r *runner) consume(ctx context.Context, ordered <-chan *batch, free chan<- *batch) int {
	out := make(chan *actionBatch, 4)
	spare := make(chan *actionBatch, 6)
	werr := make(chan error, 1)
	go func() {
		var err error
		for ab := range out {
			if err == nil {
				err = r.emit(ab.actions)
			}
			clear(ab.actions)
			ab.actions = ab.actions[:0]
			select {
			case spare <- ab:
			default:
			}
		}
		werr <- err
	}()
	code := r.feed(ctx, ordered, free, out, spare)
	close(out)
	if err := <-werr; err != nil && code == 0 {
		fmt.Fprintf(r.stdio.err, "choreo run: %v\n", err)
		code = 1
	}
	return code
}

// feed runs the engine over the batches and sends the actions of each to
// the writer.
func (r *runner) feed(ctx context.Context, ordered <-chan *batch, free chan<- *batch, out chan<- *actionBatch, spare <-chan *actionBatch) int {
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
			fmt.Fprintf(r.stdio.err, "choreo run: %v\n", ctx.Err())
			return 1
		}
		var ab *actionBatch
		select {
		case ab = <-spare:
		default:
			ab = &actionBatch{actions: make([]engine.Action, 0, 2*batchLines)}
		}
		for i, ev := range b.evs {
			if err := b.errs[i]; err != nil {
				line := b.first + i
				if !r.opts.skipBad {
					out <- ab // the actions so far come out before the error
					fmt.Fprintf(r.stdio.err, "choreo run: %s:%d: %v\n", r.name, line, err)
					return 1
				}
				if r.skipped < 10 {
					fmt.Fprintf(r.stdio.err, "choreo run: %s:%d: skipped: %v\n", r.name, line, err)
				}
				r.skipped++
				continue
			}
			if ev == nil {
				continue // a blank line
			}
			ab.actions = r.eng.AppendProcess(ab.actions, ev)
		}
		out <- ab
		clear(b.evs) // let the events go before the batch is reused
		select {
		case free <- b:
		default:
		}
	}
	return 0
}

// finish fires the timers due by the last event's time, or with --flush
// every pending one, and prints the summary.
func (r *runner) finish() int {
	var actions []engine.Action
	if r.opts.flush {
		actions = r.eng.Flush()
	} else if now := r.eng.Now(); !now.IsZero() {
		actions = r.eng.Advance(now)
	}
	if err := r.emit(actions); err != nil {
		fmt.Fprintf(r.stdio.err, "choreo run: %v\n", err)
		return 1
	}
	if r.counts != nil {
		b, err := json.Marshal(r.counts)
		if err != nil {
			fmt.Fprintf(r.stdio.err, "choreo run: %v\n", err)
			return 1
		}
		r.out.Write(b)
		r.out.WriteByte('\n')
	}
	return 0
}

func (r *runner) emit(actions []engine.Action) error {
	for i := range actions {
		if r.counts != nil {
			r.counts[actions[i].Action]++
			continue
		}
		r.buf = actions[i].AppendJSON(r.buf[:0])
		r.buf = append(r.buf, '\n')
		if _, err := r.out.Write(r.buf); err != nil {
			return err
		}
	}
	return nil
}

// readBatches cuts in into batches of lines and sends each to both the
// decoders and, in order, the engine. It stops early when stop closes.
func readBatches(in io.Reader, work, ordered chan<- *batch, free chan *batch, stop <-chan struct{}) error {
	br := bufio.NewReaderSize(in, 1<<20)
	line := 1
	var b *batch
	var long []byte // the part of a line read so far when it outgrew the reader's buffer
	tooLong := false
	send := func() bool {
		if b == nil || len(b.lines) == 0 {
			return true
		}
		select {
		case work <- b:
		case <-stop:
			return false
		}
		select {
		case ordered <- b:
		case <-stop:
			return false
		}
		b = nil
		return true
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong {
				long = append(long, chunk...)
				if len(long) > maxLine {
					tooLong, long = true, long[:0]
				}
			}
			continue
		}
		if len(chunk) > 0 || len(long) > 0 || tooLong {
			if b == nil {
				b = newBatch(free, line)
			}
			switch {
			case tooLong:
				b.lines = append(b.lines, [2]int{-1, -1})
			case len(long) > 0:
				long = append(long, chunk...)
				b.addLine(long)
			default:
				b.addLine(chunk)
			}
			long, tooLong = long[:0], false
			line++
			if len(b.lines) == batchLines || len(b.data) >= batchBytes {
				if !send() {
					return nil
				}
			}
		}
		if err == io.EOF {
			send()
			return nil
		}
		if err != nil {
			send()
			return err
		}
	}
}

func newBatch(free chan *batch, first int) *batch {
	var b *batch
	select {
	case b = <-free:
		b.data, b.lines, b.evs, b.errs = b.data[:0], b.lines[:0], b.evs[:0], b.errs[:0]
	default:
		b = &batch{data: make([]byte, 0, batchBytes+4096)}
	}
	b.first = first
	b.done = make(chan struct{})
	return b
}

func (b *batch) addLine(l []byte) {
	l = bytes.TrimRight(l, "\r\n")
	start := len(b.data)
	b.data = append(b.data, l...)
	b.lines = append(b.lines, [2]int{start, len(b.data)})
}

// errLineTooLong reports a line longer than any valid event.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

// decodeBatch decodes and validates each line of b.
func decodeBatch(b *batch) {
	for _, ext := range b.lines {
		if ext[0] < 0 {
			b.evs = append(b.evs, nil)
			b.errs = append(b.errs, errLineTooLong)
			continue
		}
		ev, err := decodeEvent(b.data[ext[0]:ext[1]])
		b.evs = append(b.evs, ev)
		b.errs = append(b.errs, err)
	}
}

// decodeEvent decodes one line: nil, nil for a blank line.
func decodeEvent(line []byte) (*event.Event, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, nil
	}
	return event.DecodeValid(line, event.Limits{})
}
