package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/internal/workload"
)

var (
	exampleChoreography = filepath.Join("..", "..", "examples", "ecommerce.yaml")
	exampleEvents       = filepath.Join("..", "..", "examples", "orders.jsonl")
)

const absenceYAML = `name: waits
complex_patterns:
  - id: payment_timeout
    type: absence
    event_type: inventory_confirmed
    expected_event: payment_successful
    timeout: 30s
    action: escalate
    target_capability: orders
`

func line(id, typ, corr, time string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"t","type":"` + typ + `","time":"` + time + `","correlationid":"` + corr + `"}`
}

func TestRunActions(t *testing.T) {
	code, out, errOut := runCmd(t, "", "run", "--choreography", exampleChoreography, "--events", exampleEvents)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 200 {
		t.Fatalf("got %d actions", len(lines))
	}
	for i, l := range lines {
		var a engine.Action
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if a.ID == "" || a.Action == "" || a.TargetCapability == "" || a.RuleID == "" || a.CorrelationID == "" || len(a.TriggerEventIDs) == 0 {
			t.Fatalf("line %d: missing fields: %s", i+1, l)
		}
	}
	// The same as the engine's golden output for these files, less the
	// timers a flush would fire.
	golden, err := os.ReadFile(filepath.Join("..", "..", "engine", "testdata", "example.golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := strings.Cut(string(golden), "# flush\n")
	if out != before {
		t.Errorf("output differs from engine/testdata/example.golden.jsonl")
	}
	// Standard input works the same.
	in, _ := os.ReadFile(exampleEvents)
	_, out2, _ := runCmd(t, string(in), "run", "--choreography", exampleChoreography, "--events", "-")
	if out2 != out {
		t.Errorf("reading standard input gives a different output")
	}
}

func TestRunSummary(t *testing.T) {
	code, out, errOut := runCmd(t, "", "run", "--choreography", exampleChoreography, "--events", exampleEvents, "--summary")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var counts map[string]int
	if err := json.Unmarshal([]byte(out), &counts); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if counts["check_inventory"] != workload.Example.Orders {
		t.Errorf("check_inventory: got %d, want one per order (%d)", counts["check_inventory"], workload.Example.Orders)
	}
	if counts["close_order"] == 0 || counts["retry_payment"] == 0 {
		t.Errorf("got %v", counts)
	}
}

func TestRunTimers(t *testing.T) {
	dir := t.TempDir()
	ch := writeFile(t, dir, "waits.yaml", absenceYAML)
	events := strings.Join([]string{
		line("1", "inventory_confirmed", "a", "2025-01-01T00:00:00Z"),
		line("2", "inventory_confirmed", "b", "2025-01-01T00:00:10Z"),
		line("3", "x", "c", "2025-01-01T00:00:30Z"),
	}, "\n") + "\n"
	// a is due at 30s, the last event's time: it fires at the end. b is
	// due at 40s: only --flush fires it.
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{nil, []string{`"a"`}},
		{[]string{"--flush"}, []string{`"a"`, `"b"`}},
	} {
		args := append([]string{"run", "--choreography", ch, "--events", "-"}, tc.flags...)
		code, out, errOut := runCmd(t, events, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.flags, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(tc.want) {
			t.Fatalf("%v: got %d actions, want %d:\n%s", tc.flags, len(lines), len(tc.want), out)
		}
		for i, w := range tc.want {
			if !strings.Contains(lines[i], `"correlation_id":`+w) {
				t.Errorf("%v: action %d: got %s, want correlation %s", tc.flags, i+1, lines[i], w)
			}
		}
	}
}

func TestRunBadLines(t *testing.T) {
	dir := t.TempDir()
	ch := writeFile(t, dir, "waits.yaml", absenceYAML)
	events := strings.Join([]string{
		line("1", "inventory_confirmed", "a", "2025-01-01T00:00:00Z"),
		"",
		`{"specversion":"1.0","id":"2","type":"x"}`, // no source
		`not json`,
		line("3", "x", "c", "2025-01-01T00:01:00Z"),
	}, "\n")

	code, out, errOut := runCmd(t, events, "run", "--choreography", ch, "--events", "-")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "stdin:3: ") || !strings.Contains(errOut, "source") {
		t.Errorf("stderr %q does not name line 3 and its fault", errOut)
	}
	if out != "" {
		t.Errorf("stdout: got %q, want nothing", out)
	}

	code, out, errOut = runCmd(t, events, "run", "--choreography", ch, "--events", "-", "--skip-bad")
	if code != 0 {
		t.Fatalf("--skip-bad: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "skipped 2 bad event lines") || !strings.Contains(errOut, "stdin:4: ") {
		t.Errorf("--skip-bad: stderr %q", errOut)
	}
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"escalate"`) {
		t.Errorf("--skip-bad: got %q, want the one absence action", out)
	}
}

