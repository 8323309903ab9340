package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(sa)))
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&sdk.AgentCard{
		Name: "Stock", URL: srv.URL + "/rpc", Skills: []sdk.AgentSkill{{ID: "inventory_management", Name: "Reserve stock"}},
	}))

	st := mem.New(store.Options{})
	defer st.Close()
	ctx := context.Background()
	reg, err := agent.Open(ctx, st, agent.Config{Resolver: a2a.ResolveCard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.RegisterCard(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	tr, err := a2a.New(a2a.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	r := &rig{t: t, st: st, reg: reg}
	r.d, err = dispatch.New(st, reg, map[string]dispatch.Transport{agent.ProtocolA2A: tr}, fast())
	if err != nil {
		t.Fatal(err)
	}
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
