package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/choreohq/choreo/store/pebble"
)

func ingest(t *testing.T, args ...string) (ingestReport, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runIngest(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	var rep ingestReport
	if code == 0 {
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("report %q: %v", out.String(), err)
		}
	}
	return rep, errb.String(), code
}

// TestIngestIdempotent appends the example orders to a fresh log, then the
// same file again: the second run appends nothing and decides nothing, and
// the log holds the actions choreo run decides offline.
func TestIngestIdempotent(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data", dir, "--choreography", "../../examples/ecommerce.yaml", "--events", "../../examples/orders.jsonl"}
	first, stderr, code := ingest(t, args...)
	if code != 0 {
		t.Fatalf("first ingest: exit %d: %s", code, stderr)
	}
	if first.Events == 0 || first.NewEvents != first.Events || first.DuplicateEvents != 0 {
		t.Fatalf("first ingest: %+v", first)
	}
	if first.NewActions == 0 || first.LogHead != uint64(first.Events+first.NewActions) {
		t.Fatalf("first ingest: %+v: want actions, and head = events + actions", first)
	}

	// The offline runner decides the same actions from the same file.
	var out, errb bytes.Buffer
	if code := runRun(context.Background(), []string{"--summary", "--choreography", "../../examples/ecommerce.yaml", "--events", "../../examples/orders.jsonl"},
		stdio{in: strings.NewReader(""), out: &out, err: &errb}); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errb.String())
	}
	var offline map[string]int
	if err := json.Unmarshal(out.Bytes(), &offline); err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(first.Actions), mustJSON(offline); got != want {
		t.Errorf("ingest decided %s, run decided %s", got, want)
	}

	second, stderr, code := ingest(t, args...)
	if code != 0 {
		t.Fatalf("second ingest: exit %d: %s", code, stderr)
	}
	if second.NewEvents != 0 || second.DuplicateEvents != first.Events || second.NewActions != 0 || second.LogHead != first.LogHead {
		t.Fatalf("second ingest changed the log: %+v after %+v", second, first)
	}
	if mustJSON(second.Actions) != mustJSON(first.Actions) {
		t.Fatalf("second ingest sees actions %v, first %v", second.Actions, first.Actions)
	}
}

func TestIngestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"specversion":"1.0","id":"a","source":"s","type":"t"}`+"\n"+`{"specversion":"1.0","id":"b","source":"s"}`+"\n"), 0o600)
	_, stderr, code := ingest(t, "--data", filepath.Join(dir, "log"), "--choreography", "../../examples/ecommerce.yaml", "--events", bad)
	if code != 1 || !strings.Contains(stderr, "line 2") || !strings.Contains(stderr, "type") {
		t.Fatalf("exit %d, stderr %q: want exit 1 naming line 2 and the field", code, stderr)
	}
	if _, _, code := ingest(t, "--data", dir); code != 2 {
		t.Fatalf("missing flags: exit %d, want 2", code)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestIngestStopsAtTheBadLine: with appends in flight, a bad line still
// stops ingest with its line number; an invalid event stops it with
// nothing after it in the log, and an id reused for other content is
// named by its line too.
func TestIngestStopsAtTheBadLine(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 1; i <= 3000; i++ {
		switch i {
		case 1500:
			b.WriteString(`{"specversion":"1.0","id":"e1500","source":"s"}` + "\n") // no type
		default:
			fmt.Fprintf(&b, `{"specversion":"1.0","id":"e%d","source":"s","type":"t","correlationid":"c%d"}`+"\n", i, i%7)
		}
	}
	file := filepath.Join(dir, "events.jsonl")
	os.WriteFile(file, []byte(b.String()), 0o600)
	log := filepath.Join(dir, "log")
	_, stderr, code := ingest(t, "--data", log, "--choreography", "../../examples/ecommerce.yaml", "--events", file)
	if code != 1 || !strings.Contains(stderr, "line 1500:") || !strings.Contains(stderr, "type") {
		t.Fatalf("exit %d, stderr %q: want exit 1 naming line 1500 and the field", code, stderr)
	}
	st, err := pebble.Open(log, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.Head(context.Background())
	st.Close()
	if err != nil || head != 1499 {
		t.Fatalf("log head %d, %v: want the 1,499 events before the bad line", head, err)
	}

	// The same id with other content, far into a second file.
	b.Reset()
	for i := 1; i <= 3000; i++ {
		typ := "t"
		if i == 1400 {
			typ = "other" // e1400 is in the log already, as type t
		}
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"e%d","source":"s","type":%q,"correlationid":"c%d"}`+"\n", i, typ, i%7)
	}
	os.WriteFile(file, []byte(b.String()), 0o600)
	_, stderr, code = ingest(t, "--data", log, "--choreography", "../../examples/ecommerce.yaml", "--events", file)
	if code != 1 || !strings.Contains(stderr, "line 1400:") {
		t.Fatalf("exit %d, stderr %q: want exit 1 naming line 1400", code, stderr)
	}

	// An id reused for other content, in flight when the next line does
	// not decode: the first line at fault is named.
	b.Reset()
	for i := 1; i <= 100; i++ {
		typ := "t"
		if i == 100 {
			typ = "other"
		}
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"e%d","source":"s","type":%q,"correlationid":"c%d"}`+"\n", i, typ, i%7)
	}
	b.WriteString("{not json\n")
	os.WriteFile(file, []byte(b.String()), 0o600)
	_, stderr, code = ingest(t, "--data", log, "--choreography", "../../examples/ecommerce.yaml", "--events", file)
	if code != 1 || !strings.Contains(stderr, "line 100:") {
		t.Fatalf("exit %d, stderr %q: want exit 1 naming line 100", code, stderr)
	}
}
