package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/choreohq/choreo/client"
	"github.com/choreohq/choreo/store"
)

// getPage is how many records one read of choreo get asks for: the API's
// largest page.
const getPage = 1000

// runGet prints a stream, or a correlation with its actions, as a
// timeline.
func runGet(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("get", "get STREAM | get --correlation ID",
		`Prints the events of STREAM in order, each with its time relative to the
first event's. With --correlation, prints the correlation's events, then
the actions decided for it with their delivery status, agent and
attempts, then an analysis: event count, duration, average interval,
sources and counts per type.`, false, io)
	var (
		corr  string
		limit int
	)
	c.fs.StringVar(&corr, "correlation", "", "the correlation `id` to show, with its actions")
	c.fs.IntVar(&limit, "limit", 10000, "for STREAM, read at most `N` events")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case corr != "" && len(pos) > 0:
		return c.usage("give STREAM or --correlation, not both")
	case corr == "" && len(pos) != 1:
		return c.usage("give one STREAM, or --correlation ID")
	case limit < 1:
		return c.usage("--limit must be at least 1")
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		if corr != "" {
			co, err := cl.Correlation(ctx, corr)
			if err != nil {
				return err
			}
			return c.printCorrelation(&co)
		}
		return c.getStream(ctx, cl, pos[0], limit)
	})
}

func (c *apiCmd) getStream(ctx context.Context, cl *client.Client, stream string, limit int) error {
	var recs []store.Record
	var from uint64
	truncated := false
	for {
		page, next, err := cl.ReadStream(ctx, stream, from, min(getPage, limit-len(recs)+1))
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		recs = append(recs, page...)
		if len(recs) > limit {
			recs, truncated = recs[:limit], true
			break
		}
		from = next
	}
	if len(recs) == 0 {
		return &cliError{Code: codeNotFound, Field: "stream", Msg: fmt.Sprintf("no events in stream %q", stream)}
	}
	if c.output == outputJSON {
		return c.json(struct {
			Stream    string      `json:"stream"`
			Events    recordsJSON `json:"events"`
			Truncated bool        `json:"truncated"`
		}{stream, recs, truncated})
	}
	w := c.io.out
	fmt.Fprintf(w, "stream %s: %s\n\n", stream, timeSpan(recs))
	printTimeline(w, recs, false)
	if truncated {
		fmt.Fprintf(w, "\n(the first %d events; --limit reads more)\n", limit)
	}
	return nil
}

func (c *apiCmd) printCorrelation(co *client.Correlation) error {
	if c.output == outputJSON {
		// The API's answer, its actions newest first.
		return c.json(struct {
			ID        string          `json:"correlation_id"`
			Events    recordsJSON     `json:"events"`
			Actions   []client.Action `json:"actions"`
			Analysis  client.Analysis `json:"analysis"`
			Truncated bool            `json:"truncated"`
		}{co.ID, co.Events, co.Actions, co.Analysis, co.Truncated})
	}
	acts := slices.Clone(co.Actions)
	// The API lists actions newest first; a timeline reads oldest first.
	slices.SortStableFunc(acts, func(a, b client.Action) int {
		if n := a.Time.Compare(b.Time); n != 0 {
			return n
		}
		return cmp.Compare(a.Position, b.Position)
	})
	w := c.io.out
	fmt.Fprintf(w, "correlation %s: %s\n", co.ID, timeSpan(co.Events))
	if len(co.Events) > 0 {
		fmt.Fprintln(w, "\nevents")
		printTimeline(w, co.Events, true)
		if co.Truncated {
			fmt.Fprintf(w, "  (the first %d events only)\n", len(co.Events))
		}
	}
	fmt.Fprintf(w, "\nactions (%d)\n", len(acts))
	origin := firstTime(co.Events)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range acts {
		status := a.Status
		if a.Reason != "" {
			status += " (" + a.Reason + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t→ %s\t%s\t%s\t%s\t%s/%s",
			relTime(a.Time, origin), a.Action, a.TargetCapability, status, dash(a.Agent), plural(a.Attempts, "attempt"), a.Choreography, a.RuleID)
		if a.LastError != "" {
			fmt.Fprintf(tw, "\t%s", clip(a.LastError, 60))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if len(acts) == 0 {
		fmt.Fprintln(w, "  none")
	}

	an := co.Analysis
	fmt.Fprintln(w, "\nanalysis")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  events\t%d\n", an.EventCount)
	fmt.Fprintf(tw, "  duration\t%s\n", fmtDuration(an.Duration))
	fmt.Fprintf(tw, "  average interval\t%s\n", fmtDuration(an.AverageInterval))
	fmt.Fprintf(tw, "  sources\t%d\n", an.UniqueSources)
	types := make([]string, 0, len(an.EventTypes))
	for t := range an.EventTypes {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int {
		return cmp.Or(cmp.Compare(an.EventTypes[b], an.EventTypes[a]), cmp.Compare(a, b))
	})
	for i, t := range types {
		label := ""
		if i == 0 {
			label = "types"
		}
		fmt.Fprintf(tw, "  %s\t%s %d\n", label, t, an.EventTypes[t])
	}
	return tw.Flush()
}

// printTimeline writes one line per record: its time relative to the
// first event's, its stream position (and stream, when they differ), its
// global position, type, source and the start of its data.
func printTimeline(w io.Writer, recs []store.Record, withStream bool) {
	origin := firstTime(recs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := range recs {
		rec := &recs[i]
		ev := rec.Event
		where := "[" + strconv.FormatUint(rec.StreamPosition, 10) + "]"
		if withStream {
			where = rec.Stream + where
		}
		var t time.Time
		typ, source, data := "", "", ""
		if ev != nil {
			t, typ, source, data = ev.Time, ev.Type, ev.Source, dataSummary(ev.Data, ev.DataBase64, ev.DataContentType)
		}
		fmt.Fprintf(tw, "  %s\t%s\t#%d\t%s\t%s\t%s\n", relTime(t, origin), clip(where, 40), rec.GlobalPosition, clip(typ, 40), clip(source, 30), data)
	}
	tw.Flush()
}

// firstTime is the time of the first record with one.
func firstTime(recs []store.Record) time.Time {
	for i := range recs {
		if ev := recs[i].Event; ev != nil && !ev.Time.IsZero() {
			return ev.Time
		}
	}
	return time.Time{}
}

// relTime shows t relative to origin: "+1m2s".
func relTime(t, origin time.Time) string {
	if t.IsZero() || origin.IsZero() {
		return "?"
	}
	d := t.Sub(origin)
	if d < 0 {
		return "-" + fmtDuration(-d)
	}
	return "+" + fmtDuration(d)
}

// timeSpan describes records: how many, and from when to when by event time.
func timeSpan(recs []store.Record) string {
	var lo, hi time.Time
	for i := range recs {
		ev := recs[i].Event
		if ev == nil || ev.Time.IsZero() {
			continue
		}
		if lo.IsZero() || ev.Time.Before(lo) {
			lo = ev.Time
		}
		if ev.Time.After(hi) {
			hi = ev.Time
		}
	}
	var b strings.Builder
	b.WriteString(plural(len(recs), "event"))
	if !lo.IsZero() {
		fmt.Fprintf(&b, " from %s to %s (%s)", fmtTime(lo), fmtTime(hi), fmtDuration(hi.Sub(lo)))
	}
	return b.String()
}
