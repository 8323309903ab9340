//go:build !race

package event_test

// raceEnabled is set when the race detector is on, which allocates more.
const raceEnabled = false
