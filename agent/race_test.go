//go:build race

package agent_test

// raceEnabled is set when the race detector is on.
const raceEnabled = true
