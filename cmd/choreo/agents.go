package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/client"
)

// subcommand is one subcommand of a command group such as choreo agents.
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
}

// runGroup runs the subcommand args[0] of the group name.
func runGroup(ctx context.Context, name, about string, subs map[string]subcommand, order []string, args []string, sio stdio) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: choreo %s <subcommand> [flags]\n\n%s\n\nsubcommands:\n", name, about)
		for _, s := range order {
			fmt.Fprintf(w, "  %-10s %s\n", s, subs[s].summary)
		}
		fmt.Fprintf(w, "\nRun 'choreo %s <subcommand> -h' for a subcommand's flags.\n", name)
	}
	if len(args) == 0 {
		usage(sio.err)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(sio.err)
		return exitOK
	}
	sub, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(sio.err, "choreo %s: unknown subcommand %q\n\n", name, args[0])
		usage(sio.err)
		return exitUsage
	}
	return sub.run(ctx, args[1:], sio)
}

// runAgents is choreo agents: the agent registry.
func runAgents(ctx context.Context, args []string, io stdio) int {
	return runGroup(ctx, "agents", "Lists, registers and removes the agents the dispatcher delivers actions to.",
		map[string]subcommand{
			"list":      {"list the registered agents", runAgentsList},
			"get":       {"show one agent", runAgentsGet},
			"register":  {"register an agent from a profile or an A2A agent card", runAgentsRegister},
			"rm":        {"remove an agent", runAgentsRm},
			"heartbeat": {"report an agent alive, with its load", runAgentsHeartbeat},
		}, []string{"list", "get", "register", "rm", "heartbeat"}, args, io)
}

func runAgentsList(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("agents list", "agents list",
		`Lists the registered agents: id, status, whether live (a heartbeat within
the server's live window), load, protocol, capabilities, endpoint and the
age of the last heartbeat.`, false, io)
	if code, ok := c.noArgs(args); !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		list, err := cl.Agents(ctx)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"agents": list})
		}
		if len(list) == 0 {
			_, err := fmt.Fprintln(c.io.out, "no agents registered")
			return err
		}
		now := time.Now()
		tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tLIVE\tLOAD\tPROTOCOL\tCAPABILITIES\tENDPOINT\tHEARTBEAT")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", a.ID, a.Status, yesNo(a.Live), a.Load, a.Transport(),
				clip(strings.Join(a.Capabilities, ","), 60), clip(a.Endpoint, 60), fmtAge(a.LastHeartbeat, now))
		}
		return tw.Flush()
	})
}

func runAgentsGet(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("agents get", "agents get ID", "Shows the registered agent ID.", false, io)
	id, code, ok := c.oneArg(args, "ID")
	if !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		a, err := cl.Agent(ctx, id)
		if err != nil {
			return err
		}
		return c.printAgent(&a, "")
	})
}

func runAgentsRegister(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("agents register", "agents register --id ID --capability C... --endpoint E [--protocol P] [flags]\n       choreo agents register --card URL",
		`Registers an agent, or replaces the registration of the agent with that
id. Give its profile with the flags, or the base URL of an A2A agent whose
agent card the server fetches (--card): the card's skills become its
capabilities.

With --protocol inproc the endpoint is the name of a Go handler that the
server's own process registered with dispatch.InProcess.Handle: for a
server embedded in a Go program. The server accepts any printable name,
but choreo serve registers no handler, so on it every delivery to such an
agent fails (no in-process handler), and its actions go to another agent
or to the dead-letter queue.`, false, io)
	var (
		p        agent.Profile
		card     string
		status   string
		metadata string
	)
	c.fs.StringVar(&p.ID, "id", "", "the agent's `id`")
	c.fs.StringVar(&p.Name, "name", "", "the agent's `name`, for people")
	c.fs.StringVar(&p.Description, "description", "", "what the agent does, for people")
	c.fs.Func("capability", "a `capability` the agent has; repeatable", func(s string) error {
		p.Capabilities = append(p.Capabilities, s)
		return nil
	})
	c.fs.StringVar(&p.Endpoint, "endpoint", "", "where actions are delivered: a webhook `URL`, an A2A base URL, or for inproc the name of a handler registered in the server's process (choreo serve has none)")
	c.fs.StringVar(&p.Protocol, "protocol", agent.ProtocolWebhook, "how actions are delivered: webhook, a2a, or inproc (only for a server embedded in a Go program)")
	c.fs.StringVar(&status, "status", "", "the agent's `status`: active (the default), busy, maintenance or offline")
	c.fs.StringVar(&metadata, "metadata", "", "a JSON `object` of metadata")
	c.fs.StringVar(&card, "card", "", "register the A2A agent whose card is served at this base `URL`")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usage("unexpected argument %q", pos[0])
	}
	var profileFlags []string
	for _, name := range []string{"id", "name", "description", "capability", "endpoint", "protocol", "status", "metadata"} {
		if c.isSet(name) {
			profileFlags = append(profileFlags, "--"+name)
		}
	}
	switch {
	case card != "" && len(profileFlags) > 0:
		return c.usage("--card registers from the agent card: %s do not go with it", strings.Join(profileFlags, ", "))
	case card == "" && p.ID == "":
		return c.usage("--id (with --capability and --endpoint) or --card is required")
	}
	p.Status = agent.Status(status)
	if metadata != "" {
		if err := json.Unmarshal([]byte(metadata), &p.Metadata); err != nil || p.Metadata == nil {
			return c.usage("--metadata: want a JSON object")
		}
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		var (
			a   client.Agent
			err error
		)
		if card != "" {
			a, err = cl.RegisterCard(ctx, card)
		} else {
			a, err = cl.RegisterAgent(ctx, p)
		}
		if err != nil {
			return err
		}
		return c.printAgent(&a, "registered ")
	})
}

