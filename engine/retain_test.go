package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/heaptest"
)

// TestStateDoesNotHoldEvents checks that what the engine keeps of an event
// while a match waits (its id, its correlation id, its source) does not
// keep the event's record in memory. A decoded event's strings and data
// share one allocation, so a held id used to hold the whole record: here
// 2,000 waiting correlations of events with 64 KiB of data each held
// about 128 MiB.
func TestStateDoesNotHoldEvents(t *testing.T) {
	ch, err := choreography.Parse("retain", []byte(`
name: retain
sequences:
  - {sequence_id: steps, events: [a, b, c], max_interval: 1h, action: done, target_capability: x}
complex_patterns:
  - {id: quiet, type: absence, event_type: a, expected_event: z, timeout: 1h, action: chase, target_capability: x}
  - {id: many, type: threshold_pattern, event_type: a, threshold: 5, time_window: 1h, action: flag, target_capability: x}
  - {id: both, type: temporal_sequence, trigger_event: t, required_events: [a, b], time_window: 1h, action: go, target_capability: x}
patterns:
  - {id: src, event_type: a, condition: "source_event_count > 0", action: seen, target_capability: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Config{}, ch)
	const n, size = 2000, 64 << 10
	data := []byte(`{"pad":"` + strings.Repeat("x", size) + `"}`)
	before := heaptest.Live()
	for i := range n {
		// Each event is decoded from its own record, as the live engine
		// reads the log, and dropped once processed. Each source sends
		// two: the count of a source already known is updated too.
		in := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("ev-", i), Source: fmt.Sprint("agents/a-", i/2),
			Type: "a", Time: t0.Add(time.Duration(i) * time.Millisecond), CorrelationID: fmt.Sprint("corr-", i),
			DataContentType: "application/json", Data: data}
		ev, err := event.DecodeBinary(in.AppendBinary(nil))
		if err != nil {
			t.Fatal(err)
		}
		if acts := e.Process(ev); len(acts) != 1 || acts[0].Action != "seen" {
			t.Fatalf("event %d: actions %v, want one seen", i, summary(acts))
		}
	}
	if m := e.Metrics(); m.ActiveCorrelations != n {
		t.Fatalf("%d correlations active, want %d", m.ActiveCorrelations, n)
	}
	held := heaptest.Live() - before
	t.Logf("%d waiting correlations hold %d KiB", n, held>>10)
	if limit := int64(n * size / 16); held > limit {
		t.Fatalf("the engine holds %d KiB for %d waiting correlations, over %d KiB: it keeps the events' records", held>>10, n, limit>>10)
	}
	runtime.KeepAlive(e)
}

// TestKeptEventsDoNotHoldOthers checks that the events conditions may read
// later (recent_events, correlated_events) are kept on their own. A reader
// of the log decodes many records into one buffer and many events into
// one array, so keeping a decoded event kept every event read with it:
// here, one event from each of 10 reads of 64 records of 16 KiB held all
// 640 records.
func TestKeptEventsDoNotHoldOthers(t *testing.T) {
	ch, err := choreography.Parse("kept", []byte(`
name: kept
patterns:
  - {id: recent, event_type: a, condition: "recent_events.size() > 0", action: r, target_capability: x}
  - {id: corr, event_type: a, condition: "correlated_events.size() > 0", action: c, target_capability: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Config{}, ch)
	const reads, perRead, size = 10, 64, 16 << 10
	data := []byte(`{"pad":"` + strings.Repeat("x", size) + `"}`)
	before := heaptest.Live()
	for r := range reads {
		// One read: its records in one buffer, its events in one array,
		// the events' strings and data pointing into the buffer.
		var buf []byte
		var ends []int
		for i := range perRead {
			ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("ev-", r, "-", i), Source: "agents/a", Type: "a",
				Time: t0.Add(time.Duration(r) * time.Second), CorrelationID: "corr", Data: data}
			buf = ev.AppendBinary(buf)
			ends = append(ends, len(buf))
		}
		slab := make([]event.Event, perRead)
		start := 0
		for i, end := range ends {
			if err := event.DecodeBinaryShared(buf[start:end:end], &slab[i]); err != nil {
				t.Fatal(err)
			}
			start = end
		}
		// The engine sees the first event of the read.
		if acts := e.Process(&slab[0]); len(acts) != 2 {
			t.Fatalf("read %d: actions %v, want two", r, summary(acts))
		}
	}
	held := heaptest.Live() - before
	t.Logf("%d events kept from %d reads of %d records: %d KiB held", reads, reads, perRead, held>>10)
	if limit := int64(4 * reads * size); held > limit {
		t.Fatalf("%d kept events hold %d KiB, over %d KiB: they keep the events read with them", reads, held>>10, limit>>10)
	}
	runtime.KeepAlive(e)
}

// TestActionsKeepTheirIDs checks that an action's trigger ids stay as they
// were when it was decided while the engine goes on: a partial match holds
// its ids in a buffer of its slot, which the slot's next match writes
// over, so the ids an action names must be copies.
func TestActionsKeepTheirIDs(t *testing.T) {
	ch, err := choreography.Parse("ids", []byte(`
name: ids
sequences:
  - {sequence_id: steps, events: [a, b, c], max_interval: 1h, action: done, target_capability: x}
complex_patterns:
  - {id: quiet, type: absence, event_type: a, expected_event: z, timeout: 30s, action: chase, target_capability: x}
  - {id: many, type: threshold_pattern, event_type: a, threshold: 3, time_window: 1m, action: flag, target_capability: x}
  - {id: both, type: temporal_sequence, trigger_event: t, required_events: [a, b], time_window: 1h, action: go, target_capability: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Config{}, ch)
	type seen struct {
		a   *Action
		ids string
	}
	var all []seen
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"a", "b", "c", "t", "z"}
	for i := range 20_000 {
		ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("ev-", i, "-", strings.Repeat("i", rng.IntN(40))),
			Source: "agents/a", Type: types[rng.IntN(len(types))], Time: t0.Add(time.Duration(i) * time.Second),
			CorrelationID: fmt.Sprint("corr-", rng.IntN(5))}
		for _, a := range e.Process(ev) {
			all = append(all, seen{&a, strings.Join(a.TriggerEventIDs, ",")})
		}
	}
	for _, a := range e.Flush() {
		all = append(all, seen{&a, strings.Join(a.TriggerEventIDs, ",")})
	}
	kinds := map[string]int{}
	for _, s := range all {
		kinds[s.a.Action]++
		if got := strings.Join(s.a.TriggerEventIDs, ","); got != s.ids {
			t.Fatalf("action %s (%s) names %q now, %q when decided", s.a.ID, s.a.Action, got, s.ids)
		}
	}
	for _, k := range []string{"done", "chase", "flag", "go"} {
		if kinds[k] == 0 {
			t.Fatalf("no %s action among %d: %v", k, len(all), kinds)
		}
	}
}
