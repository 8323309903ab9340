package pebble

import (
	"fmt"

	"github.com/choreohq/choreo/store"
)

// ErrBroken is returned by every append after a write to the log failed
// (a full or failing disk). The store must be closed and reopened; the log
// on disk stays consistent. It matches store.ErrBroken.
var ErrBroken = fmt.Errorf("pebble: log write failed (%w)", store.ErrBroken)