func runAgentsRm(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("agents rm", "agents rm ID", "Removes agent ID from the registry: it is offered no more actions.", false, io)
	id, code, ok := c.oneArg(args, "ID")
	if !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		if err := cl.UnregisterAgent(ctx, id); err != nil {
			return err
		}
		if c.output == outputJSON {
			return nil // the API answers 204, with no body
		}
		_, err := fmt.Fprintf(c.io.out, "removed agent %s\n", id)
		return err
	})
}

func runAgentsHeartbeat(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("agents heartbeat", "agents heartbeat ID [--load L] [--status S]",
		`Reports agent ID alive, so that it stays live, with its load (0 idle to
1 saturated) and status when given; those not given keep their values.`, false, io)
	var (
		load   float64
		status string
	)
	c.fs.Float64Var(&load, "load", 0, "the agent's `load`, from 0 (idle) to 1 (saturated)")
	c.fs.StringVar(&status, "status", "", "the agent's `status`: active, busy, maintenance or offline")
	id, code, ok := c.oneArg(args, "ID")
	if !ok {
		return code
	}
	hb := agent.Heartbeat{Status: agent.Status(status)}
	if c.isSet("load") {
		hb.Load = &load
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		a, err := cl.Heartbeat(ctx, id, hb)
		if err != nil {
			return err
		}
		return c.printAgent(&a, "")
	})
}

// printAgent shows one agent, after a verb such as "registered ".
func (c *apiCmd) printAgent(a *client.Agent, verb string) error {
	if c.output == outputJSON {
		return c.json(a)
	}
	w := c.io.out
	fmt.Fprintf(w, "%sagent %s\n", verb, a.ID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	row("name", a.Name)
	row("description", clip(a.Description, 100))
	row("capabilities", strings.Join(a.Capabilities, ", "))
	row("protocol", a.Transport())
	row("endpoint", a.Endpoint)
	row("card", a.CardURL)
	row("status", string(a.Status))
	row("live", yesNo(a.Live))
	row("load", strconv.FormatFloat(a.Load, 'f', 2, 64))
	row("heartbeat", fmtTime(a.LastHeartbeat)+" ("+fmtAge(a.LastHeartbeat, time.Now())+")")
	if len(a.Metadata) > 0 {
		b, _ := json.Marshal(a.Metadata)
		row("metadata", clip(string(b), 100))
	}
	return tw.Flush()
}

// noArgs parses args for a command that takes flags only.
func (c *apiCmd) noArgs(args []string) (int, bool) {
	pos, code, ok := c.parse(args)
	if !ok {
		return code, false
	}
	if len(pos) > 0 {
		return c.usage("unexpected argument %q", pos[0]), false
	}
	return 0, true
}

// oneArg parses args for a command that takes one argument, named what.
func (c *apiCmd) oneArg(args []string, what string) (string, int, bool) {
	pos, code, ok := c.parse(args)
	if !ok {
		return "", code, false
	}
	if len(pos) != 1 || pos[0] == "" {
		return "", c.usage("want one %s, got %d arguments", what, len(pos)), false
	}
	return pos[0], 0, true
}

// isSet reports whether the flag name was given.
func (c *apiCmd) isSet(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
