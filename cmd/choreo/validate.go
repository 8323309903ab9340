package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
)

// runValidate loads each choreography file and reports every problem as
// "file:line:col: rule: message". It exits 1 when any file has a problem.
func runValidate(_ context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: choreo validate FILE...\n\nChecks choreography files (YAML or JSON) and prints every problem as\nfile:line:col: rule: message, or one \"ok\" line per good file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	code := 0
	for _, file := range fs.Args() {
		ch, err := choreography.LoadFile(file)
		if err == nil {
			// The engine checks what a single file cannot show.
			_, err = engine.New([]*choreography.Choreography{ch}, engine.Config{})
		}
		if err != nil {
			code = 1
			var ps choreography.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					if p.File == "" {
						p.File = file
					}
					fmt.Fprintln(io.out, p.String())
				}
				continue
			}
			fmt.Fprintf(io.out, "%s: %v\n", file, err)
			continue
		}
		fmt.Fprintf(io.out, "%s: ok: %s (%s, %s, %s)\n", file, ch.Name,
			plural(len(ch.Patterns), "pattern"), plural(len(ch.Sequences), "sequence"), plural(len(ch.Complex), "complex pattern"))
	}
	return code
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
