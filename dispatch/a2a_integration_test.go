package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// newA2ARig serves exec as an A2A agent named name, with the skill
// inventory_management, on a loopback server; registers it by its card in
// a registry over an in-memory log; and returns a rig whose dispatcher
// delivers to it over an A2A transport made with trCfg, and the agent's
// profile.
func newA2ARig(t *testing.T, exec a2asrv.AgentExecutor, name string, trCfg a2a.Config, cfg dispatch.Config) (*rig, agent.Profile) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(exec)))
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&sdk.AgentCard{
		Name: name, URL: srv.URL + "/rpc", Skills: []sdk.AgentSkill{{ID: "inventory_management", Name: "Reserve stock"}},
	}))
	st := mem.New(store.Options{})
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	reg, err := agent.Open(ctx, st, agent.Config{Resolver: a2a.ResolveCard})
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.RegisterCard(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a2a.New(trCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	r := &rig{t: t, st: st, reg: reg}
	if r.d, err = dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolA2A: tr}, cfg); err != nil {
		t.Fatal(err)
	}
	return r, p
}

// stockAgent is an A2A agent built with the SDK: it completes a task with
// a data artifact, or fails it when the action is "fail_me".
type stockAgent struct{ got chan string }

func (s stockAgent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	s.got <- rc.Message.ID
	state := sdk.TaskStateCompleted
	var arts []*sdk.Artifact
	for _, p := range rc.Message.Parts {
		if dp, ok := p.(sdk.DataPart); ok && dp.Data["action"] == "fail_me" {
			state = sdk.TaskStateFailed
		}
	}
	if state == sdk.TaskStateCompleted {
		arts = []*sdk.Artifact{{ID: "r", Parts: sdk.ContentParts{sdk.DataPart{Data: map[string]any{"reserved": true}}}}}
	}
	return q.Write(ctx, &sdk.Task{ID: rc.TaskID, ContextID: rc.ContextID, Status: sdk.TaskStatus{State: state}, Artifacts: arts})
}

func (stockAgent) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error { return nil }

// TestA2AAgentEndToEnd registers an SDK agent by its card, dispatches two
// actions to it and checks the completed and failed events in the log.
func TestA2AAgentEndToEnd(t *testing.T) {
	sa := stockAgent{got: make(chan string, 4)}
	r, _ := newA2ARig(t, sa, "Stock", a2a.Config{}, fast())
	st, ctx := r.st, context.Background()
	ok := r.action("ok", "inventory_management", 1)
	bad := r.action("bad", "inventory_management", 1)
	bad.ID, bad.Action = "bad-2", "fail_me" // an action the agent fails
	if _, err := st.Append(ctx, live.ActionsStream, store.Any, []*event.Event{live.ActionEvent(&bad)}); err != nil {
		t.Fatal(err)
	}
	r.start()
	defer r.stop()
	waitFor(t, "three deliveries", func() bool { return r.d.Metrics().Delivered == 3 })
	for range 3 {
		if id := <-sa.got; id != ok.ID && id != "bad" && id != "bad-2" {
			t.Fatalf("the agent got message id %q, want an action id", id)
		}
	}
	failed := records(t, st, bad.CorrelationID, "fail_me.failed")
	if len(failed) != 1 || failed[0].CausationID != "bad-2" || !strings.Contains(string(failed[0].Data), `"state":"failed"`) {
		t.Fatalf("failed events = %v", failed)
	}
	evs := records(t, st, ok.CorrelationID, "do_inventory_management.completed")
	if len(evs) != 1 {
		t.Fatalf("%d completed events in %s", len(evs), ok.CorrelationID)
	}
	e := evs[0]
	if e.CausationID != ok.ID || e.Hops != 2 || e.CorrelationID != ok.CorrelationID || !strings.Contains(string(e.Data), `"reserved":true`) {
		t.Fatalf("completed event = %+v data %s", e, e.Data)
	}
	if n := len(deliveries(t, st)); n != 3 {
		t.Fatalf("%d delivery records", n)
	}
}

// holdingAgent is an A2A agent built with the SDK whose first task works
// until it is canceled; later ones complete at once.
type holdingAgent struct {
	messages, cancels atomic.Int32
}

func (h *holdingAgent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	if h.messages.Add(1) > 1 {
		return q.Write(ctx, &sdk.Task{ID: rc.TaskID, ContextID: rc.ContextID, Status: sdk.TaskStatus{State: sdk.TaskStateCompleted}})
	}
	if err := q.Write(ctx, sdk.NewStatusUpdateEvent(rc, sdk.TaskStateWorking, nil)); err != nil {
		return err
	}
	<-ctx.Done() // the SDK ends it once the task is canceled, or the server stops
	return nil
}

func (h *holdingAgent) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	h.cancels.Add(1)
	ev := sdk.NewStatusUpdateEvent(rc, sdk.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// TestA2AWorkCanceledWhenDeadLettered: an action whose attempts ran out of
// time with the agent's task still working is dead-lettered, the agent is
// asked to cancel the task, and the dead letter says which task it was;
// retried, the action is sent anew rather than following the canceled
// task.
func TestA2AWorkCanceledWhenDeadLettered(t *testing.T) {
	ha := &holdingAgent{}
	cfg := fast()
	cfg.Timeout, cfg.MaxAttempts = 150*time.Millisecond, 2
	r, p := newA2ARig(t, ha, "Slow", a2a.Config{PollInterval: 5 * time.Millisecond, MaxPollInterval: 20 * time.Millisecond}, cfg)
	st, ctx := r.st, context.Background()
	a := r.action("slow", "inventory_management", 1)
	r.start()
	defer r.stop()
	waitFor(t, "the dead letter", func() bool { return r.d.Metrics().DeadLetters == 1 })
	dls, err := r.d.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dl := dls[0]
	if dl.ActionID != a.ID || dl.Reason != dispatch.ReasonMaxAttempts || dl.Attempts != 2 {
		t.Fatalf("dead letter %+v", dl)
	}
	if len(dl.Tasks) != 1 || dl.Tasks[0].Task == "" || dl.Tasks[0].Agent != p.ID || dl.Tasks[0].CancelError != "" {
		t.Fatalf("dead letter names tasks %+v; want one at %s, canceled", dl.Tasks, p.ID)
	}
	if n := ha.cancels.Load(); n != 1 {
		t.Fatalf("the agent was asked to cancel %d times, want 1", n)
	}
	if n := ha.messages.Load(); n != 1 {
		t.Fatalf("the agent got %d messages; the second attempt should have followed the task", n)
	}
	if m := r.d.Metrics(); m.TasksCanceled != 1 || m.TaskCancelErrors != 0 {
		t.Fatalf("tasks canceled %d, cancel errors %d", m.TasksCanceled, m.TaskCancelErrors)
	}

	if err := r.d.Retry(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retried action's delivery", func() bool { return r.d.Metrics().Delivered == 1 })
	if n := ha.messages.Load(); n != 2 {
		t.Fatalf("the agent got %d messages; the retry must send the action anew", n)
	}
	if evs := records(t, st, a.CorrelationID, "do_inventory_management.completed"); len(evs) != 1 {
		t.Fatalf("%d completed events after the retry", len(evs))
	}
}
