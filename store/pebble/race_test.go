//go:build race

package pebble_test

// raceEnabled is set when the race detector is on. Pebble then turns on
// its invariant checks, which change how it uses memory.
const raceEnabled = true
