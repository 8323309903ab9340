package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/choreohq/choreo/choreography"
)

// TestChoreographyCopy keeps the built-in copy identical to the example in
// the repository: run `go generate ./internal/demo` after changing it.
func TestChoreographyCopy(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "..", ChoreographyPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, Choreography()) {
		t.Fatalf("internal/demo/ecommerce.yaml differs from %s: run go generate ./internal/demo", ChoreographyPath)
	}
}

// TestAgentsCoverChoreography checks that some demo agent offers every
// capability the choreography asks for, and only those.
func TestAgentsCoverChoreography(t *testing.T) {
	ch, err := choreography.Parse("ecommerce.yaml", Choreography())
	if err != nil {
		t.Fatal(err)
	}
	if got := Uncovered(ch); len(got) != 0 {
		t.Errorf("rules without a demo agent: %v", got)
	}
	var want []string
	for _, p := range ch.Patterns {
		want = append(want, p.TargetCapability)
	}
	for _, s := range ch.Sequences {
		want = append(want, s.TargetCapability)
	}
	for _, c := range ch.Complex {
		want = append(want, c.TargetCapability)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := Capabilities(); !slices.Equal(got, want) {
		t.Errorf("capabilities %v, want exactly %v", got, want)
	}

	other, err := choreography.Parse("other.yaml", []byte(`
name: other
patterns:
  - id: audit
    event_type: order_received
    action: audit_order
    target_capability: auditing
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := Uncovered(other); !slices.Equal(got, []string{"audit"}) {
		t.Errorf("Uncovered = %v, want [audit]", got)
	}
}
