package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
