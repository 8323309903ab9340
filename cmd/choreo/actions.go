package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/choreohq/choreo/client"
)

// runActions lists the recent actions, or shows one.
func runActions(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("actions", "actions [--correlation C] [--status S] [--limit N] | actions ID",
		`Lists the actions the engine decided, newest first, with their delivery
status: pending, delivered, dead_lettered or discarded. With ID, shows
that action in full: its rule, triggers, agent, attempts, last error and
the events its agent gave back. The server keeps the most recent actions;
older ones are in the log's $actions stream.`, false, io)
	var f client.ActionFilter
	c.fs.StringVar(&f.Correlation, "correlation", "", "only the actions of this correlation `id`")
	c.fs.StringVar(&f.Status, "status", "", "only actions with this `status`: pending, delivered, dead_lettered or discarded")
	c.fs.IntVar(&f.Limit, "limit", 100, "show at most `N` actions (the server allows up to 1000)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 1:
		return c.usage("want at most one action ID, got %d arguments", len(pos))
	case len(pos) == 1 && (f.Correlation != "" || f.Status != "" || c.isSet("limit")):
		return c.usage("an action ID does not go with --correlation, --status or --limit")
	case f.Limit < 1:
		return c.usage("--limit must be at least 1")
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		if len(pos) == 1 {
			a, err := cl.Action(ctx, pos[0])
			if err != nil {
				return err
			}
			return c.printAction(&a)
		}
		list, err := cl.Actions(ctx, f)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"actions": list})
		}
		if len(list) == 0 {
			_, err := fmt.Fprintln(c.io.out, "no actions")
			return err
		}
		tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DECIDED\tID\tACTION\tSTATUS\tAGENT\tATTEMPTS\tCORRELATION\tRULE")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s/%s\n", fmtTime(a.DecidedAt), a.ID, a.Action, a.Status, dash(a.Agent),
				a.Attempts, clip(a.CorrelationID, 40), a.Choreography, a.RuleID)
		}
		return tw.Flush()
	})
}

// printAction shows one action in full.
func (c *apiCmd) printAction(a *client.Action) error {
	if c.output == outputJSON {
		return c.json(a)
	}
	w := c.io.out
	fmt.Fprintf(w, "action %s\n", a.ID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	row("action", a.Action)
	row("capability", a.TargetCapability)
	row("rule", fmt.Sprintf("%s/%s (%s, priority %d)", a.Choreography, a.RuleID, a.RuleKind, a.Priority))
	row("correlation", a.CorrelationID)
	row("triggers", strings.Join(a.TriggerEventIDs, ", "))
	row("time", fmtTime(a.Time))
	if a.Timeout > 0 {
		row("timeout", a.Timeout.String())
	}
	row("hops", strconv.Itoa(a.Hops))
	row("status", a.Status)
	row("reason", a.Reason)
	row("agent", a.Agent)
	row("attempts", strconv.Itoa(a.Attempts))
	row("last error", a.LastError)
	if a.DurationMS > 0 {
		row("response time", strconv.FormatFloat(a.DurationMS, 'f', -1, 64)+" ms")
	}
	results := strings.Join(a.Results, ", ")
	if a.ResultsOmitted > 0 {
		results += fmt.Sprintf(" (and %d more)", a.ResultsOmitted)
	}
	row("results", results)
	row("decided", fmtTime(a.DecidedAt)+" (global position "+strconv.FormatUint(a.Position, 10)+")")
	row("updated", fmtTime(a.UpdatedAt))
	return tw.Flush()
}
