package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// The record's own members, beside the event's attributes.
var recordMembers = []string{"stream", "stream_position", "global_position", "partition", "recorded"}

// DecodeRecord reads a record in the API's JSON form: the CloudEvent's
// attributes plus "stream", "stream_position", "global_position",
// "partition" and "recorded". It does not keep b, but changes one byte of
// it during the call: do not share b with other goroutines meanwhile.
func DecodeRecord(b []byte) (store.Record, error) {
	var rec store.Record
	rest, ok := decodeMembersFast(b, &rec)
	if !ok {
		return decodeRecordSlow(b)
	}
	if rest < 0 {
		return rec, nil // a record without an event
	}
	// b[rest] is the ',' before the event's first attribute: make the rest
	// an object for event.Decode, which copies what it keeps.
	b[rest] = '{'
	e, err := event.Decode(b[rest:])
	b[rest] = ','
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: decoding the event of a record: %v", ErrProtocol, err)
	}
	for _, name := range recordMembers {
		if _, ok := e.Extensions[name]; ok {
			return store.Record{}, fmt.Errorf("%w: a record with %q twice", ErrProtocol, name)
		}
	}
	rec.Event = e
	return rec, nil
}

// decodeMembersFast reads the record members in the order the server
// writes them. It returns the offset of the ',' that continues with the
// event's attributes (-1 when the object ends there), or false when the
// input is not in that form.
func decodeMembersFast(b []byte, rec *store.Record) (int, bool) {
	i, ok := expect(b, 0, `{"stream":`)
	if !ok {
		return 0, false
	}
	if rec.Stream, i, ok = jsonString(b, i); !ok {
		return 0, false
	}
	uints := []struct {
		key string
		dst *uint64
	}{
		{`,"stream_position":`, &rec.StreamPosition},
		{`,"global_position":`, &rec.GlobalPosition},
	}
	for _, u := range uints {
		if i, ok = expect(b, i, u.key); !ok {
			return 0, false
		}
		if *u.dst, i, ok = jsonUint(b, i); !ok {
			return 0, false
		}
	}
	if i, ok = expect(b, i, `,"partition":`); !ok {
		return 0, false
	}
	var part uint64
	if part, i, ok = jsonUint(b, i); !ok || part > 1<<32-1 {
		return 0, false
	}
	rec.Partition = uint32(part)
	if j, ok := expect(b, i, `,"recorded":`); ok {
		var s string
		if s, i, ok = jsonString(b, j); !ok {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false
		}
		rec.Recorded = t
	}
	switch {
	case i < len(b) && b[i] == '}' && len(bytes.TrimSpace(b[i+1:])) == 0:
		return -1, true
	case i+1 < len(b) && b[i] == ',' && b[i+1] == '"':
		return i, true
	}
	return 0, false
}

func expect(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// jsonString reads the JSON string at b[i].
func jsonString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			if !escaped {
				if !utf8.Valid(b[i+1 : j]) {
					return "", 0, false // the slow path reads it as encoding/json does
				}
				return string(b[i+1 : j]), j + 1, true
			}
			var s string
			if json.Unmarshal(b[i:j+1], &s) != nil {
				return "", 0, false
			}
			return s, j + 1, true
		case c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// jsonUint reads the unsigned integer at b[i].
func jsonUint(b []byte, i int) (uint64, int, bool) {
	j := i
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	if j == i || (b[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(string(b[i:j]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return n, j, true
}

// decodeRecordSlow reads a record whose members come in any order.
func decodeRecordSlow(b []byte) (store.Record, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return store.Record{}, fmt.Errorf("%w: decoding a record: %v", ErrProtocol, err)
	}
	var rec store.Record
	var recorded string
	dsts := []any{&rec.Stream, &rec.StreamPosition, &rec.GlobalPosition, &rec.Partition, &recorded}
	for i, name := range recordMembers {
		raw, ok := m[name]
		if !ok {
			if name == "recorded" {
				continue
			}
			return store.Record{}, fmt.Errorf("%w: a record without %q", ErrProtocol, name)
		}
		if err := json.Unmarshal(raw, dsts[i]); err != nil {
			return store.Record{}, fmt.Errorf("%w: the %q of a record: %v", ErrProtocol, name, err)
		}
		delete(m, name)
	}
	if recorded != "" {
		t, err := time.Parse(time.RFC3339Nano, recorded)
		if err != nil {
			return store.Record{}, fmt.Errorf("%w: the recorded time of a record: %v", ErrProtocol, err)
		}
		rec.Recorded = t
	}
	if len(m) == 0 {
		return rec, nil
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: re-encoding the event of a record: %v", ErrProtocol, err)
	}
	e, err := event.Decode(rest)
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: decoding the event of a record: %v", ErrProtocol, err)
	}
	rec.Event = e
	return rec, nil
}