// TestRunInvalidUTF8Line: a line whose JSON holds bytes that are not
// UTF-8 is a bad line, reported with its number and the attribute at
// fault, as the server would refuse the event.
func TestRunInvalidUTF8Line(t *testing.T) {
	dir := t.TempDir()
	ch := writeFile(t, dir, "waits.yaml", absenceYAML)
	events := strings.Join([]string{
		line("1", "inventory_confirmed", "a", "2025-01-01T00:00:00Z"),
		"{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"s\",\"type\":\"x\",\"data\":{\"note\":\"\xff\xfe\"}}",
		"{\"specversion\":\"1.0\",\"id\":\"4\",\"source\":\"s\xc3\",\"type\":\"x\"}",
		line("3", "x", "c", "2025-01-01T00:01:00Z"),
	}, "\n")

	code, out, errOut := runCmd(t, events, "run", "--choreography", ch, "--events", "-")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "stdin:2: ") || !strings.Contains(errOut, "data: not valid UTF-8") {
		t.Errorf("stderr %q does not name line 2 and its fault", errOut)
	}
	if out != "" {
		t.Errorf("stdout: got %q, want nothing", out)
	}

	code, out, errOut = runCmd(t, events, "run", "--choreography", ch, "--events", "-", "--skip-bad")
	if code != 0 {
		t.Fatalf("--skip-bad: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "skipped 2 bad event lines") || !strings.Contains(errOut, "stdin:3: ") ||
		!strings.Contains(errOut, "source: not valid UTF-8") {
		t.Errorf("--skip-bad: stderr %q", errOut)
	}
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"escalate"`) {
		t.Errorf("--skip-bad: got %q, want the one absence action", out)
	}
}

func TestRunLongLine(t *testing.T) {
	dir := t.TempDir()
	ch := writeFile(t, dir, "waits.yaml", absenceYAML)
	long := `{"specversion":"1.0","id":"9","source":"t","type":"x","data":"` + strings.Repeat("x", maxLine) + `"}`
	events := line("1", "inventory_confirmed", "a", "2025-01-01T00:00:00Z") + "\n" + long + "\n" +
		line("3", "x", "c", "2025-01-01T00:01:00Z") + "\n"
	code, out, errOut := runCmd(t, events, "run", "--choreography", ch, "--events", "-", "--skip-bad")
	if code != 0 || !strings.Contains(errOut, "stdin:2: ") || strings.Count(out, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"run"},
		{"run", "--choreography", exampleChoreography},
		{"run", "--events", "-"},
		{"run", "--choreography", exampleChoreography, "--events", "-", "extra"},
	} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "patterns:\n  - event_type: x\n")
	code, _, errOut := runCmd(t, "", "run", "--choreography", bad, "--events", "-")
	if code != 1 || !strings.Contains(errOut, bad+":2:") {
		t.Errorf("bad choreography: exit %d, stderr %q", code, errOut)
	}
}

// TestRunLarge checks that batches keep the input order over many of
// them.
func TestRunLarge(t *testing.T) {
	var in bytes.Buffer
	n, err := workload.WriteJSONL(&in, workload.Config{Seed: 5, Orders: 3000, Concurrency: 500})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, in.String(), "run", "--choreography", exampleChoreography, "--events", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The engine fed directly gives the same lines.
	e, _ := newExampleEngine(t)
	var want []byte
	for _, ev := range workload.Generate(workload.Config{Seed: 5, Orders: 3000, Concurrency: 500}) {
		for _, a := range e.Process(ev) {
			want = append(a.AppendJSON(want), '\n')
		}
	}
	for _, a := range e.Advance(e.Now()) {
		want = append(a.AppendJSON(want), '\n')
	}
	if out != string(want) {
		t.Errorf("%d events: output differs from the engine's", n)
	}
}

func newExampleEngine(t testing.TB) (*engine.Engine, error) {
	t.Helper()
	ch, err := loadExample()
	if err != nil {
		t.Fatal(err)
	}
	return engine.New(ch, engine.Config{})
}

// BenchmarkRun runs the run command over 100,000 events of JSON lines in
// memory, decoding included, printing every action.
func BenchmarkRun(b *testing.B) { benchRun(b) }

// BenchmarkRunSummary is BenchmarkRun with --summary: the actions are
// counted, not printed.
func BenchmarkRunSummary(b *testing.B) { benchRun(b, "--summary") }

func benchRun(b *testing.B, flags ...string) {
	var in bytes.Buffer
	n, err := workload.WriteJSONL(&in, workload.Config{Seed: 1, Orders: 15_400, Concurrency: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	data := in.Bytes()
	args := append([]string{"run", "--choreography", exampleChoreography, "--events", "-"}, flags...)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		var errOut bytes.Buffer
		code := runCommand(context.Background(), args, stdio{bytes.NewReader(data), io.Discard, &errOut})
		if code != 0 {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n), "events/op")
}

func loadExample() ([]*choreography.Choreography, error) {
	ch, err := choreography.LoadFile(exampleChoreography)
	if err != nil {
		return nil, err
	}
	return []*choreography.Choreography{ch}, nil
}
