package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs a command line against buffers.
func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runCommand(context.Background(), args, stdio{strings.NewReader(stdin), &out, &errb})
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join("..", "..", "examples", "ecommerce.yaml")
	bad := writeFile(t, dir, "bad.yaml", `name: bad
patterns:
  - id: p1
    event_type: order_received
    condition: data.order_value >
    action: check_inventory
    target_capability: inventory
sequences:
  - sequence_id: s1
    events: [a]
    action: done
    target_capability: x
`)

	code, out, _ := runCmd(t, "", "validate", good)
	if code != 0 {
		t.Fatalf("good file: exit %d, output %q", code, out)
	}
	if want := good + ": ok: ecommerce (10 patterns, 1 sequence, 4 complex patterns)\n"; out != want {
		t.Errorf("good file: got %q, want %q", out, want)
	}

	code, out, _ = runCmd(t, "", "validate", good, bad)
	if code != 1 {
		t.Fatalf("bad file: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want an ok line and two problems:\n%s", len(lines), out)
	}
	if !strings.HasPrefix(lines[0], good+": ok") {
		t.Errorf("line 1: got %q", lines[0])
	}
	for _, prefix := range []string{bad + ":5:", bad + ":10:"} {
		found := false
		for _, l := range lines[1:] {
			found = found || strings.HasPrefix(l, prefix)
		}
		if !found {
			t.Errorf("no problem at %s in\n%s", prefix, out)
		}
	}
	if !strings.Contains(out, ": p1: ") || !strings.Contains(out, ": s1: ") {
		t.Errorf("problems do not name their rules:\n%s", out)
	}

	// A document without a rule is a problem, not an empty choreography.
	empty := writeFile(t, dir, "empty.yaml", "")
	named := writeFile(t, dir, "named.yaml", "name: named\npatterns: []\n")
	code, out, _ = runCmd(t, "", "validate", empty, named)
	if code != 1 {
		t.Fatalf("files without rules: exit %d, want 1; output %q", code, out)
	}
	if want := empty + ": the choreography has no rules: it needs at least one entry in patterns, sequences or complex_patterns\n" +
		named + ":2:11: the choreography has no rules: it needs at least one entry in patterns, sequences or complex_patterns\n"; out != want {
		t.Errorf("files without rules: got\n%s\nwant\n%s", out, want)
	}

	code, _, _ = runCmd(t, "", "validate", filepath.Join(dir, "missing.yaml"))
	if code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
	if code, _, _ = runCmd(t, "", "validate"); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
}
