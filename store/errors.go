package store

import (
	"errors"
	"fmt"

	"github.com/choreohq/choreo/event"
)

var (
	// ErrClosed is returned by every call on a closed store or subscription.
	ErrClosed = errors.New("store: closed")
	// ErrWrongVersion is matched by every *VersionError.
	ErrWrongVersion = errors.New("store: wrong expected version")
	// ErrConflict is matched by every *ConflictError.
	ErrConflict = errors.New("store: event id already used for different content")
	// ErrEmptyBatch is returned for an append of no events.
	ErrEmptyBatch = errors.New("store: empty batch")
	// ErrBatchTooLarge is returned for an append of more events than allowed.
	ErrBatchTooLarge = errors.New("store: batch too large")
	// ErrInvalidStream is returned for a stream name that is not allowed.
	ErrInvalidStream = errors.New("store: invalid stream name")
	// ErrInvalidExpectedVersion is returned for an expected version that is
	// neither Any, NoStream nor a position.
	ErrInvalidExpectedVersion = errors.New("store: invalid expected version")
	// ErrPartitions is returned when a store is opened with a number of
	// partitions other than the one it was created with.
	ErrPartitions = errors.New("store: partition count differs from the store's")
	// ErrNotFound is returned by Get for an id the log does not hold.
	ErrNotFound = errors.New("store: event not found")
	// ErrBroken is matched by the errors of a store that can take no more
	// appends until it is closed and opened again (a write to its disk
	// failed): retrying cannot help.
	ErrBroken = errors.New("store: broken until reopened")
)

// VersionError reports an expected-version mismatch.
type VersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's version: the stream position of its last
	// event, or -1 when the stream has none.
	Actual int64
}

func (e *VersionError) Error() string {
	actual := "no-stream"
	if e.Actual >= 0 {
		actual = fmt.Sprint(e.Actual)
	}
	return fmt.Sprintf("store: wrong expected version for stream %q: expected %s, actual %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrWrongVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrWrongVersion }

// ConflictError reports an event id already in the log (or earlier in the
// same batch) with different content or in another stream.
type ConflictError struct {
	Index int    // the event's index in the batch
	ID    string // the event id
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: event %d: id %q is already in the log with different content", e.Index, e.ID)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// EventError reports an invalid event in a batch; Err is an *event.Error.
type EventError struct {
	Index int
	Err   error
}

func (e *EventError) Error() string { return fmt.Sprintf("store: event %d: %v", e.Index, e.Err) }

// Unwrap returns the event's own error.
func (e *EventError) Unwrap() error { return e.Err }

// Stable codes for the errors of this package, for APIs that report them.
const (
	CodeWrongVersion           = "wrong_expected_version"
	CodeConflict               = "duplicate_id_conflict"
	CodeEmptyBatch             = "empty_batch"
	CodeBatchTooLarge          = "batch_too_large"
	CodeInvalidStream          = "invalid_stream"
	CodeInvalidExpectedVersion = "invalid_expected_version"
	CodeClosed                 = "closed"
	CodeNotFound               = "not_found"
	CodeInternal               = "internal"
)

// Code returns the stable code of an error returned by a Store: one of the
// Code constants, or for an invalid event the code of its *event.Error
// (missing_field, invalid_field, invalid_json, too_large). Errors it does
// not know, such as a failing disk, are CodeInternal; nil is "".
func Code(err error) string {
	var ee *event.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, ErrWrongVersion):
		return CodeWrongVersion
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, ErrEmptyBatch):
		return CodeEmptyBatch
	case errors.Is(err, ErrBatchTooLarge):
		return CodeBatchTooLarge
	case errors.Is(err, ErrInvalidStream):
		return CodeInvalidStream
	case errors.Is(err, ErrInvalidExpectedVersion):
		return CodeInvalidExpectedVersion
	case errors.Is(err, ErrClosed):
		return CodeClosed
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	}
	return CodeInternal
}
