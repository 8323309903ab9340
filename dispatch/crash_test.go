package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/webhook"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
)

const (
	crashDirEnv = "CHOREO_DISPATCH_CRASH_DIR"
	crashNEnv   = "CHOREO_DISPATCH_CRASH_N"
)

const notifyYAML = `
name: notify
patterns:
  - id: notify
    event_type: order_received
    action: notify_customer
    target_capability: notifications
`

// TestCrashDuringDispatch kills a process that decides and dispatches
// actions to a real HTTP agent with SIGKILL at random moments, restarts it
// on the same log, and at the end checks what the agent saw: every action
// arrived, under its own action id as Idempotency-Key, and every repeat
// carried a key already seen — never a new key for an old action.
func TestCrashDuringDispatch(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		n, _ := strconv.Atoi(os.Getenv(crashNEnv))
		crashDispatchChild(dir, n)
		return
	}
	rounds, n := 8, 400
	if testing.Short() {
		rounds, n = 3, 200
	}

	// The agent: records every key it receives, answers with an event
	// whose content depends on the message alone.
	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		time.Sleep(time.Millisecond)
		mu.Lock()
		seen[key]++
		total++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":"customer_notified","time":"2026-01-01T00:00:00Z","data":{"key":%q}}`, key)
	}))
	defer agentSrv.Close()
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return total
	}

	dir := t.TempDir()
	st, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, agent.Profile{ID: "notifier", Capabilities: []string{"notifications"},
		Endpoint: agentSrv.URL, Protocol: agent.ProtocolWebhook}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		corr := fmt.Sprint("order-", i)
		e := &event.Event{SpecVersion: "1.0", ID: fmt.Sprint("evt-", i), Source: "agents/shop", Type: "order_received",
			Time: t0.Add(time.Duration(i) * time.Second), CorrelationID: corr}
		if _, err := st.Append(ctx, corr, store.Any, []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringDispatch$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashNEnv+"="+strconv.Itoa(n))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for round := range rounds {
		cmd := child()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill it once the agent has received a few more actions.
		target := received() + 1 + rand.IntN(n/rounds)
		deadline := time.Now().Add(30 * time.Second)
		for received() < target && time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Logf("round %d: child finished before the kill (%v)", round, err)
				goto next
			case <-time.After(time.Millisecond):
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	next:
	}
	// The last run goes to the end.
	cmd := child()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("final run: %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("final run did not finish")
	}

	st, err = pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	actions := records(t, st, live.ActionsStream, live.ActionEventType)
	if len(actions) != n {
		t.Fatalf("%d actions in the outbox, want %d", len(actions), n)
	}
	delivered := map[string]int{}
	for _, d := range deliveries(t, st) {
		delivered[d.ActionID]++
	}
	mu.Lock()
	defer mu.Unlock()
	repeats := 0
	for _, a := range actions {
		if seen[a.ID] == 0 {
			t.Errorf("action %s never reached the agent", a.ID)
		}
		repeats += max(0, seen[a.ID]-1)
		if delivered[a.ID] != 1 {
			t.Errorf("action %s has %d delivery records, want 1", a.ID, delivered[a.ID])
		}
	}
	if len(seen) != n {
		t.Errorf("the agent saw %d distinct keys for %d actions: a repeat came with a new key", len(seen), n)
	}
	for i := range n {
		if got := len(records(t, st, fmt.Sprint("order-", i), "customer_notified")); got != 1 {
			t.Errorf("order-%d has %d customer_notified events, want 1", i, got)
		}
	}
	t.Logf("%d rounds, %d actions, %d deliveries, %d repeats (all with a key already seen)", rounds+1, n, total, repeats)
}

// crashDispatchChild runs the runner and the dispatcher over the log in
// dir until every one of the n actions is delivered.
func crashDispatchChild(dir string, n int) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	st, err := pebble.Open(dir, nil)
	if err != nil {
		fail(err)
	}
	ch, err := choreography.Parse("notify.yaml", []byte(notifyYAML))
	if err != nil {
		fail(err)
	}
	eng, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runner, err := live.New(st, eng, live.Config{})
	if err != nil {
		fail(err)
	}
	reg, err := agent.Open(ctx, st, agent.Config{})
	if err != nil {
		fail(err)
	}
	wh, err := webhook.New(webhook.Config{})
	if err != nil {
		fail(err)
	}
	d, err := dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolWebhook: wh},
		dispatch.Config{Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		fail(err)
	}
	go runner.Run(ctx)
	go d.Run(ctx)
	for {
		time.Sleep(5 * time.Millisecond)
		recs, err := st.ReadStream(ctx, live.ActionsStream, 0, 1<<20)
		if err != nil {
			fail(err)
		}
		done := 0
		for _, r := range recs {
			if r.Event.Type == dispatch.DeliveredType {
				var ds dispatch.Deliveries
				if err := json.Unmarshal(r.Event.Data, &ds); err != nil {
					fail(err)
				}
				done += len(ds.Deliveries)
			}
		}
		if done >= n {
			cancel()
			d.Close()
			runner.Close()
			st.Close()
			os.Exit(0)
		}
	}
}
