package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/choreohq/choreo/client"
)

// runDLQ is choreo dlq: the dead-letter queue.
func runDLQ(ctx context.Context, args []string, io stdio) int {
	return runGroup(ctx, "dlq", "Lists the actions the dispatcher gave up on, and retries or discards them.",
		map[string]subcommand{
			"list":    {"list the dead letters, oldest first", runDLQList},
			"retry":   {"send a dead letter, or all of them, back for delivery", runDLQRetry},
			"discard": {"remove a dead letter for good", runDLQDiscard},
		}, []string{"list", "retry", "discard"}, args, io)
}

func runDLQList(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("dlq list", "dlq list [--reason R]",
		`Lists the dead-letter queue, oldest first: each action with why it was
given up on (max_attempts, rejected, no_agent, unavailable, loop), the
attempts made, the last agent and its error.`, false, io)
	var reason string
	c.fs.StringVar(&reason, "reason", "", "only the dead letters given up on for this `reason`")
	if code, ok := c.noArgs(args); !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		list, err := cl.AllDeadLetters(ctx, client.DLQFilter{Reason: reason})
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"dead_letters": list})
		}
		if len(list) == 0 && reason != "" {
			_, err := fmt.Fprintf(c.io.out, "no dead letter given up on for %s\n", reason)
			return err
		}
		if len(list) == 0 {
			_, err := fmt.Fprintln(c.io.out, "the dead-letter queue is empty")
			return err
		}
		tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTION ID\tACTION\tREASON\tATTEMPTS\tAGENT\tCORRELATION\tLAST ERROR")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", fmtTime(d.Time), d.ActionID, d.Action.Action, d.Reason, d.Attempts,
				dash(d.Agent), clip(d.Action.CorrelationID, 40), dash(clip(d.LastError, 60)))
		}
		return tw.Flush()
	})
}

func runDLQRetry(ctx context.Context, args []string, io stdio) int {
	if !slices.ContainsFunc(args, func(a string) bool { return a == "--all" || a == "-all" }) {
		return dlqVerb(ctx, args, io, "retry", "retried",
			`Sends the dead letter of action ID back for delivery, with the same action
id, so agents that deduplicate by it still see it once. With --all, sends
back every dead letter (or those given up on for --reason), as after an
outage of the agents.`,
			(*client.Client).RetryDeadLetter)
	}
	c := newAPICmd("dlq retry", "dlq retry --all [--reason R]",
		`Sends every dead letter, or those given up on for --reason, back for
delivery, each with its own action id.`, false, io)
	var all bool
	var reason string
	c.fs.BoolVar(&all, "all", false, "retry every dead letter")
	c.fs.StringVar(&reason, "reason", "", "only the dead letters given up on for this `reason`")
	if code, ok := c.noArgs(args); !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		list, err := cl.AllDeadLetters(ctx, client.DLQFilter{Reason: reason})
		if err != nil {
			return err
		}
		retried := []string{}
		for _, d := range list {
			err := cl.RetryDeadLetter(ctx, d.ActionID)
			var ce *client.Error
			if errors.As(err, &ce) && ce.Code == "not_found" {
				continue // retried or discarded meanwhile
			}
			if err != nil {
				return fmt.Errorf("after %d retried: %w", len(retried), err)
			}
			retried = append(retried, d.ActionID)
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"retried": retried})
		}
		_, err = fmt.Fprintf(c.io.out, "retried %d dead letters\n", len(retried))
		return err
	})
}

func runDLQDiscard(ctx context.Context, args []string, io stdio) int {
	return dlqVerb(ctx, args, io, "discard", "discarded",
		`Removes the dead letter of action ID from the queue for good; the log
keeps the record of it.`,
		(*client.Client).DiscardDeadLetter)
}

func dlqVerb(ctx context.Context, args []string, io stdio, verb, done, about string, call func(*client.Client, context.Context, string) error) int {
	c := newAPICmd("dlq "+verb, "dlq "+verb+" ID", about, false, io)
	id, code, ok := c.oneArg(args, "action ID")
	if !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		if err := call(cl, ctx, id); err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]string{"action_id": id, "status": done})
		}
		_, err := fmt.Fprintf(c.io.out, "%s %s\n", done, id)
		return err
	})
}
