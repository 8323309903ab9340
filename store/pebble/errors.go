package pebble

import "errors"

// ErrBroken is returned by every append after a write to the log failed
// (a full or failing disk). The store must be closed and reopened; the log
// on disk stays consistent.
var ErrBroken = errors.New("pebble: log write failed")
