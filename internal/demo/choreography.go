package demo

import (
	"bytes"
	_ "embed"
	"slices"

	"github.com/choreohq/choreo/choreography"
)

// ChoreographyPath is where the choreography the demo runs lies in the
// repository, relative to its root.
const ChoreographyPath = "examples/ecommerce.yaml"

// ecommerce is a copy of examples/ecommerce.yaml, for a choreo binary run
// outside the repository. A test keeps it identical to the original.
//
//go:generate cp ../../examples/ecommerce.yaml ecommerce.yaml
//go:embed ecommerce.yaml
var ecommerce []byte

// Choreography returns the demo's built-in copy of the choreography at
// ChoreographyPath.
func Choreography() []byte { return bytes.Clone(ecommerce) }

// Capabilities returns the capabilities the demo's agents offer, sorted.
func Capabilities() []string {
	var caps []string
	for _, a := range newAgents(&world{plan: NewPlan(0, 0)}) {
		caps = append(caps, a.caps...)
	}
	slices.Sort(caps)
	return slices.Compact(caps)
}

// Uncovered returns the ids of the rules of ch that target a capability
// none of the demo's agents offers: their actions would wait for an agent
// and end in the dead-letter queue.
func Uncovered(ch *choreography.Choreography) []string {
	have := Capabilities()
	var out []string
	check := func(id, capability string) {
		if _, ok := slices.BinarySearch(have, capability); !ok {
			out = append(out, id)
		}
	}
	for _, p := range ch.Patterns {
		check(p.ID, p.TargetCapability)
	}
	for _, s := range ch.Sequences {
		check(s.ID, s.TargetCapability)
	}
	for _, c := range ch.Complex {
		check(c.ID, c.TargetCapability)
	}
	return out
}
