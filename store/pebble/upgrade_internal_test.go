package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// TestUpgradeBuildsTheCorrelationIndex: a store of format 1, which had no
// correlation index, is given one when opened, and its format becomes 2.
func TestUpgradeBuildsTheCorrelationIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := func(id, corr string) *event.Event {
		return &event.Event{SpecVersion: event.SpecVersion, ID: id, Source: "s", Type: "t", CorrelationID: corr}
	}
	var want []string
	for i := range 300 {
		corr := fmt.Sprint("order-", i%3)
		stream := corr
		if i%2 == 1 {
			stream = fmt.Sprint("tenant-", i%7) // elsewhere: in the correlation index
		}
		if _, err := s.Append(ctx, stream, store.Any, []*event.Event{ev(fmt.Sprint("e", i), corr)}); err != nil {
			t.Fatal(err)
		}
		if corr == "order-1" {
			want = append(want, fmt.Sprint("e", i))
		}
	}
	// Make it a store of format 1: no correlation index.
	b := s.db.NewBatch()
	if err := b.DeleteRange([]byte{prefixCorrelation}, []byte{prefixCorrelation + 1}, nil); err != nil {
		t.Fatal(err)
	}
	b.Set(keyFormat, binary.AppendUvarint(nil, 1), nil)
	if err := b.Commit(pdb.Sync); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.ReadCorrelation(ctx, "order-1", 0, 1000); len(recs) == len(want) {
		t.Fatal("the index is still there")
	}
	s.Close()

	var logs bytes.Buffer
	s, err = Open(dir, &Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f, err := s.getUint(keyFormat); err != nil || f != formatVersion {
		t.Fatalf("format %d (%v) after the upgrade, want %d", f, err, formatVersion)
	}
	recs, err := s.ReadCorrelation(ctx, "order-1", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Event.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after the upgrade: %d events of order-1, want %d\n%v\n%v", len(got), len(want), got, want)
	}
	if !bytes.Contains(logs.Bytes(), []byte("correlation index built")) || !bytes.Contains(logs.Bytes(), []byte("indexed=150")) {
		t.Errorf("the upgrade's log: %s", logs.Bytes())
	}
}
