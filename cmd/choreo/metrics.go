package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/choreohq/choreo/client"
)

// metricsOrder is the order of the groups choreo metrics knows; others
// follow by name.
var metricsOrder = []string{"engine", "dispatch", "actions", "agents", "process"}

// metricsKeyColumns are the members that name an element of a list of
// figures; they come first in its table.
var metricsKeyColumns = []string{"choreography", "rule_id", "id", "name", "agent", "action", "kind"}

// runMetrics prints the server's figures.
func runMetrics(ctx context.Context, args []string, io stdio) int {
	c := newAPICmd("metrics", "metrics",
		`Prints the server's figures, group by group: the engine (events processed,
lag, actions), the dispatcher (deliveries, attempts, dead letters, per
rule), actions by status, agents, and the process (uptime, event rate,
memory). With --output json, prints GET /v1/metrics as the server gives it.`, false, io)
	if code, ok := c.noArgs(args); !ok {
		return code
	}
	return c.run(ctx, func(ctx context.Context, cl *client.Client) error {
		m, err := cl.Metrics(ctx)
		if err != nil {
			return err
		}
		if c.output == outputJSON {
			return c.json(m)
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.SortFunc(names, func(a, b string) int {
			ia, ib := slices.Index(metricsOrder, a), slices.Index(metricsOrder, b)
			switch {
			case ia >= 0 && ib >= 0:
				return ia - ib
			case ia >= 0:
				return -1
			case ib >= 0:
				return 1
			}
			return strings.Compare(a, b)
		})
		w := c.io.out
		for i, name := range names {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w, name)
			printFigures(w, m[name], "  ")
		}
		return nil
	})
}

// printFigures writes v, a decoded JSON value, indented: a row per scalar,
// a sub-section per object, a table per list of objects.
func printFigures(w io.Writer, v any, indent string) {
	obj, ok := v.(map[string]any)
	if !ok {
		if list, ok := v.([]any); ok && len(list) > 0 {
			if _, ok := list[0].(map[string]any); ok {
				printTable(w, list, indent)
				return
			}
		}
		fmt.Fprintf(w, "%s%s\n", indent, figure("", v))
		return
	}
	keys := sortedKeys(obj)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var nested []string
	for _, k := range keys {
		switch x := obj[k].(type) {
		case map[string]any:
			nested = append(nested, k)
		case []any:
			if len(x) > 0 {
				if _, ok := x[0].(map[string]any); ok {
					nested = append(nested, k)
					continue
				}
			}
			fmt.Fprintf(tw, "%s%s\t%s\n", indent, figureLabel(k), figure(k, x))
		default:
			fmt.Fprintf(tw, "%s%s\t%s\n", indent, figureLabel(k), figure(k, x))
		}
	}
	tw.Flush()
	for _, k := range nested {
		fmt.Fprintf(w, "%s%s\n", indent, figureLabel(k))
		if list, ok := obj[k].([]any); ok {
			printTable(w, list, indent+"  ")
			continue
		}
		printFigures(w, obj[k], indent+"  ")
	}
}

// printTable writes a list of objects as a table: the naming members
// first, then the others by name.
func printTable(w io.Writer, list []any, indent string) {
	seen := map[string]bool{}
	var cols []string
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			for k, v := range m {
				if _, nested := v.(map[string]any); !nested && !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
	}
	slices.SortFunc(cols, func(a, b string) int {
		ia, ib := slices.Index(metricsKeyColumns, a), slices.Index(metricsKeyColumns, b)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a, b)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintf(tw, "%s%s\n", indent, strings.Join(head, "\t"))
	for _, x := range list {
		m, _ := x.(map[string]any)
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = "-"
			if v, ok := m[c]; ok {
				row[i] = figure(c, v)
			}
		}
		fmt.Fprintf(tw, "%s%s\n", indent, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// figureLabel is a member name for people: "events_processed" → "events
// processed". A unit suffix that figure shows in the value is dropped:
// "heap_alloc_bytes" → "heap alloc".
func figureLabel(k string) string {
	for _, unit := range []string{"_bytes", "_seconds", "_ms"} {
		if base, ok := strings.CutSuffix(k, unit); ok && base != "" {
			k = base
			break
		}
	}
	return strings.ReplaceAll(k, "_", " ")
}

// figure shows one value, in units its name suggests.
func figure(name string, v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case bool:
		return yesNo(x)
	case string:
		return clip(x, 80)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		switch {
		case strings.HasSuffix(name, "_bytes"):
			return fmtBytes(f)
		case strings.HasSuffix(name, "_seconds"):
			return fmtDuration(time.Duration(f * float64(time.Second)))
		case strings.HasSuffix(name, "_ms"):
			return strconv.FormatFloat(f, 'f', 3, 64) + " ms"
		}
		if _, err := x.Int64(); err == nil {
			return x.String()
		}
		return strconv.FormatFloat(f, 'f', 3, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = figure("", e)
		}
		if len(parts) == 0 {
			return "-"
		}
		return clip(strings.Join(parts, ", "), 80)
	}
	b, _ := json.Marshal(v)
	return clip(string(b), 80)
}

// fmtBytes shows a size in bytes with a binary unit.
func fmtBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(n, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + " " + units[i]
}
