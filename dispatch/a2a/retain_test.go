package a2a

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/internal/heaptest"
)

// TestRememberedTasksDoNotHoldActions: the key of a remembered task, the
// action id, used to be a piece of the action as the outbox decoded it,
// which kept the whole action in memory for as long as the task was
// remembered (up to 10,000 of them).
func TestRememberedTasksDoNotHoldActions(t *testing.T) {
	trig := make([]string, 1600) // about 64 KiB of action
	for i := range trig {
		trig[i] = fmt.Sprintf("0193a4ef-0000-7000-8000-%012d", i)
	}
	tr := &Transport{}
	const n = 200
	size := 0
	before := heaptest.Live()
	for i := range n {
		src := engine.Action{ID: fmt.Sprintf("0193a4f0-0000-8000-8000-%012d", i), Action: "a", TargetCapability: "c",
			Choreography: "ch", RuleID: "r", RuleKind: "threshold_pattern", CorrelationID: "k", TriggerEventIDs: trig, Time: time.Now()}
		js := src.AppendJSON(nil)
		size = len(js)
		var a engine.Action // as the outbox decodes it
		if err := a.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		k := taskKey{"http://agent.example/a2a", a.ID}
		tr.rememberTask(k, fmt.Sprint("task-", i))
		tr.rememberTask(k, fmt.Sprint("task-", i)) // again: the map keeps the latest key
	}
	if len(tr.mu.tasks) != n {
		t.Fatalf("%d tasks remembered, want %d", len(tr.mu.tasks), n)
	}
	held := heaptest.Live() - before
	t.Logf("%d remembered tasks of %d-byte actions hold %d KiB", n, size, held>>10)
	if limit := int64(n * size / 16); held > limit {
		t.Fatalf("%d remembered tasks hold %d KiB, over %d KiB: they keep the actions", n, held>>10, limit>>10)
	}
	runtime.KeepAlive(tr)
}
