package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/store"
)

// tailReconnects bounds the consecutive failed attempts choreo tail makes
// to reconnect before it gives up: with the client's pause, which doubles
// up to 5 s, about a minute and a half.
const tailReconnects = 20

// runTail follows the log and prints each event as it is appended.
func runTail(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("tail", "tail [--from N] [--type T]... [--correlation C] [--stream S] [--count N]",
		`Follows the log: prints the events from global position N on, then each
new one as it is appended, in log order, until interrupted (Ctrl-C) or
--count events have been printed. Each event is one line: its time, its
global position, its stream and position there, its type, its source and
the start of its data; with --output json, one API record per line.

A dropped connection is resumed after the last event printed, so none is
lost or printed twice.`, true, io)
	var (
		from  uint64
		f     client.Filter
		count int
	)
	c.fs.Uint64Var(&from, "from", 0, "the global `position` to start at")
	c.fs.Func("type", "only events of this `type`; repeatable", func(s string) error {
		f.Types = append(f.Types, s)
		return nil
	})
	c.fs.StringVar(&f.Correlation, "correlation", "", "only events with this correlation `id`")
	c.fs.StringVar(&f.Stream, "stream", "", "only events of this `stream`")
	c.fs.IntVar(&count, "count", 0, "stop after `N` events; 0 follows until interrupted")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usage("unexpected argument %q", pos[0])
	}
	if count < 0 {
		return c.usage("--count must not be negative")
	}
	cl, err := client.New(c.server, client.WithReconnect(tailReconnects, 5*time.Second))
	if err != nil {
		return c.fail(&cliError{Code: codeInvalidInput, Field: "--server", Msg: strings.TrimPrefix(err.Error(), "client: ")})
	}
	defer cl.Close()

	// Fail at once when the server is not there, rather than after the
	// reconnection attempts.
	pctx, cancel := context.WithTimeout(ctx, defaultTimeout)
	_, _, err = cl.ReadAll(pctx, from, 1)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return c.fail(err)
	}

	n := 0
	var line []byte
	for rec, err := range cl.Subscribe(ctx, from, f) {
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return exitOK // interrupted: the normal end
			}
			return c.fail(err)
		}
		if c.output == outputJSON {
			line = append(appendRecordJSON(line[:0], &rec), '\n')
		} else {
			line = append(appendRecordLine(line[:0], &rec), '\n')
		}
		if _, err := c.io.out.Write(line); err != nil {
			return c.fail(err)
		}
		if n++; count > 0 && n >= count {
			return exitOK
		}
	}
	return exitOK
}

// appendRecordLine appends the one-line form of rec: time, global
// position, stream and position, type, source, and the start of the data.
func appendRecordLine(b []byte, rec *store.Record) []byte {
	ev := rec.Event
	t := rec.Recorded
	if ev != nil && !ev.Time.IsZero() {
		t = ev.Time
	}
	b = append(b, fmtTime(t)...)
	b = fmt.Appendf(b, "  %6s  %s  ", "#"+strconv.FormatUint(rec.GlobalPosition, 10), clip(rec.Stream+"["+strconv.FormatUint(rec.StreamPosition, 10)+"]", 40))
	if ev == nil {
		return b
	}
	b = fmt.Appendf(b, "%s  %s", clip(ev.Type, 40), clip(ev.Source, 30))
	if d := dataSummary(ev.Data, ev.DataBase64, ev.DataContentType); d != "" {
		b = append(b, "  "...)
		b = append(b, d...)
	}
	return b
}

// dataSummary is the start of an event's data, on one line.
func dataSummary(data, data64 []byte, contentType string) string {
	switch {
	case data != nil:
		return clip(string(data), 80)
	case data64 != nil:
		if contentType == "" {
			contentType = "binary"
		}
		return fmt.Sprintf("(%d bytes of %s)", len(data64), contentType)
	}
	return ""
}
