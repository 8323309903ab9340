package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/choreohq/choreo/client"
)

// runDLQ is choreo dlq: the dead-letter queue.
func runDLQ(ctx context.Context, args []string, io stdio) int {
	return runGroup(ctx, "dlq", "Lists the actions the dispatcher gave up on, and retries or discards them.",
		map[string]subcommand{
			"list":    {"list the dead letters, oldest first", runDLQList},
			"retry":   {"send a dead letter back for delivery", runDLQRetry},
			"discard": {"remove a dead letter for good", runDLQDiscard},
		}, []string{"list", "retry", "discard"}, args, io)
}

func runDLQList(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("dlq list", "dlq list",
		`Lists the dead-letter queue, oldest first: each action with why it was
given up on (max_attempts, rejected, no_agent, unavailable, loop), the
attempts made, the last agent and its error.`, false, io)
	if code, ok := c.noArgs(args); !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		list, err := cl.DeadLetters(ctx)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"dead_letters": list})
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
	return dlqVerb(ctx, args, io, "retry", "retried",
		`Sends the dead letter of action ID back for delivery, with the same action
id, so agents that deduplicate by it still see it once.`,
		(*client.Client).RetryDeadLetter)
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
