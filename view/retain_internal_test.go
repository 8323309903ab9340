package view

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/heaptest"
	"github.com/choreohq/choreo/store"
)

// TestViewDoesNotHoldDeliveries: a delivered action's agent and result ids
// used to be pieces of the delivery record they were read from, whose
// decoded strings share one copy of the whole record, so one action kept
// the whole record of its batch (up to about 256 KiB) while it stayed in
// the view. Here the view knows one action of each record, as when it has
// evicted the others or never saw them; without result ids, the agent
// alone kept the record.
func TestViewDoesNotHoldDeliveries(t *testing.T) {
	for _, results := range []bool{true, false} {
		t.Run(fmt.Sprint("results=", results), func(t *testing.T) {
			const batches, per = 100, 400
			v := NewActions(nil, batches)
			now := time.Now().UTC()
			id := func(b, i int) string { return fmt.Sprintf("0193a4f0-0000-8000-8000-%06d%06d", b, i) }
			var g uint64
			for b := range batches {
				a := engine.Action{ID: id(b, 0), Action: "x", TargetCapability: "c", Choreography: "ch", RuleID: "r",
					RuleKind: engine.KindPattern, CorrelationID: fmt.Sprint("k", b), Time: now, TriggerEventIDs: []string{"t"}}
				v.fold(store.Record{Stream: live.ActionsStream, GlobalPosition: g, Recorded: now, Event: live.ActionEvent(&a)})
				g++
			}
			before := heaptest.Live()
			size := 0
			for b := range batches {
				var ds dispatch.Deliveries
				for i := range per {
					d := dispatch.Delivered{ActionID: id(b, i), Action: "x", Choreography: "ch", RuleID: "r",
						Agent: "agent-1", Attempts: 1, DurationMS: 1,
						Results: []string{strings.Repeat("r", 36), strings.Repeat("s", 36)}}
					if i == 0 && !results {
						d.Results = nil
					}
					ds.Deliveries = append(ds.Deliveries, d)
				}
				data, err := json.Marshal(&ds)
				if err != nil {
					t.Fatal(err)
				}
				size = len(data)
				v.fold(store.Record{Stream: live.ActionsStream, GlobalPosition: g, Recorded: now, Event: &event.Event{
					SpecVersion: "1.0", ID: fmt.Sprint("d", b), Source: dispatch.Source, Type: dispatch.DeliveredType, Data: data}})
				g++
			}
			for _, a := range v.List(Filter{Limit: batches}) {
				if a.Status != StatusDelivered || a.Agent != "agent-1" || results != (len(a.Results) == 2) {
					t.Fatalf("action %s: %+v", a.ID, a)
				}
			}
			held := heaptest.Live() - before
			t.Logf("%d deliveries from %d-byte records: %d KiB held", batches, size, held>>10)
			if limit := int64(batches * size / 16); held > limit {
				t.Fatalf("the view holds %d KiB for %d deliveries, over %d KiB: it keeps the delivery records", held>>10, batches, limit>>10)
			}
			runtime.KeepAlive(v)
		})
	}
}
