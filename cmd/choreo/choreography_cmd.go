package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/client"
)

// maxChoreographyBytes bounds a choreography file choreo choreography
// deploy sends: the API's default body limit.
const maxChoreographyBytes = 8 << 20

// codeInvalidChoreography is the code of a choreography that does not
// load, the same as the API's.
const codeInvalidChoreography = "invalid_choreography"

// runChoreography is choreo choreography: deployed choreographies.
func runChoreography(ctx context.Context, args []string, io stdio) int {
	return runGroup(ctx, "choreography", "Deploys, lists and removes the choreographies the server runs.",
		map[string]subcommand{
			"deploy":   {"deploy a choreography file as the next version of its name", runChoreographyDeploy},
			"list":     {"list the deployed choreographies", runChoreographyList},
			"get":      {"show the deployed version of one choreography, with its source", runChoreographyGet},
			"versions": {"list every version of one choreography", runChoreographyVersions},
			"rm":       {"remove a deployed choreography", runChoreographyRm},
		}, []string{"deploy", "list", "get", "versions", "rm"}, args, io)
}

func runChoreographyDeploy(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("choreography deploy", "choreography deploy FILE [--name N]",
		`Deploys the choreography in FILE (YAML, or JSON for a .json file) as the
next version of its name: the document's name, or --name. The new version
acts on the events that come after it; the previous version, if any,
stops there. Deploying the source of the current version again changes
nothing.`, false, io)
	var name string
	c.fs.StringVar(&name, "name", "", "deploy under this `name`; empty: the document's name")
	file, code, ok := c.oneArg(args, "FILE")
	if !ok {
		return code
	}
	source, err := readFileLimited(file, maxChoreographyBytes)
	if err != nil {
		return c.fail(inputErr("", "%v", err))
	}
	contentType := ""
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml":
		contentType = "application/yaml"
	case ".json":
		contentType = "application/json"
	}
	if name == "" {
		// The document's name, or the file's when it has none; a document
		// that does not load is reported here with its positions.
		base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		ch, err := choreography.Parse(base, source)
		if err != nil {
			return c.failChoreography(file, err)
		}
		name = ch.Name
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		d, created, err := cl.Deploy(ctx, name, source, contentType)
		if err != nil {
			return inFile(err, file)
		}
		if c.output == outputJSON {
			// The API's answer: the deployment and whether it changed
			// anything (201 for a new version, 200 for the current one).
			return c.json(struct {
				client.Deployment
				Changed bool `json:"changed"`
			}{d, created})
		}
		if !created {
			_, err := fmt.Fprintf(c.io.out, "%s version %d is already deployed with this source: nothing changed\n", d.Name, d.Version)
			return err
		}
		_, err = fmt.Fprintf(c.io.out, "deployed %s version %d: %s, sha256 %s, at global position %d\n",
			d.Name, d.Version, plural(d.Rules, "rule"), shortSum(d.SHA256), d.Position)
		return err
	})
}

// failChoreography reports the problems of a document that does not load,
// each as file:line:col: rule: message, and returns exitFailure.
func (c *apiCmd) failChoreography(file string, err error) int {
	var ps choreography.Problems
	if !errors.As(err, &ps) {
		return c.fail(inputErr("", "%s: %v", file, err))
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		if p.File == "" {
			p.File = file
		}
		lines[i] = p.String()
	}
	return c.fail(&cliError{Code: codeInvalidChoreography, Msg: strings.Join(lines, "\n")})
}

func runChoreographyList(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("choreography list", "choreography list", "Lists the current version of every deployed choreography.", false, io)
	if code, ok := c.noArgs(args); !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		list, err := cl.Choreographies(ctx)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"choreographies": list})
		}
		if len(list) == 0 {
			_, err := fmt.Fprintln(c.io.out, "no choreographies deployed")
			return err
		}
		tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tRULES\tDEPLOYED\tPOSITION\tSHA256")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\n", d.Name, d.Version, d.Rules, fmtTime(d.DeployedAt), d.Position, shortSum(d.SHA256))
		}
		return tw.Flush()
	})
}

func runChoreographyGet(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("choreography get", "choreography get NAME", "Shows the deployed version of the choreography NAME and its source.", false, io)
	name, code, ok := c.oneArg(args, "NAME")
	if !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		d, err := cl.Choreography(ctx, name)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(d)
		}
		tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "choreography %s\n", d.Name)
		fmt.Fprintf(tw, "  version\t%d\n", d.Version)
		fmt.Fprintf(tw, "  rules\t%d\n", d.Rules)
		fmt.Fprintf(tw, "  deployed\t%s (global position %s)\n", fmtTime(d.DeployedAt), strconv.FormatUint(d.Position, 10))
		fmt.Fprintf(tw, "  sha256\t%s\n", d.SHA256)
		if err := tw.Flush(); err != nil {
			return err
		}
		src := d.Source
		if src != "" && !strings.HasSuffix(src, "\n") {
			src += "\n"
		}
		_, err = fmt.Fprintf(c.io.out, "\n%s", src)
		return err
	})
}

func runChoreographyVersions(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("choreography versions", "choreography versions NAME",
		`Lists every version of the choreography NAME ever deployed, the oldest
first: when each was deployed, and the global position from which it no
longer acts (the next version or the removal).`, false, io)
	name, code, ok := c.oneArg(args, "NAME")
	if !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		list, err := cl.ChoreographyVersions(ctx, name)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(map[string]any{"versions": list})
		}
		tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tRULES\tDEPLOYED\tPOSITION\tENDED AT\tSHA256")
		for _, d := range list {
			end := "current"
			switch {
			case d.Removed:
				end = fmt.Sprintf("#%d (removed)", d.End)
			case d.End != 0:
				end = fmt.Sprintf("#%d", d.End)
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t#%d\t%s\t%s\n", d.Version, d.Rules, fmtTime(d.DeployedAt), d.Position, end, shortSum(d.SHA256))
		}
		return tw.Flush()
	})
}

func runChoreographyRm(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("choreography rm", "choreography rm NAME",
		"Removes the choreography NAME: it acts on no event from now on. The log keeps its history.", false, io)
	name, code, ok := c.oneArg(args, "NAME")
	if !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		if err := cl.RemoveChoreography(ctx, name); err != nil {
			return err
		}
		if c.output == outputJSON {
			return nil // the API answers 204, with no body
		}
		_, err := fmt.Fprintf(c.io.out, "removed choreography %s\n", name)
		return err
	})
}

// inFile puts the file's name before each "line:col: " problem of an
// invalid_choreography error, so that they read as the local ones do.
func inFile(err error, file string) error {
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != codeInvalidChoreography {
		return err
	}
	lines := strings.Split(ae.Message, "\n")
	for i, l := range lines {
		if l != "" && l[0] >= '0' && l[0] <= '9' {
			lines[i] = file + ":" + l
		}
	}
	c := *ae
	c.Message = strings.Join(lines, "\n")
	return &c
}

// shortSum is the start of a hex digest, enough to tell versions apart.
func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
