package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden runs each case under testdata/: a directory holding
// choreography.yaml and events.jsonl (structured-mode CloudEvents, one per
// line; blank lines and lines starting with # are skipped). The engine
// processes the events in order and then flushes; the actions, a "# flush"
// line before those of the flush, and a final "# metrics" line must equal
// want.jsonl. Run with -update to rewrite want.jsonl.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "choreography.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ch, err := choreography.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			evs := readEvents(t, filepath.Join(dir, "events.jsonl"))
			golden(t, filepath.Join(dir, "want.jsonl"), []*choreography.Choreography{ch}, evs)
		})
	}
}

// TestGoldenExample runs the example choreography over the example
// events.
func TestGoldenExample(t *testing.T) {
	evs := readEvents(t, filepath.Join("..", "examples", "orders.jsonl"))
	golden(t, filepath.Join("testdata", "example.golden.jsonl"), []*choreography.Choreography{ecommerce()}, evs)
}

func golden(t *testing.T, path string, chs []*choreography.Choreography, evs []*event.Event) {
	t.Helper()
	got := runGolden(t, chs, evs)
	if again := runGolden(t, chs, evs); !bytes.Equal(got, again) {
		t.Fatal("two runs over the same events differ")
	}
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w []byte
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if !bytes.Equal(g, w) {
				t.Fatalf("%s line %d:\ngot  %s\nwant %s\n(run with -update to accept)", path, i+1, g, w)
			}
		}
	}
}

func runGolden(t *testing.T, chs []*choreography.Choreography, evs []*event.Event) []byte {
	e := mustNew(t, Config{}, chs...)
	var b []byte
	for _, ev := range evs {
		for _, a := range e.Process(ev) {
			b = append(a.AppendJSON(b), '\n')
		}
	}
	b = append(b, "# flush\n"...)
	for _, a := range e.Flush() {
		b = append(a.AppendJSON(b), '\n')
	}
	m := e.Metrics()
	m.Rules = nil
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "# metrics "...)
	b = append(b, mj...)
	return append(b, '\n')
}

func readEvents(t *testing.T, path string) []*event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []*event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		ev, err := event.Decode(line)
		if err == nil {
			err = ev.Validate(event.Limits{})
		}
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}
