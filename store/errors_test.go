package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

func TestCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&store.VersionError{Stream: "s", Expected: store.NoStream, Actual: 3}, store.CodeWrongVersion},
		{&store.ConflictError{Index: 1, ID: "x"}, store.CodeConflict},
		{&store.EventError{Index: 0, Err: &event.Error{Code: event.CodeMissingField, Field: "type"}}, event.CodeMissingField},
		{fmt.Errorf("%w: 11 events", store.ErrBatchTooLarge), store.CodeBatchTooLarge},
		{store.ErrEmptyBatch, store.CodeEmptyBatch},
		{fmt.Errorf("%w: empty", store.ErrInvalidStream), store.CodeInvalidStream},
		{store.ErrInvalidExpectedVersion, store.CodeInvalidExpectedVersion},
		{store.ErrClosed, store.CodeClosed},
		{errors.New("disk on fire"), store.CodeInternal},
	} {
		if got := store.Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCheckStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"order-1", true},
		{"$actions", true},
		{"über/ström", true},
		{"", false},
		{"a\x00b", false},
		{"tab\there", false},
		{"bad\xffutf8", false},
		{string(make([]byte, store.MaxStreamLen+1)), false},
	} {
		if err := store.CheckStream(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckStream(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
